//! Curation (`curation` in the config, MCPGateway `spec.tools`, `spec.prompts`,
//! `spec.resourceUris`, `spec.servers`) through clients and servers we did not
//! write: the official Python and TypeScript SDK clients in both protocol
//! eras against `server-everything`, and the Rust SDK for `list_changed`
//! when a reload changes curation.

mod support;

use std::time::Duration;

use hangar_config::GatewayConfig;
use hangar_testenv::tools::node_bin;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, SubscriptionFilter};
use serde_json::{Value, json};
use support::peers::{everything_js, run_every_client};
use support::*;

fn config(echo_url: &str, curation: &str) -> String {
    format!(
        r#"{HEAD}
tools:
  - name: echo
    inputSchema:
      type: object
      properties: {{text: {{type: string}}, tenant: {{type: string}}}}
      required: [text, tenant]
    backend: {{url: "{echo_url}"}}
servers:
  - {{name: everything, transport: stdio, command: "{node}", args: ["{everything}", stdio]}}
curation:
{curation}"#,
        node = node_bin("node").display(),
        everything = everything_js().display(),
    )
}

/// Gateway-wide lists in exposed names, the server's own lists in its names.
const CURATION: &str = r#"
  exposed:
    tools:
      deny: ["everything_get-env", "*toggle*"]
      overrides:
        - tool: everything_echo
          name: shout
          title: Shout
          description: Echoes what it is told
          annotations: {readOnlyHint: true, destructiveHint: false}
          defaultArguments: {message: nothing to say}
        - tool: everything_get-sum
          fixedArguments: {b: 40}
        - tool: echo
          fixedArguments: {tenant: acme}
    prompts: {deny: ["everything_args-*"]}
    resources: {deny: ["demo://resource/dynamic/blob/*"]}
  servers:
    everything:
      tools: {deny: ["trigger-*"]}
"#;

fn plan() -> Value {
    json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "shout", "arguments": {}},
        {"op": "call_tool", "name": "shout", "arguments": {"message": "hello"}},
        {"op": "call_tool", "name": "everything_echo", "arguments": {"message": "renamed away"}},
        {"op": "call_tool", "name": "everything_get-sum", "arguments": {"a": 2, "b": 1}},
        {"op": "call_tool", "name": "everything_get-env", "arguments": {}},
        {"op": "call_tool", "name": "everything_toggle-simulated-logging", "arguments": {}},
        {"op": "call_tool", "name": "everything_trigger-sampling-request", "arguments": {"prompt": "hi"}},
        {"op": "call_tool", "name": "echo", "arguments": {"text": "hi", "tenant": "evil"}},
        {"op": "list_prompts"},
        {"op": "get_prompt", "name": "everything_args-prompt", "arguments": {"city": "Paris"}},
        {"op": "get_prompt", "name": "everything_simple-prompt"},
        {"op": "list_resource_templates"},
        {"op": "read_resource", "uri": "demo://resource/dynamic/text/1"},
        {"op": "read_resource", "uri": "demo://resource/dynamic/blob/1"}
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
    let refused = |i: usize| {
        assert!(
            results[i]["error"]["code"].is_number(),
            "{who}: step {i} should be refused: {}",
            results[i]
        );
    };
    let tools = &results[0]["tools"];
    let tool = |name: &str| -> &Value {
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{who}: {name} is not listed: {tools}"))
    };
    let names = results[0]["names"].to_string();
    for absent in [
        "\"everything_echo\"",
        "everything_get-env",
        "toggle",
        "trigger-",
    ] {
        assert!(!names.contains(absent), "{who}: {absent} listed: {names}");
    }
    assert!(
        names.contains("everything_get-tiny-image"),
        "{who}: {names}"
    );

    let shout = tool("shout");
    assert_eq!(shout["title"], "Shout", "{who}");
    assert_eq!(shout["description"], "Echoes what it is told", "{who}");
    assert_eq!(shout["annotations"]["readOnlyHint"], true, "{who}");
    assert_eq!(shout["annotations"]["destructiveHint"], false, "{who}");
    assert_eq!(
        shout["inputSchema"]["properties"]["message"]["default"], "nothing to say",
        "{who}: {shout}"
    );
    assert!(
        shout["inputSchema"].get("required").is_none(),
        "{who}: a defaulted argument is optional: {shout}"
    );
    let sum = tool("everything_get-sum");
    assert!(
        sum["inputSchema"]["properties"].get("b").is_none(),
        "{who}: a fixed argument is hidden: {sum}"
    );
    assert_eq!(sum["inputSchema"]["required"], json!(["a"]), "{who}: {sum}");
    let echo = tool("echo");
    assert_eq!(
        echo["inputSchema"]["properties"],
        json!({"text": {"type": "string"}}),
        "{who}: {echo}"
    );

    assert_eq!(text(1), "Echo: nothing to say", "{who}: {}", results[1]);
    assert_eq!(text(2), "Echo: hello", "{who}: {}", results[2]);
    refused(3);
    assert!(
        text(4).contains("42"),
        "{who}: b is fixed at 40 whatever the client sends: {}",
        results[4]
    );
    refused(5);
    refused(6);
    refused(7);
    assert_eq!(
        results[8]["structured"]["received"],
        json!({"text": "hi", "tenant": "acme"}),
        "{who}: {}",
        results[8]
    );
    let prompts = results[9]["names"].to_string();
    assert!(
        prompts.contains("everything_simple-prompt") && !prompts.contains("args-prompt"),
        "{who}: {prompts}"
    );
    refused(10);
    assert_eq!(
        results[11]["messages"][0]["text"], "This is a simple prompt without arguments.",
        "{who}: {}",
        results[11]
    );
    let templates = results[12]["uriTemplates"].to_string();
    assert!(
        templates.contains("dynamic/text") && !templates.contains("dynamic/blob"),
        "{who}: {templates}"
    );
    assert!(
        results[13]["text"]
            .as_str()
            .unwrap_or_default()
            .contains('1'),
        "{who}: {}",
        results[13]
    );
    refused(14);
}

/// `/readyz`'s detail once every server has listed its tools, so that
/// overrides can be judged.
async fn once_listed(gw: &TestGateway) -> Value {
    eventually(
        "every server's first listing",
        Duration::from_secs(30),
        || gw.gateway.readiness().1["curation"]["notListedYet"] == json!([]),
    )
    .await;
    gw.gateway.readiness().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curation_holds_for_lists_and_calls_with_both_sdks_in_both_eras() {
    let backend = backend().await;
    let gw = TestGateway::start(&config(&backend.url("/echo"), CURATION)).await;
    let detail = once_listed(&gw).await;
    assert_eq!(detail["ready"], true, "{detail}");
    assert_eq!(
        detail["curation"],
        json!({"unmatchedOverrides": [], "notListedYet": []}),
        "{detail}"
    );
    for (label, report) in run_every_client(&gw.mcp(), &plan()).await {
        check(&report, &label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_of_a_tool_nobody_serves_is_reported() {
    let backend = backend().await;
    let curation = r#"
  exposed:
    tools:
      overrides: [{tool: everything_nope, title: Nobody}]
  servers:
    everything:
      tools: {overrides: [{tool: nothing-here, name: still-nothing}]}
"#;
    let gw = TestGateway::start(&config(&backend.url("/echo"), curation)).await;
    let detail = once_listed(&gw).await;
    let unmatched = detail["curation"]["unmatchedOverrides"].to_string();
    assert!(
        unmatched.contains("`everything_nope`")
            && unmatched.contains("`nothing-here` of server everything"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_curation_announces_list_changed_in_both_eras() {
    let backend = backend().await;
    let before = config(&backend.url("/echo"), "  exposed: {}\n");
    let gw = TestGateway::start(&before).await;
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
        .listen(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .build(),
        )
        .await
        .expect("subscriptions/listen through the gateway");
    let listed = |tools: &[rmcp::model::Tool], name: &str| tools.iter().any(|t| t.name == name);
    let tools = session.list_all_tools().await.unwrap();
    assert!(listed(&tools, "everything_get-env"));
    let call = || CallToolRequestParams::new("everything_get-env");
    session.call_tool(call()).await.expect("callable before");

    let after = config(
        &backend.url("/echo"),
        "  exposed:\n    tools: {deny: [everything_get-env]}\n    prompts: {deny: [\"*\"]}\n",
    );
    gw.gateway
        .reload(
            GatewayConfig::parse(&after, "reloaded").unwrap(),
            "reloaded",
        )
        .unwrap();
    let seen = recorder.0.clone();
    eventually(
        "the session to hear tools/list_changed and prompts/list_changed",
        Duration::from_secs(10),
        || {
            let seen = seen.lock().unwrap();
            seen.contains(&"tools") && seen.contains(&"prompts")
        },
    )
    .await;
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let notification = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("a notification on the listen stream")
            .unwrap()
            .expect("the stream is open");
        heard.push(format!("{notification:?}"));
    }
    let heard = heard.join(" ");
    assert!(
        heard.contains("ToolListChanged") && heard.contains("PromptListChanged"),
        "{heard}"
    );
    for client in [session.peer(), stateless.peer()] {
        let tools = client.list_all_tools().await.unwrap();
        assert!(!listed(&tools, "everything_get-env"));
        assert!(listed(&tools, "everything_echo"));
        let refused = client.call_tool(call()).await.unwrap_err();
        assert!(refused.to_string().contains("unknown tool"), "{refused}");
        assert!(client.list_all_prompts().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_curation_applies_to_its_members_own_names() {
    let (node, everything) = (node_bin("node"), everything_js());
    let member = |name: &str| {
        format!(
            "  - {{name: {name}, transport: stdio, command: \"{}\", args: [\"{}\", stdio], expose: false}}\n",
            node.display(),
            everything.display()
        )
    };
    let yaml = format!(
        "{HEAD}servers:\n{}{}groups:\n  - {{name: pool, members: [a, b]}}\ncuration:\n  groups:\n    pool: {{tools: {{allow: [echo, get-sum]}}}}\n  exposed:\n    tools: {{overrides: [{{tool: pool_get-sum, fixedArguments: {{b: 40}}}}]}}\n",
        member("a"),
        member("b"),
    );
    let gw = TestGateway::start(&yaml).await;
    let detail = once_listed(&gw).await;
    assert_eq!(
        detail["curation"]["unmatchedOverrides"],
        json!([]),
        "{detail}"
    );
    for client in [
        session_client(&gw.mcp()).await,
        stateless_client(&gw.mcp()).await,
    ] {
        let mut names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["pool_echo", "pool_get-sum"]);
        // Each call goes to a member (round robin): both get b fixed.
        for _ in 0..2 {
            let sum = client
                .call_tool(
                    CallToolRequestParams::new("pool_get-sum")
                        .with_arguments(args(json!({"a": 2}))),
                )
                .await
                .unwrap();
            assert!(first_text(&sum).contains("42"), "{sum:?}");
        }
        let refused = client
            .call_tool(CallToolRequestParams::new("pool_get-env"))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("unknown tool"), "{refused}");
    }
}
