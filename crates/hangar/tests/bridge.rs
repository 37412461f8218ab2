//! `hangar bridge` opens its port only once its stdio child has answered
//! `initialize`: the first connection it accepts already gets the child's
//! identity and tools. (In a pod, the TCP probes and so the Service would
//! otherwise route clients to a bridge that answers as itself, with no tools:
//! the test node showed it during rolling updates.)

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use hangar_testenv::tools::{Tool, locate};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_listens_only_once_its_child_answered() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/images/python/server.py"
    );
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
        .arg(locate(Tool::Python))
        .args([server, "stdio"])
        // A slow start, as a Python server importing its SDK in a busy pod.
        .env("STARTUP_DELAY", "3")
        .env("SERVER_NAME", "child")
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting hangar bridge");

    let http = reqwest::Client::new();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}},
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let body = loop {
        assert!(
            bridge.try_wait().expect("polling the bridge").is_none(),
            "the bridge exited"
        );
        // The first request the port accepts is the one that must be right.
        match http
            .post(format!("http://127.0.0.1:{port}/mcp"))
            .header("Accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
        {
            Ok(response) => break response.text().await.expect("the answer's body"),
            Err(error) if error.is_connect() => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the bridge never listened"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("initialize failed: {error}"),
        }
    };
    assert!(
        body.contains(r#""name":"e2e-python""#),
        "the first initialize answered as the bridge, not its child: {body}"
    );
}
