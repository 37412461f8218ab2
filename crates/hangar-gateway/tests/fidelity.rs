//! Fidelity: what a client sees of `@modelcontextprotocol/server-everything`
//! (npm; we did not write it) through the gateway, against what it sees
//! talking to the server directly. `tests/clients/fidelity.mjs` drives every
//! feature the server has with the official TypeScript SDK client and prints
//! a transcript; it runs once directly and once through a gateway federating
//! the server (names unprefixed), over Streamable HTTP, the 2024-11-05
//! HTTP+SSE transport and stdio (the same transport directly and between the
//! gateway and the server; the client reaches the gateway over Streamable HTTP), with
//! the client in each era (`legacy`: the initialize handshake; `auto`:
//! `server/discover`, which the gateway answers with 2026-07-28 and the
//! server, a 2025-era one, with the handshake).
//!
//! Every step must match but those in [`DIFFERENCES`], each with the reason;
//! the test fails on an unlisted difference and on a listed step that matches.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use hangar_testenv::tools::node_bin;
use serde_json::Value;
use support::peers::{client_script, everything_js, everything_over_http, node_modules};
use support::*;

/// Steps where the gateway is known to differ, per client era, and why.
const DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "both",
        "lifecycle/server info",
        "the client talks to the gateway, which names itself; it does not relay tasks, so it does not advertise them",
    ),
    (
        "both",
        "lifecycle/instructions",
        "the gateway's instructions are its own (`gateway.instructions` in its config); it does not merge its upstreams' (`hangar bridge`, which serves one server, passes that server's on)",
    ),
    (
        "both",
        "tools/tools/list",
        "the gateway does not relay tasks, so it drops each tool's `execution.taskSupport`",
    ),
    (
        "both",
        "tools/unknown tool",
        "the gateway answers a name nobody lists itself, with the JSON-RPC error -32602 the specification asks for; the server answers with a tool error result",
    ),
    (
        "both",
        "prompts/unknown prompt",
        "the gateway answers a name nobody lists itself: same code, its own message",
    ),
    (
        "both",
        "resources/unknown resource",
        "the gateway answers a URI nobody lists itself: same code, its own message",
    ),
    (
        "auto",
        "roots/get-roots-list",
        "a 2026-07-28 client has no session: the server asks for roots once per session, outside any call, and the gateway's own session with the server has no roots to give",
    ),
    (
        "legacy",
        "list_changed/a tool adds a resource",
        "the server adds the resource to the calling client's session alone: the client hears the server's `list_changed` on its own session, but the gateway lists what its own session with the server has",
    ),
    (
        "auto",
        "logging/simulated log messages",
        "2026-07-28 has no `logging/setLevel` and no channel for log messages outside a call",
    ),
    (
        "both",
        "elicitation/form",
        "the gateway re-serialises the client's answer with the object's keys in sorted order, so the server's echo of it lists them so; JSON object member order carries no meaning",
    ),
    (
        "auto",
        "lifecycle/ping",
        "2026-07-28 has no ping; the SDK client refuses to send one",
    ),
];

/// Fields only the 2026-07-28 wire has, which the gateway adds to results of
/// 2025-era servers for its 2026-07-28 clients (the SDK keeps them).
const MODERN_RESULT_FIELDS: &[&str] = &["resultType", "cacheScope", "ttlMs"];

fn strip_modern_fields(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for field in MODERN_RESULT_FIELDS {
                object.remove(*field);
            }
            object.values_mut().for_each(strip_modern_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_modern_fields),
        _ => {}
    }
}

struct Transcript {
    protocol_version: String,
    steps: BTreeMap<String, Value>,
    order: Vec<String>,
}

/// Runs `fidelity.mjs` against `target` (a URL, or `stdio`) in `mode`.
async fn transcript(target: &str, mode: &str) -> Transcript {
    let child = tokio::process::Command::new(node_bin("node"))
        .arg(client_script("fidelity.mjs"))
        .arg(target)
        .arg(mode)
        .env("NODE_PATH", node_modules())
        .env("EVERYTHING_JS", everything_js())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run fidelity.mjs");
    let output = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("fidelity.mjs {target} {mode} did not finish in 180 s"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "fidelity.mjs {target} {mode} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!("fidelity.mjs {target} {mode} printed no report ({e}):\n{stdout}")
        });
    let mut steps = BTreeMap::new();
    let mut order = Vec::new();
    for entry in report["transcript"].as_array().expect("a transcript") {
        let key = format!(
            "{}/{}",
            entry["feature"].as_str().unwrap(),
            entry["step"].as_str().unwrap()
        );
        let mut entry = entry.clone();
        strip_modern_fields(&mut entry);
        order.push(key.clone());
        steps.insert(key, entry);
    }
    Transcript {
        protocol_version: report["protocolVersion"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        steps,
        order,
    }
}

fn expected_difference(mode: &str, step: &str) -> Option<&'static str> {
    DIFFERENCES
        .iter()
        .find(|(era, name, _)| (*era == "both" || *era == mode) && *name == step)
        .map(|(_, _, reason)| *reason)
}

/// The server behind the gateway, with a session of its own for each
/// session-based client (`clientSessions`), as a client has talking to it directly.
fn gateway_config(server: &str) -> String {
    let server = server.strip_suffix('}').expect("a YAML flow mapping");
    format!("{HEAD}naming: {{prefix: false}}\nservers:\n  - {server}, clientSessions: 2}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_server_everything_through_the_gateway_as_it_does_directly() {
    let (_server, port) = everything_over_http("streamableHttp").await;
    let http_url = format!("http://127.0.0.1:{port}/mcp");
    let (_sse_server, sse_port) = everything_over_http("sse").await;
    let sse_url = format!("http://127.0.0.1:{sse_port}/sse");
    let transports = [
        (
            "sse",
            format!("sse:{sse_url}"),
            format!("{{name: everything, transport: sse, url: \"{sse_url}\"}}"),
        ),
        (
            "streamable-http",
            http_url.clone(),
            format!("{{name: everything, transport: streamable-http, url: \"{http_url}\"}}"),
        ),
        (
            "stdio",
            "stdio".to_string(),
            format!(
                "{{name: everything, transport: stdio, command: \"{}\", args: [\"{}\", stdio]}}",
                node_bin("node").display(),
                everything_js().display()
            ),
        ),
    ];
    let mut table = Vec::new();
    let mut problems = Vec::new();
    for (transport, direct_target, server) in &transports {
        for mode in ["legacy", "auto"] {
            // A fresh gateway per run: its session to the server (and the
            // stdio child) keeps what an earlier run added, as a direct
            // client's new session would not.
            let gw = TestGateway::start(&gateway_config(server)).await;
            let direct = transcript(direct_target, mode).await;
            let through = transcript(&gw.mcp(), mode).await;
            let label = format!("{transport} {mode}");
            assert!(
                direct.protocol_version.as_str() < "2026-07-28",
                "{label}: server-everything is a 2025-era server, yet negotiated {}",
                direct.protocol_version
            );
            let expected_era = if mode == "legacy" {
                direct.protocol_version.as_str()
            } else {
                "2026-07-28"
            };
            assert_eq!(through.protocol_version, expected_era, "{label}");
            assert_eq!(
                direct.order, through.order,
                "{label}: the two runs took different steps"
            );
            assert!(
                direct.order.len() >= 38,
                "{label}: only {} steps ran",
                direct.order.len()
            );
            for step in &direct.order {
                let same = direct.steps[step] == through.steps[step];
                match (same, expected_difference(mode, step)) {
                    (true, None) => table.push(format!("{label:22} {step:45} same")),
                    (false, Some(reason)) => {
                        table.push(format!("{label:22} {step:45} different: {reason}"))
                    }
                    (true, Some(_)) => problems.push(format!(
                        "{label}: {step} is listed in DIFFERENCES but is the same now; remove it"
                    )),
                    (false, None) => problems.push(format!(
                        "{label}: {step} differs\n  direct:  {}\n  gateway: {}",
                        direct.steps[step], through.steps[step]
                    )),
                }
            }
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        problems.is_empty(),
        "fidelity problems:\n{}",
        problems.join("\n")
    );
}
