//! The gateway as someone trying it by hand meets it, with the clients they
//! use: the real `curl` (its default `Accept: */*`, a request without a
//! session, odd ids, a made-up `Last-Event-ID`) and the official Python SDK
//! (ending a session without "Session termination failed").

mod support;

use std::process::Command;

use hangar_testenv::tools::{Tool, locate};
use support::{HEAD, TestGateway};

const RESOURCE: &str = "resources:\n  - {uri: \"docs://readme\", name: readme, mimeType: text/markdown, text: \"# Readme\"}\n";

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"8"}}}"#;

/// Runs curl with `args`; returns the response head and body (`-i`).
fn curl(args: &[&str]) -> (u16, String, String) {
    let output = Command::new("curl")
        .args(["-s", "-i", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): install it, e.g. apt-get install curl"));
    let text = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

fn post(url: &str, extra: &[&str], body: &str) -> (u16, String, String) {
    let mut args = vec!["-X", "POST", url, "-H", "content-type: application/json"];
    args.extend(extra);
    args.extend(["-d", body]);
    curl(&args)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A session begun with curl's default Accept, ready for requests.
fn session(url: &str) -> String {
    let (status, head, body) = post(url, &[], INITIALIZE);
    assert_eq!(status, 200, "initialize with Accept: */*: {head}{body}");
    assert_eq!(json(&body)["result"]["protocolVersion"], "2025-11-25");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .expect("a session id")
        .trim()
        .to_string();
    let session = format!("mcp-session-id: {id}");
    let (status, _, _) = post(
        url,
        &["-H", &session, "-H", "mcp-protocol-version: 2025-11-25"],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_gets_json_answers_that_say_what_to_send() {
    let gateway = TestGateway::start(&format!("{HEAD}{RESOURCE}")).await;
    let url = gateway.mcp();
    let url = url.as_str();
    tokio::task::spawn_blocking({
        let url = url.to_string();
        move || {
            let url = url.as_str();
            let id = session(url);
            let session = format!("mcp-session-id: {id}");
            let in_session = [
                "-H",
                session.as_str(),
                "-H",
                "mcp-protocol-version: 2025-11-25",
            ];
            let (status, _, body) = post(
                url,
                &in_session,
                r#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#,
            );
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                json(&body)["result"]["resources"][0]["uri"],
                "docs://readme"
            );

            // Neither a session nor a protocol version.
            let (status, _, body) = post(
                url,
                &[],
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
            );
            assert_eq!(status, 400);
            let error = json(&body);
            assert_eq!(error["id"], 7);
            assert_eq!(error["error"]["code"], -32600);
            let message = error["error"]["message"].as_str().unwrap();
            for needed in [
                "initialize",
                "Mcp-Session-Id",
                "MCP-Protocol-Version: 2026-07-28",
                "Mcp-Method",
            ] {
                assert!(message.contains(needed), "{needed:?} in {message}");
            }

            // Ids MCP does not allow, named precisely.
            for (id, shown) in [
                ("18446744073709551616", "1.8446744073709552e+19"),
                ("-1.5", "-1.5"),
            ] {
                let (status, _, body) = post(
                    url,
                    &in_session,
                    &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#),
                );
                assert_eq!(status, 400, "{body}");
                let error = json(&body);
                assert_eq!(error["error"]["code"], -32600, "{body}");
                let message = error["error"]["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("the id {shown} is not one MCP allows")),
                    "{message}"
                );
            }

            // A Last-Event-ID this gateway never issued.
            let (status, _, body) = curl(&[
                url,
                "-H",
                &session,
                "-H",
                "mcp-protocol-version: 2025-11-25",
                "-H",
                "last-event-id: garbage",
            ]);
            assert_eq!(status, 400, "{body}");
            assert!(
                body.contains("\"garbage\" is not an event id this gateway issued"),
                "{body}"
            );

            // Ending the session.
            let (status, _, _) = curl(&[
                "-X",
                "DELETE",
                url,
                "-H",
                &session,
                "-H",
                "mcp-protocol-version: 2025-11-25",
            ]);
            assert_eq!(status, 200);
            let (status, _, _) = post(
                url,
                &in_session,
                r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#,
            );
            assert_eq!(status, 404, "the session is gone");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_ends_its_session_without_a_warning() {
    let gateway = TestGateway::start(&format!("{HEAD}{RESOURCE}")).await;
    let script = r#"
import json, logging, sys
import anyio
from mcp import Client

warnings = []
class Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())
logging.getLogger().addHandler(Keep())

async def main():
    # A session (initialize), which the client ends with DELETE on leaving.
    async with Client(sys.argv[1], mode="legacy") as client:
        listed = await client.list_resources()
    print(json.dumps({"uris": [str(r.uri) for r in listed.resources], "warnings": warnings}))

anyio.run(main)
"#;
    let output = tokio::process::Command::new(locate(Tool::Python))
        .args(["-c", script, &gateway.mcp()])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = json(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(result["uris"], serde_json::json!(["docs://readme"]));
    assert_eq!(result["warnings"], serde_json::json!([]), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_that_writes_non_json_to_stdout_is_told_so() {
    // A real program that prints a banner to stdout and never speaks MCP.
    let gateway = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: banner, transport: stdio, command: sh, args: [-c, \"echo 'Weather server listening on stdio'; sleep 600\"], connectTimeout: 2s}}\n"
    ))
    .await;
    let (ready, detail) = gateway.gateway.readiness();
    assert!(ready, "a down server does not make the gateway unready");
    let error = detail["servers"]["banner"]["error"].as_str().unwrap();
    assert!(
        error.contains("no answer within the connect timeout of 2s")
            && error.contains(
                "it wrote to stdout what is not JSON-RPC: \"Weather server listening on stdio\""
            ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_bearer_tokens_the_gateway_is_not_ready_and_says_why() {
    let config = format!("{HEAD}{RESOURCE}auth: {{bearerTokens: {{valueFromEnv: EDGE_TOKENS}}}}\n");
    let missing =
        TestGateway::start_in(&config, hangar_config::Environment::fixed([("OTHER", "x")])).await;
    let (ready, detail) = missing.gateway.readiness();
    assert!(!ready);
    assert_eq!(
        detail["problems"],
        serde_json::json!([
            "auth.bearerTokens: environment variable EDGE_TOKENS is not set, so every call is refused"
        ])
    );
    let present = TestGateway::start_in(
        &config,
        hangar_config::Environment::fixed([("EDGE_TOKENS", "t")]),
    )
    .await;
    let (ready, detail) = present.gateway.readiness();
    assert!(ready, "{detail}");
}
