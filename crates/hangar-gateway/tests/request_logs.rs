//! A failed MCP request is logged under its HTTP request's id and its MCP
//! method, whichever path served it: the lean path within the HTTP
//! request's span, rmcp's session worker in a span of its own.
//!
//! A test binary of its own: it installs the process's log subscriber.

mod support;

use hangar_testenv::logs::CapturedLogs;
use serde_json::{Value, json};
use support::*;

/// The `request failed` lines logged under `request_id`.
fn failures_of(logs: &CapturedLogs, request_id: &str) -> Vec<Value> {
    logs.text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "request failed")
        .filter(|line| line["span"]["request_id"] == request_id)
        .collect()
}

/// Exactly one `request failed` line for `request_id`, under a span `span`,
/// naming the MCP method.
fn assert_one_failure(logs: &CapturedLogs, request_id: &str, span: &str) {
    let failures = failures_of(logs, request_id);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["span"]["name"], span, "{failures:?}");
    assert_eq!(failures[0]["mcp_method"], "tools/call", "{failures:?}");
}

/// One exchange with `/mcp`: (status, body).
async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, String) {
    let mut request = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_logged_under_their_request_id_and_method() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n",
        backend.url("/echo")
    ))
    .await;
    let http = reqwest::Client::new();
    let unknown = |id: u64, meta: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "nowhere", "arguments": {}, "_meta": meta}})
    };

    // Stateless: the lean path, within the HTTP request's span.
    let (status, answer) = post(
        &http,
        &gw.mcp(),
        &[
            ("X-Request-Id", "stateless-1"),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "nowhere"),
        ],
        unknown(
            1,
            json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("-32602"), "{answer}");
    assert_one_failure(&logs, "stateless-1", "http");

    // A session's request the lean path answers (the session began at
    // rest and the call needs no worker): within the HTTP request's span.
    let response = http
        .post(gw.mcp())
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let in_session = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    let (status, _) = post(
        &http,
        &gw.mcp(),
        &in_session,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    let mut headers = in_session.to_vec();
    headers.push(("X-Request-Id", "session-1"));
    let (status, answer) = post(&http, &gw.mcp(), &headers, unknown(2, json!({}))).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("-32602"), "{answer}");
    assert_one_failure(&logs, "session-1", "http");

    // One rmcp's restored worker serves (a progress token needs it): in a
    // span of its own.
    headers.pop();
    headers.push(("X-Request-Id", "session-2"));
    let (status, answer) = post(
        &http,
        &gw.mcp(),
        &headers,
        unknown(3, json!({"progressToken": "p"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("-32602"), "{answer}");
    assert_one_failure(&logs, "session-2", "mcp");
}
