//! A 2025-era server's requests for input (sampling, elicitation) during a
//! stateless 2026-07-28 client's call reach that client as
//! `InputRequiredResult` rounds: the gateway keeps the server's call waiting,
//! and answers it when the client calls again with the `requestState` and its
//! answer. The server is `@modelcontextprotocol/server-everything` (npm, on
//! the 2025-era TypeScript SDK), over Streamable HTTP and over stdio; the
//! clients are the official Python and TypeScript SDKs, and raw HTTP for what
//! an SDK would not send (wrong, replayed or concurrent states).

mod support;

use hangar_testenv::tools::node_bin;
use serde_json::{Value, json};
use support::peers::{everything_js, everything_over_http, run_every_client};
use support::*;

async fn gateway() -> (TestGateway, tokio::process::Child) {
    let (server, port) = everything_over_http("streamableHttp").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: web, prefix: web_, transport: streamable-http, url: \"http://127.0.0.1:{port}/mcp\"}}\n  - {{name: local, prefix: local_, transport: stdio, command: \"{}\", args: [\"{}\", stdio]}}\n",
        node_bin("node").display(),
        everything_js().display()
    ))
    .await;
    (gw, server)
}

/// One stateless `tools/call` over raw HTTP; returns the JSON-RPC message.
async fn call(url: &str, name: &str, extra: Value) -> Value {
    let mut params = json!({
        "name": name,
        "arguments": {"prompt": "Capital of France?", "maxTokens": 20},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"sampling": {}, "elicitation": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
        }
    });
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    let response = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", name)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn sampling_answer(text: &str) -> Value {
    json!({"input": {"role": "assistant", "content": {"type": "text", "text": text},
                     "model": "raw-model", "stopReason": "endTurn"}})
}

fn text_of(message: &Value) -> String {
    message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text result: {message}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_clients_of_both_eras_answer_a_2025_servers_questions() {
    let (gw, _server) = gateway().await;
    let mut plan = Vec::new();
    for prefix in ["web_", "local_"] {
        plan.push(
            json!({"op": "call_tool", "name": format!("{prefix}trigger-sampling-request"),
                         "arguments": {"prompt": "Capital of France?", "maxTokens": 20}}),
        );
        plan.push(
            json!({"op": "call_tool", "name": format!("{prefix}trigger-elicitation-request")}),
        );
    }
    for (who, report) in run_every_client(&gw.mcp(), &Value::Array(plan)).await {
        let results = report["results"].as_array().unwrap();
        for (i, result) in results.iter().enumerate() {
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            assert_ne!(result["isError"], true, "{who} step {i}: {result}");
            let expected = if i % 2 == 0 { "Paris" } else { "Ada" };
            let all: String = result["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["text"].as_str())
                .collect();
            assert!(all.contains(expected), "{who} step {i}: {text} / {all}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_resumes_only_for_its_own_state_call_and_answer() {
    let (gw, _server) = gateway().await;
    let url = gw.mcp();
    let asked = call(&url, "web_trigger-sampling-request", json!({})).await;
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    assert_eq!(
        result["inputRequests"]["input"]["method"], "sampling/createMessage",
        "{asked}"
    );
    let state = result["requestState"].as_str().unwrap().to_string();
    assert!(state.starts_with("hangar-input:"), "{state}");

    // Another tool with this state does not resume the call (and leaves it waiting).
    let elsewhere = call(
        &url,
        "web_get-sum",
        json!({"requestState": state, "inputResponses": sampling_answer("Lyon")}),
    )
    .await;
    assert_eq!(elsewhere["error"]["code"], -32602, "{elsewhere}");
    assert!(
        elsewhere["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names no call waiting here"),
        "{elsewhere}"
    );

    let answered = call(
        &url,
        "web_trigger-sampling-request",
        json!({"requestState": state, "inputResponses": sampling_answer("Paris")}),
    )
    .await;
    assert!(text_of(&answered).contains("Paris"), "{answered}");

    // A state is used once.
    let replayed = call(
        &url,
        "web_trigger-sampling-request",
        json!({"requestState": state, "inputResponses": sampling_answer("Paris")}),
    )
    .await;
    assert_eq!(replayed["error"]["code"], -32602, "{replayed}");

    // An answer that is no sampling result reaches the server as an error.
    let asked = call(&url, "web_trigger-sampling-request", json!({})).await;
    let state = asked["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = call(
        &url,
        "web_trigger-sampling-request",
        json!({"requestState": state, "inputResponses": {"input": {"nonsense": true}}}),
    )
    .await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(
        text_of(&refused).contains("not a valid result"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_each_answer_their_own_question() {
    let (gw, _server) = gateway().await;
    let url = gw.mcp();
    let callers = (0..4).map(|i| {
        let url = url.clone();
        async move {
            let asked = call(&url, "web_trigger-sampling-request", json!({})).await;
            let state = asked["result"]["requestState"]
                .as_str()
                .unwrap_or_else(|| panic!("caller {i}: {asked}"))
                .to_string();
            let answer = format!("answer-{i}");
            let answered = call(
                &url,
                "web_trigger-sampling-request",
                json!({"requestState": state, "inputResponses": sampling_answer(&answer)}),
            )
            .await;
            (answer, text_of(&answered))
        }
    });
    for (answer, text) in futures::future::join_all(callers).await {
        assert!(text.contains(&answer), "{answer}: {text}");
        for other in (0..4).map(|i| format!("answer-{i}")) {
            assert!(
                other == answer || !text.contains(&other),
                "{answer}: {text}"
            );
        }
    }
}
