//! OpenAPI services as tools (MCPToolSet), end to end: a FastAPI app (a real
//! OpenAPI service we did not write; tests/servers/bookshop.py is our small
//! app on it) serves its own /openapi.json, `hangar up`'s plan reads it into
//! tools, and the official Python and TypeScript SDK clients, in both
//! protocol eras, list and call them through the gateway.

mod support;

use hangar_gateway::up::{FetchedDocuments, plan};
use serde_json::{Value, json};
use support::peers::{python_server, run_every_client};
use support::*;

fn bookshop_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/bookshop.py")
}

/// Two sets over one document: the shop's books and reviews under `shop_`,
/// and `whoami` alone with a static Authorization header.
fn manifests(port: u16) -> String {
    format!(
        r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPToolSet
metadata: {{name: shop}}
spec:
  openapi: {{url: "http://127.0.0.1:{port}/openapi.json"}}
  namePrefix: shop_
  include: {{tags: [books, reviews]}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPToolSet
metadata: {{name: admin}}
spec:
  openapi: {{url: "http://127.0.0.1:{port}/openapi.json"}}
  include: {{operationIds: [whoami]}}
  headers: [{{name: Authorization, value: "Bearer s3cret"}}]
"#
    )
}

async fn fetched(port: u16) -> FetchedDocuments {
    let url = format!("http://127.0.0.1:{port}/openapi.json");
    let text =
        hangar_mcp_client::documents::read_text(&reqwest::Client::new(), &url, 1 << 20).await;
    FetchedDocuments::from([(url, text)])
}

fn plan_steps() -> Value {
    json!([
        {"op": "list_tools"},
        {"op": "call_tool", "name": "shop_get_book", "arguments": {"book_id": 1}},
        {"op": "call_tool", "name": "shop_list_books", "arguments": {"author": "Le Guin", "limit": 1}},
        {"op": "call_tool", "name": "shop_rate_book",
         "arguments": {"book_id": 2, "x-reviewer": "ada", "stars": 5, "comment": "spice"}},
        {"op": "call_tool", "name": "shop_add_book",
         "arguments": {"title": "Tehanu", "author": "Le Guin", "year": 1990}},
        {"op": "call_tool", "name": "shop_get_book", "arguments": {"book_id": 999}},
        {"op": "call_tool", "name": "whoami", "arguments": {}},
        {"op": "call_tool", "name": "shop_remove_book", "arguments": {"book_id": 1}},
        {"op": "call_tool", "name": "shop_rate_book", "arguments": {"book_id": 2, "stars": 5}}
    ])
}

fn check(report: &Value, label: &str) {
    let results = &report["results"];
    let names: Vec<&str> = results[0]["names"]
        .as_array()
        .unwrap_or_else(|| panic!("{label}: {report}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    // upload_cover takes multipart only; remove_book is tagged admin; whoami is the admin set's.
    assert_eq!(
        sorted,
        [
            "shop_add_book",
            "shop_get_book",
            "shop_list_books",
            "shop_rate_book",
            "whoami"
        ],
        "{label}"
    );
    let rate = results[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "shop_rate_book")
        .unwrap();
    let schema = &rate["inputSchema"];
    assert_eq!(
        schema["required"],
        json!(["book_id", "x-reviewer", "stars"]),
        "{label}: path, header and required body property: {schema}"
    );
    assert_eq!(
        rate["annotations"]["idempotentHint"], true,
        "{label}: a PUT"
    );
    let structured = |i: usize| {
        assert_eq!(
            results[i]["isError"], false,
            "{label} step {i}: {}",
            results[i]
        );
        results[i]["structured"].clone()
    };
    assert_eq!(
        structured(1)["title"],
        "A Wizard of Earthsea",
        "{label}: path argument"
    );
    let found = structured(2);
    // Both query parameters reach the service (earlier runs add more Le Guin).
    assert_eq!(
        found["books"].as_array().map(Vec::len),
        Some(1),
        "{label}: {found}"
    );
    assert_eq!(found["books"][0]["author"], "Le Guin", "{label}: {found}");
    assert_eq!(
        structured(3),
        json!({"book_id": 2, "stars": 5, "reviewer": "ada", "comment": "spice"}),
        "{label}: path, header and body"
    );
    let added = structured(4);
    assert_eq!(added["title"], "Tehanu", "{label}: body");
    assert!(
        added["id"].as_i64().is_some_and(|id| id >= 4),
        "{label}: {added}"
    );
    assert_eq!(results[5]["isError"], true, "{label}: {}", results[5]);
    let missing = results[5]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        missing.contains("404") && missing.contains("no book 999"),
        "{label}: {missing}"
    );
    assert_eq!(
        structured(6)["authorization"],
        "Bearer s3cret",
        "{label}: the set's headers go with its calls"
    );
    let unlisted = &results[7];
    assert!(
        unlisted.get("error").is_some() || unlisted["isError"] == true,
        "{label}: an operation the filter leaves out cannot be called: {unlisted}"
    );
    let invalid = &results[8];
    assert_eq!(invalid["isError"], true, "{label}: {invalid}");
    let why = invalid["content"][0]["text"].as_str().unwrap_or_default();
    assert!(
        why.contains("invalid arguments") && why.contains("x-reviewer"),
        "{label}: a missing header argument is refused before the service is called: {why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_of_a_fastapi_service_are_tools_for_every_sdk_client_in_both_eras() {
    init_logs();
    let (_shop, port) = python_server(bookshop_script(), &[]).await;
    let manifests = hangar_manifests::parse(&manifests(port), "toolsets").unwrap();
    let compiled = plan(&manifests, None, &fetched(port).await).unwrap();
    let skipped: Vec<String> = compiled
        .skipped
        .iter()
        .map(|s| format!("{} {}: {}", s.kind, s.name, s.reason))
        .collect();
    assert!(skipped.is_empty(), "{skipped:?}");
    let gateway = TestGateway::start(&compiled.config.to_yaml()).await;
    for (label, report) in run_every_client(&gateway.mcp(), &plan_steps()).await {
        check(&report, &label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_document_holds_and_skips_is_said() {
    let (_shop, port) = python_server(bookshop_script(), &[]).await;
    let url = format!("http://127.0.0.1:{port}/openapi.json");
    let text = hangar_mcp_client::documents::read_text(&reqwest::Client::new(), &url, 1 << 20)
        .await
        .unwrap();
    let conversion = hangar_openapi::convert(&text, &Default::default()).unwrap();
    assert_eq!(conversion.operations, 7);
    assert_eq!(conversion.tools.len(), 6);
    assert_eq!(conversion.skipped.len(), 1);
    assert_eq!(
        conversion.skipped[0].operation,
        "POST /covers (upload_cover)"
    );
    assert!(
        conversion.skipped[0].reason.contains("multipart/form-data"),
        "{:?}",
        conversion.skipped
    );
    // A document too large for the limit is refused with the limit named.
    let small = hangar_mcp_client::documents::read_text(&reqwest::Client::new(), &url, 100)
        .await
        .unwrap_err();
    assert!(small.contains("more than 100 bytes"), "{small}");
}
