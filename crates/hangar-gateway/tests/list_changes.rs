//! A list change an upstream announces while serving a call reaches the
//! gateway's clients: `tests/servers/growing.py` (official Python SDK) adds a
//! tool when `grow` is called and says so; a 2026-07-28 client listening on
//! `subscriptions/listen` and a 2025-11-25 session (the Rust SDK client) both
//! hear `tools/list_changed`, and the new tool is listed and callable.

mod support;

use std::time::Duration;

use hangar_testenv::tools::{Tool, locate};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, SubscriptionFilter};
use support::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/growing.py");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio() {
    let server = format!(
        "{{name: growing, transport: stdio, command: \"{}\", args: [\"{SCRIPT}\"]}}",
        locate(Tool::Python).display()
    );
    a_list_change_a_call_causes_reaches_listeners_and_sessions(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_streamable_http() {
    let (_upstream, port) = support::peers::python_server(SCRIPT, &[]).await;
    let server = format!(
        "{{name: growing, transport: streamable-http, url: \"http://127.0.0.1:{port}/mcp\"}}"
    );
    a_list_change_a_call_causes_reaches_listeners_and_sessions(&server).await;
}

async fn a_list_change_a_call_causes_reaches_listeners_and_sessions(server: &str) {
    let gw = TestGateway::start(&format!("{HEAD}\nservers:\n  - {server}\n")).await;
    let recorder = Recorder::default();
    let session = recorder
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            gw.mcp(),
        ))
        .await
        .unwrap();
    let stateless = stateless_client(&gw.mcp()).await;
    let mut subscription = stateless
        .peer()
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("subscriptions/listen through the gateway");

    let grown = stateless
        .peer()
        .call_tool(
            CallToolRequestParams::new("growing_grow").with_arguments(
                serde_json::json!({"name": "fresh"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .expect("grow");
    assert_ne!(grown.is_error, Some(true), "{grown:?}");

    let notification = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("tools/list_changed on the listen stream within 10 s")
        .unwrap()
        .expect("the stream is open");
    assert!(
        format!("{notification:?}").contains("ToolListChanged"),
        "{notification:?}"
    );
    let seen = recorder.0.clone();
    eventually(
        "the session to hear tools/list_changed",
        Duration::from_secs(10),
        || seen.lock().unwrap().contains(&"tools"),
    )
    .await;
    for client in [session.peer(), stateless.peer()] {
        let tools = client.list_all_tools().await.unwrap();
        assert!(
            tools.iter().any(|t| t.name == "growing_fresh"),
            "{:?}",
            tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
        let fresh = client
            .call_tool(CallToolRequestParams::new("growing_fresh"))
            .await
            .unwrap();
        assert_eq!(fresh.is_error, Some(false), "{fresh:?}");
    }
}
