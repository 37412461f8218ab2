//! An upstream's log messages reach the client call they belong to under
//! concurrency: `tests/servers/chatty.py` (official Python SDK) over
//! Streamable HTTP (reached in either era) sends log messages on each call's
//! response stream; two
//! sessions (the Rust SDK client) calling it at once, many times, each hear
//! exactly their own calls' messages, none of the other's and none lost.

#![expect(
    deprecated,
    reason = "logging (deprecated by SEP-2577) is what this test relays"
)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient};
use support::peers::python_server;
use support::*;

/// The log messages a client hears, by their text.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<String>>>);

impl rmcp::ClientHandler for Heard {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let text = params
            .data
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| params.data.to_string());
        self.0.lock().unwrap().push(text);
    }
}

const CALLS: usize = 10;
const MESSAGES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_reach_their_own_call_with_a_session_upstream() {
    log_messages_reach_their_own_call_under_concurrency("legacy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_reach_their_own_call_with_a_stateless_upstream() {
    log_messages_reach_their_own_call_under_concurrency("modern").await;
}

/// `protocol` is the era the gateway speaks to the upstream.
async fn log_messages_reach_their_own_call_under_concurrency(protocol: &str) {
    let (_upstream, port) = python_server(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/chatty.py"),
        &[],
    )
    .await;
    let gw = TestGateway::start(&format!(
        "{HEAD}\nservers:\n  - {{name: chatter, transport: streamable-http, url: \"http://127.0.0.1:{port}/mcp\", protocol: {protocol}}}\n"
    ))
    .await;
    let mut clients = Vec::new();
    for tag in ["left", "right"] {
        let heard = Heard::default();
        let client = heard
            .clone()
            .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
                gw.mcp(),
            ))
            .await
            .unwrap();
        client
            .peer()
            .set_level(SetLevelRequestParams::new(LoggingLevel::Info))
            .await
            .unwrap();
        clients.push((tag, heard, client));
    }
    let calls = clients.iter().map(|(tag, _, client)| async move {
        for call in 0..CALLS {
            let result = client
                .peer()
                .call_tool(
                    CallToolRequestParams::new("chatter_chatty").with_arguments(args(
                        serde_json::json!({"tag": format!("{tag}-{call}"), "count": MESSAGES}),
                    )),
                )
                .await
                .unwrap();
            assert_eq!(first_text(&result), format!("{tag}-{call}"));
        }
    });
    futures::future::join_all(calls).await;
    for (tag, heard, _) in &clients {
        let expected: Vec<String> = (0..CALLS)
            .flat_map(|call| (0..MESSAGES).map(move |i| format!("{tag}-{call} {i}")))
            .collect();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while heard.0.lock().unwrap().len() < expected.len() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let mut got = heard.0.lock().unwrap().clone();
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{tag} heard other messages or lost some");
    }
}

/// Log messages a server sends outside any call (`server-everything`'s
/// simulated logging, on its standalone stream, every 5 s at a random level)
/// reach every session client of the gateway, also one that never called
/// anything, each at the level it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_outside_calls_reach_every_session_at_its_level() {
    let (_upstream, port) = support::peers::everything_over_http("streamableHttp").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}\nservers:\n  - {{name: everything, transport: streamable-http, url: \"http://127.0.0.1:{port}/mcp\"}}\n"
    ))
    .await;
    let mut clients = Vec::new();
    for level in [
        LoggingLevel::Debug,
        LoggingLevel::Debug,
        LoggingLevel::Error,
    ] {
        let heard = Heard::default();
        let client = heard
            .clone()
            .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
                gw.mcp(),
            ))
            .await
            .unwrap();
        client
            .peer()
            .set_level(SetLevelRequestParams::new(level))
            .await
            .unwrap();
        clients.push((heard, client));
    }
    let toggle = || {
        clients[0].1.peer().call_tool(CallToolRequestParams::new(
            "everything_toggle-simulated-logging",
        ))
    };
    toggle().await.unwrap();
    let (caller, bystander, picky) = (&clients[0].0, &clients[1].0, &clients[2].0);
    eventually(
        "both debug-level sessions hear two messages outside any call",
        Duration::from_secs(30),
        || caller.0.lock().unwrap().len() >= 2 && bystander.0.lock().unwrap().len() >= 2,
    )
    .await;
    toggle().await.unwrap();
    let severe = ["Error", "Critical", "Alert", "Emergency"];
    for text in picky.0.lock().unwrap().iter() {
        assert!(
            severe.iter().any(|s| text.starts_with(s)),
            "an error-level session heard {text}"
        );
    }
}
