//! One session of the official Python SDK client (`tests/clients/session.py`),
//! driven line by line, for the tests that serve MCP to a real client.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// One session of the official Python SDK client (`tests/clients/session.py`).
pub struct Session {
    _child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Session {
    pub async fn open(url: &str) -> Self {
        let mut child = Command::new(hangar_testenv::tools::locate(
            hangar_testenv::tools::Tool::Python,
        ))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/session.py"
        ))
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Python client");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut session = Session {
            _child: child,
            stdin,
            stdout,
        };
        assert_eq!(session.answer().await, json!({"ready": true}));
        session
    }

    pub async fn send(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    pub async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(180), self.stdout.next_line())
            .await
            .expect("the Python client answers")
            .unwrap()
            .expect("the Python client is running");
        serde_json::from_str(&line).unwrap()
    }

    pub async fn ask(&mut self, command: Value) -> Value {
        self.send(command).await;
        let answer = self.answer().await;
        assert!(answer.get("error").is_none(), "{answer}");
        answer
    }

    pub async fn tool_names(&mut self) -> Vec<String> {
        let answer = self.ask(json!({"op": "list_tools"})).await;
        let mut names: Vec<String> = serde_json::from_value(answer["names"].clone()).unwrap();
        names.sort();
        names
    }
}
