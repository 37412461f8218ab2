//! MCP software we did not write, through the gateway: the official Python
//! SDK client and TypeScript SDK client, in both protocol eras, against
//! declared items and federated reference servers (`server-everything` over
//! stdio, Streamable HTTP and legacy SSE; `mcp-server-time` over stdio).

mod support;

use std::time::Duration;

use hangar_testenv::tools::{Tool, locate, node_bin};
use serde_json::{Value, json};
use support::peers::{client_script, everything_js, everything_over_http, run_client};
use support::*;

fn plan() -> Value {
    json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "echo", "arguments": {"text": "declared"}},
        {"op": "call_tool", "name": "everything_echo", "arguments": {"message": "over stdio"}},
        {"op": "call_tool", "name": "everything-http_echo", "arguments": {"message": "over streamable http"}},
        {"op": "call_tool", "name": "everything-sse_get-sum", "arguments": {"a": 2, "b": 3}},
        {"op": "call_tool", "name": "time_get_current_time", "arguments": {"timezone": "Etc/UTC"}},
        {"op": "call_tool", "name": "fixture_test_input_required_result_elicitation", "arguments": {}},
        {"op": "call_tool", "name": "fixture_test_sampling", "arguments": {"prompt": "Capital of France?"}},
        {"op": "call_tool", "name": "nope", "arguments": {}},
        {"op": "list_prompts"},
        {"op": "get_prompt", "name": "greet", "arguments": {"who": "Ada"}},
        {"op": "get_prompt", "name": "everything_simple-prompt"},
        {"op": "get_prompt", "name": "greet"},
        {"op": "list_resources"},
        {"op": "read_resource", "uri": "docs://readme"},
        {"op": "read_resource", "uri": "demo://resource/dynamic/text/1"},
        {"op": "read_resource", "uri": "test://static-binary"}
    ])
}

fn check(report: &Value, who: &str) {
    let results = report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{who}: {report}"));
    let text = |i: usize| {
        results[i]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let tools: Vec<&str> = results[0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for expected in [
        "echo",
        "everything_echo",
        "everything-http_get-sum",
        "everything-sse_echo",
        "time_get_current_time",
        "time_convert_time",
        "fixture_test_simple_text",
    ] {
        assert!(
            tools.contains(&expected),
            "{who}: {expected} missing from {tools:?}"
        );
    }
    assert_eq!(
        results[1]["structured"]["received"]["text"], "declared",
        "{who}: {}",
        results[1]
    );
    assert_eq!(text(2), "Echo: over stdio", "{who}: {}", results[2]);
    assert_eq!(
        text(3),
        "Echo: over streamable http",
        "{who}: {}",
        results[3]
    );
    assert!(text(4).contains('5'), "{who}: {}", results[4]);
    assert!(text(5).contains("Etc/UTC"), "{who}: {}", results[5]);
    assert_eq!(text(6), "Hello, Ada!", "{who}: {}", results[6]);
    assert_eq!(text(7), "LLM response: Paris", "{who}: {}", results[7]);
    assert_eq!(results[8]["error"]["code"], -32602, "{who}: {}", results[8]);
    let prompts = results[9]["names"].to_string();
    assert!(
        prompts.contains("\"greet\"") && prompts.contains("everything_simple-prompt"),
        "{who}: {prompts}"
    );
    assert_eq!(
        results[10]["messages"][0]["text"], "Hello, Ada.",
        "{who}: {}",
        results[10]
    );
    assert_eq!(
        results[11]["messages"][0]["text"], "This is a simple prompt without arguments.",
        "{who}"
    );
    assert_eq!(
        results[12]["error"]["code"], -32602,
        "{who}: {}",
        results[12]
    );
    assert!(
        results[13]["uris"].to_string().contains("docs://readme"),
        "{who}: {}",
        results[13]
    );
    assert_eq!(results[14]["text"], "# Readme", "{who}: {}", results[14]);
    assert_eq!(results[14]["mimeType"], "text/markdown", "{who}");
    assert!(
        results[15]["text"]
            .as_str()
            .unwrap_or_default()
            .contains('1'),
        "{who}: {}",
        results[15]
    );
    assert_eq!(
        results[16]["blob"],
        fixture::RED_PIXEL_PNG,
        "{who}: {}",
        results[16]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_clients_in_both_eras() {
    let python = locate(Tool::Python);
    let node = node_bin("node");
    let backend = backend().await;
    let (fixture, _) = fixture("fixture").await;
    let (_http_child, http_port) = everything_over_http("streamableHttp").await;
    let (_sse_child, sse_port) = everything_over_http("sse").await;
    let config = format!(
        r#"{HEAD}
tools:
  - name: echo
    inputSchema: {{type: object, properties: {{text: {{type: string}}}}}}
    backend: {{url: "{echo}"}}
prompts:
  - name: greet
    arguments: [{{name: who, required: true}}]
    messages: [{{text: "Hello, {{{{who}}}}."}}]
resources:
  - {{uri: "docs://readme", name: readme, mimeType: text/markdown, text: "{readme}"}}
servers:
  - {{name: everything, transport: stdio, command: "{node}", args: ["{everything}", stdio]}}
  - {{name: everything-http, transport: streamable-http, url: "http://127.0.0.1:{http_port}/mcp"}}
  - {{name: everything-sse, transport: sse, url: "http://127.0.0.1:{sse_port}/sse"}}
  - {{name: time, transport: stdio, command: "{python}", args: ["-m", "mcp_server_time"]}}
  - {{name: fixture, transport: streamable-http, url: "{fixture}"}}
"#,
        echo = backend.url("/echo"),
        readme = "# Readme",
        node = node.display(),
        everything = everything_js().display(),
        python = python.display(),
        fixture = fixture.url("/mcp"),
    );
    let gw = TestGateway::start(&config).await;
    let (ready, detail) = gw.gateway.readiness();
    assert!(ready, "{detail}");
    for (name, state) in detail["servers"].as_object().unwrap() {
        assert_eq!(state["state"], "ready", "{name}: {state}");
    }

    let plan = plan();
    let runs = [
        ("python", &python, client_script("python_client.py")),
        ("typescript", &node, client_script("ts_client.mjs")),
    ];
    for (who, program, script) in &runs {
        for mode in ["legacy", "auto"] {
            let report = run_client(program, script, &gw.mcp(), mode, &plan).await;
            let label = format!("{who} {mode}");
            let negotiated = report["protocolVersion"].as_str().unwrap_or_default();
            // "auto" probes with server/discover and must pick the stateless revision.
            if mode == "legacy" {
                assert!(
                    negotiated < "2026-07-28",
                    "{label}: negotiated {negotiated}"
                );
            } else {
                assert_eq!(negotiated, "2026-07-28", "{label}");
            }
            assert_eq!(report["serverName"], "hangar-gateway", "{label}");
            check(&report, &label);
        }
    }
}

/// Bursts of progress from `server-everything` (100 notifications back to
/// back before each result) reach the Python SDK through the gateway in the
/// order the server sent them, every call, in both eras, over stdio and
/// Streamable HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reaches_the_client_in_the_order_the_server_sent_it() {
    const STEPS: u64 = 100;
    const CALLS: usize = 20;
    let python = locate(Tool::Python);
    let (_http_child, http_port) = everything_over_http("streamableHttp").await;
    let config = format!(
        r#"{HEAD}
servers:
  - {{name: everything, transport: stdio, command: "{node}", args: ["{everything}", stdio]}}
  - {{name: everything-http, transport: streamable-http, url: "http://127.0.0.1:{http_port}/mcp"}}
"#,
        node = node_bin("node").display(),
        everything = everything_js().display(),
    );
    let gw = TestGateway::start(&config).await;
    let sent: Vec<u64> = (1..=STEPS).collect();
    for server in ["everything", "everything-http"] {
        let call = json!({
            "op": "call_tool",
            "name": format!("{server}_trigger-long-running-operation"),
            "arguments": {"duration": 0, "steps": STEPS},
            "progress": true,
        });
        let plan = Value::Array(vec![call; CALLS]);
        for mode in ["legacy", "auto"] {
            let script = client_script("python_client.py");
            let report = run_client(&python, &script, &gw.mcp(), mode, &plan).await;
            let results = report["results"].as_array().expect("results");
            assert_eq!(results.len(), CALLS, "{server} {mode}: {report}");
            for (i, result) in results.iter().enumerate() {
                let heard: Vec<u64> = result["progress"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{server} {mode} call {i}: {result}"))
                    .iter()
                    .map(|v| v.as_f64().expect("a number") as u64)
                    .collect();
                assert_eq!(
                    heard, sent,
                    "{server} {mode} call {i}: progress out of order or lost"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_serves_a_stdio_server_to_the_python_sdk() {
    use hangar_gateway::cli::{BridgeArgs, bridge_config};
    let python = locate(Tool::Python);
    let args = BridgeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        // What the operator passes for an MCPServer with `spec.path: /time/mcp`.
        path: "/time/mcp".into(),
        allow_hosts: vec![],
        timeout: hangar_config::DurationSpec(Duration::from_secs(30)),
        command: vec![
            python.display().to_string(),
            "-m".into(),
            "mcp_server_time".into(),
        ],
    };
    let config = bridge_config(&args).validate().unwrap();
    let gateway = hangar_gateway::Gateway::start(
        config,
        std::sync::Arc::new(hangar_gateway::metrics::Metrics::new()),
    )
    .unwrap()
    .mirroring_single_upstream();
    gateway.settled().await;
    let served = serve(hangar_gateway::http::router(
        gateway.clone(),
        Default::default(),
    ))
    .await;
    let plan = json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "get_current_time", "arguments": {"timezone": "Etc/UTC"}}
    ]);
    for mode in ["legacy", "auto"] {
        let report = run_client(
            &python,
            &client_script("python_client.py"),
            &served.url("/time/mcp"),
            mode,
            &plan,
        )
        .await;
        // The bridge presents the child as itself: its name, its tools, unprefixed.
        assert_eq!(report["serverName"], "mcp-time", "{mode}: {report}");
        assert_eq!(
            report["results"][0]["names"],
            json!(["get_current_time", "convert_time"]),
            "{mode}"
        );
        let text = report["results"][1]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("Etc/UTC"), "{mode}: {text}");
    }
    let elsewhere = reqwest::Client::new()
        .post(served.url("/mcp"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404, "MCP is served at --path only");
    gateway.shutdown();
}

/// What a stdio server's `get-env` tool reports through the gateway.
async fn child_environment(config_env: &str) -> serde_json::Map<String, Value> {
    let config = format!(
        r#"{HEAD}
servers:
  - name: everything
    transport: stdio
    command: "{node}"
    args: ["{everything}", stdio]
    env: {config_env}
"#,
        node = node_bin("node").display(),
        everything = everything_js().display(),
    );
    let gw = TestGateway::start(&config).await;
    let client = session_client(&gw.mcp()).await;
    let result = client
        .call_tool(rmcp::model::CallToolRequestParams::new(
            "everything_get-env",
        ))
        .await
        .expect("get-env through the gateway");
    let env: Value = serde_json::from_str(&first_text(&result)).expect("get-env prints JSON");
    env.as_object().expect("an object").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_sees_its_declared_environment_and_none_of_the_gateways() {
    // Cargo runs tests with these set; a child that inherited the gateway's
    // environment would see them (as it would every HANGAR_SECRET_* value).
    let leaked: Vec<String> = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| !hangar_gateway::child::INHERITED.contains(&name.as_str()))
        .collect();
    assert!(
        leaked.iter().any(|name| name == "CARGO_MANIFEST_DIR"),
        "the test expects cargo's variables in its own environment"
    );
    let env = child_environment("[{name: GREETING, value: hello}]").await;
    assert_eq!(env["GREETING"], "hello");
    assert_eq!(
        env.get("PATH").and_then(Value::as_str),
        std::env::var("PATH").ok().as_deref()
    );
    for name in &leaked {
        assert!(
            !env.contains_key(name),
            "the child sees the gateway's {name}"
        );
    }
    for name in env.keys() {
        assert!(
            name == "GREETING" || hangar_gateway::child::INHERITED.contains(&name.as_str()),
            "the child sees {name}, which nobody declared"
        );
    }
}
