//! The audit trail and the per-tool metrics, through a real gateway with
//! real MCP servers behind it (`member.py` on the official Python SDK, in a
//! group and alone): every outcome of `tools/call`, `prompts/get` and
//! `resources/read` leaves exactly one record with the right fields, and no
//! token or argument value appears unless `includeArguments` asks for it.

mod ha;
mod support;

use std::path::Path;

use ha::Raw;
use serde_json::{Value, json};
use sha2::Digest as _;
use support::peers::python_member;
use support::{HEAD, TestGateway};

const TOKENS: &str = "ops-token-7f3a alice ops\nguest-token-91c2 guest\n";
/// An argument value that must never reach the records unless asked for.
const SECRET_ARGUMENT: &str = "hunter2-in-the-arguments";

fn config(a: u16, b: u16, file: &Path, include_arguments: bool) -> String {
    format!(
        r##"{HEAD}gateway: {{name: audited}}
audit: {{stdout: false, file: "{file}", includeArguments: {include_arguments}}}
auth:
  bearerTokens: {{valueFromEnv: AUDIT_TEST_TOKENS}}
  authorization:
    default: Deny
    rules:
      - {{groups: [ops], tools: ["*"], prompts: ["*"], resources: ["*"]}}
      - {{subjects: [guest], tools: [pool_whoami]}}
rateLimit:
  tools: {{pool_slow: {{requests: 1, period: 1h}}}}
servers:
  - {{name: a, transport: streamable-http, url: "http://127.0.0.1:{a}/mcp", expose: false}}
  - {{name: b, transport: streamable-http, url: "http://127.0.0.1:{b}/mcp", prefix: fragile_, timeout: 1s, circuitBreaker: {{failureThreshold: 1, resetTimeout: 1h}}}}
groups:
  - {{name: pool, members: [a], prefix: pool_}}
prompts:
  - {{name: greet, arguments: [{{name: who, required: true}}], messages: [{{text: "Hello {{{{who}}}}"}}]}}
resources:
  - {{uri: "docs://readme", name: readme, mimeType: text/markdown, text: "# Readme"}}
"##,
        file = file.display(),
    )
}

fn records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn sha256(canonical: &str) -> String {
    hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// A record's method, name, outcome, subject, upstream and member.
type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

fn tool(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_leaves_one_record_and_counts_in_the_tool_metrics() {
    let ((_a, a), (_b, b)) = tokio::join!(python_member("a"), python_member("b"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.jsonl");
    let environment = hangar_config::Environment::fixed([("AUDIT_TEST_TOKENS", TOKENS)]);
    let gw = TestGateway::start_in(&config(a, b, &file, false), environment).await;
    let mcp = gw.mcp();
    let alice = Raw::with_token("ops-token-7f3a");
    let guest = Raw::with_token("guest-token-91c2");

    // Each call, the outcome and route its record must show, in order.
    let ok = alice
        .stateless(&mcp, "tools/call", tool("pool_whoami", json!({})))
        .await;
    assert_eq!(ok.tool_text(), "a", "{}", ok.text);
    let failed = alice
        .stateless(&mcp, "tools/call", tool("pool_fail", json!({})))
        .await;
    assert_eq!(failed.result()["isError"], true, "{}", failed.text);
    let unknown = alice
        .stateless(&mcp, "tools/call", tool("pool_nope", json!({})))
        .await;
    assert_eq!(unknown.error()["code"], -32602, "{}", unknown.text);
    let denied = guest
        .stateless(&mcp, "tools/call", tool("pool_fail", json!({})))
        .await;
    assert!(
        denied.error()["message"]
            .as_str()
            .unwrap()
            .contains("not available to `guest`"),
        "{}",
        denied.text
    );
    let secret = json!({"seconds": 0.01, "note": SECRET_ARGUMENT});
    let slow = alice
        .stateless(&mcp, "tools/call", tool("pool_slow", secret.clone()))
        .await;
    assert_eq!(slow.tool_text(), "a", "{}", slow.text);
    let limited = alice
        .stateless(&mcp, "tools/call", tool("pool_slow", secret.clone()))
        .await;
    assert_eq!(limited.error()["code"], -32029, "{}", limited.text);
    // b answers after the 1 s timeout: the call fails and b's circuit opens.
    let timed_out = alice
        .stateless(
            &mcp,
            "tools/call",
            tool("fragile_slow", json!({"seconds": 5})),
        )
        .await;
    assert_eq!(timed_out.result()["isError"], true, "{}", timed_out.text);
    let open = alice
        .stateless(&mcp, "tools/call", tool("fragile_whoami", json!({})))
        .await;
    assert!(
        open.tool_text().contains("circuit breaker opened"),
        "{}",
        open.text
    );
    let prompt = alice
        .stateless(
            &mcp,
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert!(prompt.text.contains("Hello Ada"), "{}", prompt.text);
    let refused = alice
        .stateless(&mcp, "prompts/get", json!({"name": "pool_refuse"}))
        .await;
    assert!(refused.error()["code"].is_i64(), "{}", refused.text);
    let read = alice
        .stateless(&mcp, "resources/read", json!({"uri": "docs://readme"}))
        .await;
    assert!(read.text.contains("# Readme"), "{}", read.text);
    let read_denied = guest
        .stateless(&mcp, "resources/read", json!({"uri": "docs://readme"}))
        .await;
    assert!(read_denied.error()["code"].is_i64(), "{}", read_denied.text);
    // In a session, the record carries the session's id.
    let session = alice.initialize(&mcp).await;
    let in_session = alice
        .call(
            &mcp,
            &session,
            7,
            "tools/call",
            tool("pool_whoami", json!({})),
        )
        .await;
    assert_eq!(in_session.tool_text(), "a", "{}", in_session.text);
    // Lists are not audited.
    alice.stateless(&mcp, "tools/list", json!({})).await;

    let expected: &[Expected] = &[
        (
            "tools/call",
            "pool_whoami",
            "ok",
            "alice",
            Some("pool"),
            Some("a"),
        ),
        (
            "tools/call",
            "pool_fail",
            "tool_error",
            "alice",
            Some("pool"),
            Some("a"),
        ),
        ("tools/call", "pool_nope", "rpc_error", "alice", None, None),
        ("tools/call", "pool_fail", "denied", "guest", None, None),
        (
            "tools/call",
            "pool_slow",
            "ok",
            "alice",
            Some("pool"),
            Some("a"),
        ),
        (
            "tools/call",
            "pool_slow",
            "rate_limited",
            "alice",
            None,
            None,
        ),
        (
            "tools/call",
            "fragile_slow",
            "tool_error",
            "alice",
            Some("b"),
            Some("b"),
        ),
        (
            "tools/call",
            "fragile_whoami",
            "circuit_open",
            "alice",
            Some("b"),
            Some("b"),
        ),
        ("prompts/get", "greet", "ok", "alice", None, None),
        (
            "prompts/get",
            "pool_refuse",
            "rpc_error",
            "alice",
            Some("pool"),
            Some("a"),
        ),
        ("resources/read", "docs://readme", "ok", "alice", None, None),
        (
            "resources/read",
            "docs://readme",
            "denied",
            "guest",
            None,
            None,
        ),
        (
            "tools/call",
            "pool_whoami",
            "ok",
            "alice",
            Some("pool"),
            Some("a"),
        ),
    ];
    let written = records(&file);
    let summary: Vec<_> = written
        .iter()
        .map(|r| (&r["method"], &r["name"], &r["outcome"], &r["subject"]))
        .collect();
    assert_eq!(written.len(), expected.len(), "{summary:#?}");
    for (record, (method, name, outcome, subject, upstream, member)) in written.iter().zip(expected)
    {
        let at = format!("{record}");
        assert_eq!(record["target"], "hangar::audit", "{at}");
        assert_eq!(record["gateway"], "audited", "{at}");
        assert_eq!(record["method"], *method, "{at}");
        assert_eq!(record["name"], *name, "{at}");
        assert_eq!(record["outcome"], *outcome, "{at}");
        assert_eq!(record["subject"], *subject, "{at}");
        assert_eq!(record["upstream"], json!(upstream), "{at}");
        assert_eq!(record["member"], json!(member), "{at}");
        assert_eq!(record["clientAddress"], "127.0.0.1", "{at}");
        let groups = if *subject == "alice" {
            json!(["ops"])
        } else {
            json!([])
        };
        assert_eq!(record["groups"], groups, "{at}");
        assert!(
            record["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{at}"
        );
        assert!(
            record["latencyMs"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{at}"
        );
        chrono::DateTime::parse_from_rfc3339(record["time"].as_str().unwrap()).expect(&at);
        assert_eq!(
            record.get("errorCode").is_some(),
            ["rpc_error", "denied", "rate_limited"].contains(outcome),
            "{at}"
        );
        assert!(record.get("arguments").is_none(), "{at}");
        // A digest of what was sent; none when nothing was (resources, the bare prompt).
        assert_eq!(
            record.get("argumentsSha256").is_some(),
            *method != "resources/read" && *name != "pool_refuse",
            "{at}"
        );
    }
    assert_eq!(written[12]["sessionId"], session.as_str());
    assert!(written[..12].iter().all(|r| r["sessionId"].is_null()));
    assert_eq!(written[5]["errorCode"], -32029);
    // The digest is of the arguments' canonical JSON, keys sorted.
    let canonical = format!(r#"{{"note":"{SECRET_ARGUMENT}","seconds":0.01}}"#);
    assert_eq!(written[4]["argumentsSha256"], sha256(&canonical));
    assert_eq!(written[5]["argumentsSha256"], sha256(&canonical));
    assert_eq!(written[0]["argumentsSha256"], sha256("{}"));
    assert_eq!(written[8]["argumentsSha256"], sha256(r#"{"who":"Ada"}"#));
    // The slow call waited for the member; the timed-out one for the timeout.
    assert!(written[6]["latencyMs"].as_f64().unwrap() >= 900.0);

    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [SECRET_ARGUMENT, "ops-token-7f3a", "guest-token-91c2", "Ada"] {
        assert!(!text.contains(secret), "{secret} is in the audit file");
    }

    let metrics = gw.gateway.metrics().render();
    for line in [
        r#"hangar_gateway_tool_calls_total{tool="pool_whoami",outcome="ok"} 2"#,
        r#"hangar_gateway_tool_calls_total{tool="pool_fail",outcome="tool_error"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="unknown",outcome="rpc_error"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="pool_fail",outcome="denied"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="pool_slow",outcome="ok"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="pool_slow",outcome="rate_limited"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="fragile_slow",outcome="tool_error"} 1"#,
        r#"hangar_gateway_tool_calls_total{tool="fragile_whoami",outcome="circuit_open"} 1"#,
        r#"hangar_gateway_caller_group_tool_calls_total{group="ops",outcome="ok"} 3"#,
        r#"hangar_gateway_caller_group_tool_calls_total{group="none",outcome="denied"} 1"#,
        r#"hangar_gateway_tool_call_duration_seconds_count{tool="pool_slow"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // Reloaded with includeArguments, records carry the arguments themselves.
    let reloaded =
        hangar_config::GatewayConfig::parse(&config(a, b, &file, true), "reload").unwrap();
    gw.gateway.reload(reloaded, "test").unwrap();
    let with_arguments = alice
        .stateless(
            &mcp,
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert!(with_arguments.text.contains("Hello Ada"));
    let written = records(&file);
    assert_eq!(written.len(), expected.len() + 1);
    assert_eq!(written.last().unwrap()["arguments"], json!({"who": "Ada"}));
}

#[tokio::test]
async fn an_audit_file_that_cannot_be_opened_is_refused_and_the_running_config_stays() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("audit.jsonl");
    let yaml = |file: &Path| {
        format!(
            "{HEAD}audit: {{stdout: false, file: \"{}\"}}\nresources:\n  - {{uri: \"docs://readme\", name: readme, text: \"# Readme\"}}\n",
            file.display()
        )
    };
    let gw = TestGateway::start(&yaml(&good)).await;
    let missing = dir.path().join("no/such/dir/audit.jsonl");
    let refused = gw
        .gateway
        .reload(
            hangar_config::GatewayConfig::parse(&yaml(&missing), "reload").unwrap(),
            "test",
        )
        .unwrap_err()
        .to_string();
    assert!(refused.contains("audit.file: cannot open"), "{refused}");
    let read = Raw::new()
        .stateless(&gw.mcp(), "resources/read", json!({"uri": "docs://readme"}))
        .await;
    assert!(read.text.contains("# Readme"), "{}", read.text);
    assert_eq!(
        records(&good).len(),
        1,
        "the old file still gets the records"
    );
}
