//! `hangar bridge` opens its port only once its stdio child has answered
//! `initialize`: the first connection it accepts already gets the child's
//! identity and tools. (In a pod, the TCP probes and so the Service would
//! otherwise route clients to a bridge that answers as itself, with no tools:
//! the test node showed it during rolling updates.) On SIGTERM it refuses new
//! connections, answers the calls in flight, and only then stops its child
//! (a rolling update on the test node lost the call running on the old pod).

mod python_client;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use hangar_testenv::tools::{Tool, locate};
use python_client::Session;
use serde_json::json;
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `hangar bridge` on `port` in front of the e2e image's Python SDK server.
fn bridge(port: u16, startup_delay: &str) -> Child {
    let server = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/images/python/server.py"
    );
    Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["bridge", "--listen", &format!("127.0.0.1:{port}"), "--"])
        .arg(locate(Tool::Python))
        .args([server, "stdio"])
        .env("STARTUP_DELAY", startup_delay)
        .env("SERVER_NAME", "child")
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting hangar bridge")
}

/// Whether a TCP connection to `port` is accepted.
async fn accepts(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_listens_only_once_its_child_answered() {
    let port = free_port();
    // A slow start, as a Python server importing its SDK in a busy pod.
    let mut bridge = bridge(port, "3");

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

/// The processes whose parent is `pid` (spawned by any of its threads).
fn children_of(pid: u32) -> Vec<u32> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the bridge's threads");
    threads
        .flatten()
        .filter_map(|thread| std::fs::read_to_string(thread.path().join("children")).ok())
        .flat_map(|children| {
            children
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether `pid` runs (exists and is not a zombie).
fn runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_the_bridge_answers_the_call_in_flight_refuses_new_ones_then_stops_its_child() {
    let port = free_port();
    let mut bridge = bridge(port, "0");
    let pid = bridge.id().expect("the bridge's pid");
    hangar_testenv::eventually("the bridge to listen", || async {
        accepts(port).await.then_some(())
    })
    .await;
    let child = children_of(pid);
    assert_eq!(child.len(), 1, "one stdio child: {child:?}");
    let mut session = Session::open(&format!("http://127.0.0.1:{port}/mcp")).await;
    // A first call, so the client knows the tools and the slow call is one POST.
    let answer = session
        .ask(json!({"op": "call_tool", "name": "whoami", "arguments": {}}))
        .await;
    assert_eq!(answer["text"], "child", "{answer}");
    session
        .send(json!({"op": "call_tool", "name": "slow", "arguments": {"seconds": 6}}))
        .await;
    // Time for the call to reach the child.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // SAFETY: kill(2) with a pid this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);

    // New connections are refused while the call still runs: neither
    // accepted and left waiting, nor served by a bridge that is stopping.
    hangar_testenv::eventually("the bridge to refuse new connections", || async {
        (!accepts(port).await).then_some(())
    })
    .await;
    assert!(
        bridge.try_wait().expect("polling the bridge").is_none(),
        "the bridge exited before answering the call in flight"
    );
    assert!(
        runs(child[0]),
        "the child was stopped with a call in flight"
    );
    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect_err("a request after SIGTERM");
    assert!(refused.is_connect(), "not refused cleanly: {refused}");

    let answer = session.answer().await;
    assert_eq!(
        (answer["isError"].clone(), answer["text"].clone()),
        (json!(false), json!("child")),
        "the call in flight at SIGTERM: {answer}"
    );
    let status = tokio::time::timeout(Duration::from_secs(60), bridge.wait())
        .await
        .expect("the bridge exits after its drain")
        .expect("waiting for the bridge");
    assert!(status.success(), "the bridge exited with {status}");
    hangar_testenv::eventually("the stdio child to be gone", || async {
        (!runs(child[0])).then_some(())
    })
    .await;
}
