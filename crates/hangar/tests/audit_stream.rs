//! The real `hangar gateway` binary writes audit records as JSON lines on
//! standard output, one per call, and its logs on standard error, so a log
//! collector can route them apart; the calls come from the official Python
//! SDK client in a session.

use std::process::Stdio;
use std::time::Duration;

mod python_client;

use python_client::Session;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn audit_records_go_to_stdout_and_logs_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        r##"apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
gateway: {name: streamed}
audit: {}
prompts:
  - {name: greet, arguments: [{name: who, required: true}], messages: [{text: "Hello {{who}}"}]}
resources:
  - {uri: "docs://readme", name: readme, mimeType: text/markdown, text: "# Readme"}
"##,
    )
    .unwrap();
    let port = hangar_testenv::redis::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["gateway", "--config"])
        .arg(&config)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("HANGAR_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });
    hangar_testenv::eventually("the gateway to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;

    let mut session = Session::open(&format!("http://127.0.0.1:{port}/mcp")).await;
    let read = session
        .ask(json!({"op": "read_resource", "uri": "docs://readme"}))
        .await;
    assert_eq!(read["text"], "# Readme");
    let prompt = session
        .ask(json!({"op": "get_prompt", "name": "greet", "arguments": {"who": "Ada"}}))
        .await;
    assert_eq!(prompt["messages"][0]["text"], "Hello Ada");

    let mut records = Vec::new();
    for _ in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(10), stdout.next_line())
            .await
            .expect("an audit record on stdout")
            .unwrap()
            .expect("stdout open");
        records
            .push(serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    drop(session);
    child.kill().await.unwrap();
    let logs = logs.await.unwrap();
    // Nothing else was written to stdout.
    assert_eq!(stdout.next_line().await.unwrap(), None);

    for (record, (method, name)) in records.iter().zip([
        ("resources/read", "docs://readme"),
        ("prompts/get", "greet"),
    ]) {
        assert_eq!(record["target"], "hangar::audit", "{record}");
        assert_eq!(record["gateway"], "streamed", "{record}");
        assert_eq!(record["method"], method, "{record}");
        assert_eq!(record["name"], name, "{record}");
        assert_eq!(record["outcome"], "ok", "{record}");
        assert!(record["subject"].is_null(), "no auth, no subject: {record}");
        assert!(
            record["sessionId"].as_str().is_some_and(|s| !s.is_empty()),
            "{record}"
        );
    }
    assert!(records[1].get("arguments").is_none());
    assert!(!records[1].to_string().contains("Ada"));
    assert!(
        logs.iter().any(|l| l.contains("config applied")),
        "the logs went to stderr: {logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains("hangar::audit")),
        "no audit record among the logs: {logs:#?}"
    );
}
