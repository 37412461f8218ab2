//! The hot path's behaviour that speed depends on, checked as behaviour (no
//! timing): sockets without Nagle's delay, plain JSON answers for calls with
//! one immediate result, duplicate request ids answered at once, and calls
//! whose arguments belong in headers left to rmcp's checks.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use support::*;

/// TCP sockets this process holds: (local, peer, TCP_NODELAY).
fn own_tcp_sockets() -> Vec<(SocketAddr, SocketAddr, bool)> {
    let mut sockets = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is open (listed just now) and only borrowed
        // for the calls below, which neither close nor keep it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let (Ok(local), Ok(peer), Ok(no_delay)) = (
            socket.local_addr(),
            socket.peer_addr(),
            socket.tcp_nodelay(),
        ) else {
            continue;
        };
        if let (Some(local), Some(peer)) = (local.as_socket(), peer.as_socket()) {
            sockets.push((local, peer, no_delay));
        }
    }
    sockets
}

const ECHO_CALL: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_and_backend_sockets_send_without_delay() {
    let backend = backend().await;
    let (gateway, addr, cancel) = served_gateway(&format!(
        "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n",
        backend.url("/echo")
    ))
    .await;
    // One call on a kept-alive connection, which stays open while we look.
    let client = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
             Mcp-Method: tools/call\r\nMcp-Name: echo\r\nContent-Length: {}\r\n\r\n{ECHO_CALL}",
            ECHO_CALL.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("\"received\"") {
            let n = stream.read(&mut buffer).unwrap();
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buffer[..n]);
        }
        stream
    })
    .await
    .unwrap();
    let client_port = client.local_addr().unwrap().port();
    let sockets = own_tcp_sockets();
    let accepted: Vec<_> = sockets
        .iter()
        .filter(|(local, peer, _)| local.port() == addr.port() && peer.port() == client_port)
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "the accepted connection among {sockets:?}"
    );
    assert!(
        accepted[0].2,
        "TCP_NODELAY is off on the accepted connection"
    );
    let to_backend: Vec<_> = sockets
        .iter()
        .filter(|(_, peer, _)| peer.port() == backend.addr.port())
        .collect();
    assert!(
        !to_backend.is_empty(),
        "no kept-alive backend connection among {sockets:?}"
    );
    assert!(
        to_backend.iter().all(|(_, _, no_delay)| *no_delay),
        "TCP_NODELAY is off on a backend connection: {to_backend:?}"
    );
    drop(client);
    cancel.cancel();
    gateway.shutdown();
}

/// One HTTP exchange with `/mcp`: (status, content type, body, session id).
async fn post(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
    session: Option<&str>,
    body: serde_json::Value,
) -> (u16, String, String, Option<String>) {
    let mut request = http
        .post(url)
        .header("Accept", accept)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("Mcp-Session-Id", session)
            .header("MCP-Protocol-Version", "2025-11-25");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let session = header("mcp-session-id");
    (
        status,
        content_type,
        response.text().await.unwrap(),
        session,
    )
}

/// Begins a session the way a client accepting `accept` does.
async fn begin(http: &reqwest::Client, url: &str, accept: &str) -> String {
    let (status, content_type, body, session) = post(
        http,
        url,
        accept,
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}: {body}"
    );
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25", "{body}");
    let session = session.expect("initialize names the session");
    let (status, _, body, _) = post(
        http,
        url,
        accept,
        Some(&session),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    session
}

fn call(id: u64, tool: &str) -> serde_json::Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": "hi"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_calls_with_one_immediate_result_are_plain_json() {
    let backend = backend().await;
    let (fixture, _) = fixture("fixture").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\nservers:\n  - {{name: fixture, transport: streamable-http, url: \"{}\"}}\n",
        backend.url("/echo"),
        fixture.url("/mcp"),
    ))
    .await;
    let http = reqwest::Client::new();
    for accept in ["application/json", "application/json, text/event-stream"] {
        let session = begin(&http, &gw.mcp(), accept).await;
        let (status, content_type, body, _) =
            post(&http, &gw.mcp(), accept, Some(&session), call(1, "echo")).await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{accept}: {content_type}"
        );
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["id"], 1, "{body}");
        assert_eq!(
            answer["result"]["structuredContent"]["received"]["text"], "hi",
            "{body}"
        );

        // Progress comes before this tool's result: SSE for a client that
        // takes it, only the result for one that takes only JSON.
        let mut with_progress = call(2, "fixture_test_tool_with_progress");
        with_progress["params"]["_meta"] = serde_json::json!({"progressToken": "p1"});
        let (status, content_type, body, _) =
            post(&http, &gw.mcp(), accept, Some(&session), with_progress).await;
        assert_eq!(status, 200, "{accept}: {body}");
        if accept.contains("event-stream") {
            assert!(
                content_type.starts_with("text/event-stream"),
                "{content_type}"
            );
            let progress = body.find("notifications/progress").expect("the progress");
            let result = body.find("\"result\"").expect("the result");
            assert!(progress < result, "{body}");
        } else {
            assert!(
                content_type.starts_with("application/json"),
                "{content_type}"
            );
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(answer["id"], 2, "{body}");
            assert!(answer["result"]["content"].is_array(), "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_calls_answer_clients_that_accept_only_json() {
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n",
        backend.url("/echo")
    ))
    .await;
    let response = reqwest::Client::new()
        .post(gw.mcp())
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "echo")
        .body(ECHO_CALL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["received"]["text"], "hi",
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_request_id_in_flight_is_refused_at_once() {
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: slow, backend: {{url: \"{}\", timeout: 3s}}}}\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n",
        backend.url("/hang"),
        backend.url("/echo"),
    ))
    .await;
    let http = reqwest::Client::new();
    let accept = "application/json, text/event-stream";
    let session = begin(&http, &gw.mcp(), accept).await;
    let first = {
        let (http, url, session) = (http.clone(), gw.mcp(), session.clone());
        tokio::spawn(
            async move { post(&http, &url, accept, Some(&session), call(9, "slow")).await },
        )
    };
    // The duplicate is answered while the first call still waits for its
    // backend (which never answers; the call ends at its 3 s timeout).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body, _) =
        post(&http, &gw.mcp(), accept, Some(&session), call(9, "echo")).await;
    assert_eq!(status, 200, "{body}");
    let refused: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        !first.is_finished(),
        "the slow call should still be running"
    );
    assert_eq!(refused["id"], 9, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in flight"),
        "{refused}"
    );
    // Other ids go through meanwhile, and the first call gets its own answer.
    let (_, _, body, _) = post(&http, &gw.mcp(), accept, Some(&session), call(10, "echo")).await;
    assert!(body.contains("\"received\""), "{body}");
    let (status, _, body, _) = tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("the first call is answered")
        .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("did not answer within 3s"), "{body}");
    // Once answered, its id is free again.
    let (_, _, body, _) = post(&http, &gw.mcp(), accept, Some(&session), call(9, "echo")).await;
    assert!(body.contains("\"received\""), "{body}");
}

/// A tool whose arguments go in `Mcp-Param-*` headers is not the lean
/// path's to serve: rmcp checks the headers against the arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_arguments_belong_in_headers_has_them_checked() {
    let (fixture, _) = fixture("fixture").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: fixture, transport: streamable-http, url: \"{}\"}}\n",
        fixture.url("/mcp"),
    ))
    .await;
    let call = |headers: &[(&str, &str)]| {
        let mut request = reqwest::Client::new()
            .post(gw.mcp())
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "fixture_test_header_param")
            .body(
                serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                    "name": "fixture_test_header_param", "arguments": {"region": "eu-west"},
                    "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {}}}})
                .to_string(),
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let refused = call(&[]).await.unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32020, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Mcp-Param-Region")),
        "{body}"
    );
    let answered = call(&[("Mcp-Param-Region", "eu-west")]).await.unwrap();
    assert_eq!(answered.status(), 200);
    let body: serde_json::Value = answered.json().await.unwrap();
    assert!(body["result"].is_object(), "{body}");
}
