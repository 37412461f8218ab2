//! Sessions of their own with a server for session-based clients
//! (`clientSessions`), against `@modelcontextprotocol/server-everything`
//! over stdio (npm; we did not write it), where one stream carries
//! everything: without a session of its own per client, a sampling request
//! the server sends while several clients' calls are in flight belongs to
//! no call the gateway can tell, and is refused. `tests/fidelity.rs` checks
//! the rest (roots, per-session state) feature by feature.

// Logging is deprecated by SEP-2577 but remains part of the session-based
// revisions this gateway serves and forwards.
#![expect(deprecated)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use hangar_testenv::tools::{Tool, locate, node_bin};
use serde_json::{Value, json};
use support::peers::{client_script, everything_js, run_client_with};
use support::*;

fn gateway_config(client_sessions: u32) -> String {
    format!(
        "{HEAD}naming: {{prefix: false}}\nservers:\n  - {{name: everything, transport: stdio, command: \"{}\", args: [\"{}\", stdio], clientSessions: {client_sessions}}}\n",
        node_bin("node").display(),
        everything_js().display()
    )
}

/// How many clients have a session of their own with the server now.
fn client_sessions(gw: &TestGateway) -> Value {
    gw.gateway.readiness().1["servers"]["everything"]["clientSessions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_python_sdk_clients_each_answer_the_sampling_of_their_own_call() {
    let gw = TestGateway::start(&gateway_config(4)).await;
    let url = gw.mcp();
    let python = locate(Tool::Python);
    let script = client_script("python_client.py");
    let clients = (0..4).map(|i| {
        let (python, script, url) = (python.clone(), script.clone(), url.clone());
        async move {
            let reply = format!("reply from client {i}");
            let plan = json!([{
                "op": "call_tool",
                "name": "trigger-sampling-request",
                "arguments": {"prompt": format!("question of client {i}"), "maxTokens": 20},
            }]);
            // Each answer waits, so that the four calls are in flight together.
            let environment = [
                ("SAMPLING_REPLY", reply.as_str()),
                ("SAMPLING_DELAY_MS", "3000"),
            ];
            let report =
                run_client_with(&python, &script, &url, "legacy", &plan, &environment).await;
            (reply, report)
        }
    });
    for (reply, report) in join_all(clients).await {
        let result = &report["results"][0];
        assert_eq!(result["isError"], false, "{reply}: {report}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains(&reply), "{reply}: {text}");
        for other in (0..4).map(|i| format!("reply from client {i}")) {
            assert!(other == reply || !text.contains(&other), "{reply}: {text}");
        }
    }
    // The clients have gone; their sessions with the server close with theirs.
    eventually(
        "the clients' own sessions to close",
        Duration::from_secs(20),
        || client_sessions(&gw) == json!(0),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_session_has_its_own_until_it_closes_and_past_the_bound_shares() {
    let gw = TestGateway::start(&gateway_config(1)).await;
    let first = session_client(&gw.mcp()).await;
    eventually(
        "the first client's own session",
        Duration::from_secs(20),
        || client_sessions(&gw) == json!(1),
    )
    .await;
    // Past the bound a client shares the gateway's session, and is served.
    let second = session_client(&gw.mcp()).await;
    let echoed = second
        .call_tool(
            rmcp::model::CallToolRequestParams::new("echo")
                .with_arguments(args(json!({"message": "shared"}))),
        )
        .await
        .expect("a call over the gateway's session");
    assert!(first_text(&echoed).contains("shared"), "{echoed:?}");
    assert_eq!(client_sessions(&gw), json!(1));
    first.cancel().await.expect("the first client closes");
    eventually(
        "the first client's own session to close",
        Duration::from_secs(20),
        || client_sessions(&gw) == json!(0),
    )
    .await;
    second.cancel().await.expect("the second client closes");
}

/// A session client that keeps the log messages it hears.
#[derive(Clone, Default)]
struct Listener(Arc<Mutex<Vec<String>>>);

impl rmcp::ClientHandler for Listener {
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.lock().unwrap().push(params.data.to_string());
    }
}

impl Listener {
    async fn connect(url: &str) -> (Self, rmcp::service::RunningService<rmcp::RoleClient, Self>) {
        use rmcp::ServiceExt;
        let listener = Self::default();
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
        let client = listener.clone().serve(transport).await.expect("initialize");
        (listener, client)
    }

    fn heard(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_of_a_clients_own_session_reach_that_client_alone() {
    let gw = TestGateway::start(&gateway_config(2)).await;
    let (a, client_a) = Listener::connect(&gw.mcp()).await;
    let (b, client_b) = Listener::connect(&gw.mcp()).await;
    // server-everything logs every few seconds on the session that asked it to.
    client_a
        .call_tool(rmcp::model::CallToolRequestParams::new(
            "toggle-simulated-logging",
        ))
        .await
        .expect("logging starts");
    eventually(
        "a log message for the client that asked",
        Duration::from_secs(20),
        || {
            a.heard()
                .iter()
                .any(|m| m.contains("-level message") || m.contains("level-message"))
        },
    )
    .await;
    // Another round of the server's interval, for a message to B to show.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        b.heard().is_empty(),
        "the other client heard {:?}",
        b.heard()
    );
    client_a.cancel().await.expect("closes");
    client_b.cancel().await.expect("closes");
}
