//! Names an upstream serves but has not listed (`curation.servers.<name>.passUnlisted`),
//! through the official Python SDK client in both protocol eras against a
//! server on the official Python SDK whose lists leave out part of what it
//! serves (`tests/servers/partly_listed.py`): with pass-through its unlisted
//! tool and prompt answer under its prefix, without it they are unknown, and
//! lists show only what servers list either way.

mod support;

use hangar_testenv::tools::{Tool, locate};
use serde_json::{Value, json};
use support::peers::{client_script, run_client};
use support::*;

fn config() -> String {
    let server = |name: &str| {
        format!(
            "  - {{name: {name}, transport: stdio, prefix: {name}_, command: \"{python}\", args: [\"{script}\"]}}\n",
            python = locate(Tool::Python).display(),
            script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/servers/partly_listed.py"
            ),
        )
    };
    format!(
        "{HEAD}\nservers:\n{}{}curation:\n  servers:\n    open: {{passUnlisted: true}}\n",
        server("open"),
        server("closed"),
    )
}

fn plan() -> Value {
    let call = |name: &str| json!({"op": "call_tool", "name": name, "arguments": {"text": "hi"}});
    let prompt =
        |name: &str| json!({"op": "get_prompt", "name": name, "arguments": {"name": "Ada"}});
    json!([
        {"op": "list_tools"},
        {"op": "list_prompts"},
        call("open_hidden_echo"),
        call("closed_hidden_echo"),
        prompt("open_hidden_greeting"),
        prompt("closed_hidden_greeting"),
        call("open_listed"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_names_reach_only_servers_that_take_them_in_both_eras() {
    let gw = TestGateway::start(&config()).await;
    let python = locate(Tool::Python);
    let script = client_script("python_client.py");
    for mode in ["legacy", "auto"] {
        let report = run_client(&python, &script, &gw.mcp(), mode, &plan()).await;
        let results = &report["results"];
        let mut tools: Vec<&str> = results[0]["names"]
            .as_array()
            .unwrap_or_else(|| panic!("{mode}: {report}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        tools.sort();
        assert_eq!(tools, ["closed_listed", "open_listed"], "{mode}: {report}");
        assert_eq!(results[1]["names"], json!([]), "{mode}: {report}");
        assert_eq!(
            results[2]["content"][0]["text"], "hidden: hi",
            "{mode}: {report}"
        );
        assert_eq!(results[2]["isError"], false, "{mode}: {report}");
        let unknown = |i: usize, what: &str| {
            let message = results[i]["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("unknown {what} `closed_hidden_")),
                "{mode}: result {i}: {report}"
            );
        };
        unknown(3, "tool");
        let greeting = results[4]["messages"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            greeting, "Hello Ada, from a prompt nobody listed",
            "{mode}: {report}"
        );
        unknown(5, "prompt");
        assert_eq!(
            results[6]["content"][0]["text"], "listed",
            "{mode}: {report}"
        );
    }
}
