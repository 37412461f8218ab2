//! Requests to `/mcp` are untrusted input: well-formed MCP messages of both
//! eras, mutated at random (values swapped for odd ones, bytes flipped) with
//! random methods and MCP headers, sent through the whole HTTP stack. Every
//! one gets an answer and no task of the gateway panics.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hangar_testenv::fuzz::{self, Unstructured};
use serde_json::{Value, json};
use support::*;
use tower::ServiceExt;

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {}})
}

/// Messages a client may send, the seeds of every mutation.
fn seeds() -> Vec<Value> {
    vec![
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
            "clientInfo": {"name": "fuzz", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": "aGFuZ2FyOjE"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "echo", "arguments": {"text": "hi"}, "_meta": meta()}}),
        json!({"jsonrpc": "2.0", "id": "4", "method": "prompts/get", "params": {
            "name": "greet", "arguments": {"who": "you"}}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {
            "uri": "docs://readme", "_meta": meta()}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "resources/subscribe", "params": {"uri": "docs://readme"}}),
        json!({"jsonrpc": "2.0", "id": 7, "method": "completion/complete", "params": {
            "ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "who", "value": "y"}}}),
        json!({"jsonrpc": "2.0", "id": 8, "method": "logging/setLevel", "params": {"level": "debug"}}),
        json!({"jsonrpc": "2.0", "id": 9, "method": "server/discover", "params": {"_meta": meta()}}),
        json!({"jsonrpc": "2.0", "id": 10, "method": "ping"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}),
        json!([{"jsonrpc": "2.0", "id": 11, "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}]),
        json!({"jsonrpc": "2.0", "id": 12, "result": {}}),
    ]
}

/// A value that has broken JSON-RPC readers.
fn odd_value(u: &mut Unstructured<'_>) -> fuzz::Result<Value> {
    Ok(match u.int_in_range(0..=9)? {
        0 => Value::Null,
        1 => json!(18446744073709551616.0_f64),
        2 => json!(-1.5),
        3 => json!(u64::MAX),
        4 => json!(u.arbitrary::<String>()?),
        5 => json!([]),
        6 => json!({}),
        7 => json!("é\u{0}\u{202e}"),
        8 => json!("x".repeat(u.int_in_range(0..=20_000)?)),
        _ => json!(u.arbitrary::<bool>()?),
    })
}

/// `value` with one node, chosen at random, replaced by an odd value.
fn mutate_value(u: &mut Unstructured<'_>, value: &mut Value) -> fuzz::Result<()> {
    let children = match value {
        Value::Object(map) => map.len(),
        Value::Array(items) => items.len(),
        _ => 0,
    };
    if children == 0 || u.ratio(1, 4)? {
        *value = odd_value(u)?;
        return Ok(());
    }
    let index = u.choose_index(children)?;
    match value {
        Value::Object(map) => {
            let key = map.keys().nth(index).cloned().unwrap_or_default();
            if u.ratio(1, 8)? {
                map.remove(&key);
                Ok(())
            } else {
                mutate_value(u, map.get_mut(&key).expect("the key was just listed"))
            }
        }
        Value::Array(items) => mutate_value(u, &mut items[index]),
        _ => Ok(()),
    }
}

fn body(u: &mut Unstructured<'_>, seeds: &[Value]) -> fuzz::Result<Vec<u8>> {
    let mut message = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(0..=3)? {
        mutate_value(u, &mut message)?;
    }
    let mut bytes = serde_json::to_vec(&message).expect("a Value serialises");
    for _ in 0..u.int_in_range(0..=2)? {
        if bytes.is_empty() {
            break;
        }
        let at = u.choose_index(bytes.len())?;
        bytes[at] = u.arbitrary()?;
    }
    Ok(bytes)
}

fn pick<'a>(u: &mut Unstructured<'_>, values: &[&'a str]) -> fuzz::Result<Option<&'a str>> {
    Ok(if u.ratio(1, 4)? {
        None
    } else {
        Some(*u.choose(values)?)
    })
}

#[test]
fn fuzz_requests_get_an_answer_and_nothing_panics() {
    let panics = Arc::new(AtomicUsize::new(0));
    let default_hook = std::panic::take_hook();
    let counted = panics.clone();
    // Panics in spawned tasks (session workers) do not reach the test otherwise.
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (router, backend, session) = runtime.block_on(async {
        let backend = backend().await;
        let gw = TestGateway::start(&format!(
            "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n\
             prompts:\n  - {{name: greet, arguments: [{{name: who}}], messages: [{{text: \"hi {{{{who}}}}\"}}]}}\n\
             resources:\n  - {{uri: \"docs://readme\", name: readme, text: \"# hi\"}}\n",
            backend.url("/echo")
        ))
        .await;
        // A live session, so mutated requests reach session handling too.
        let begun = reqwest::Client::new()
            .post(gw.mcp())
            .header("accept", "application/json, text/event-stream")
            .json(&seeds()[0])
            .send()
            .await
            .unwrap();
        let session = begun.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let router = hangar_gateway::http::router(gw.gateway.clone(), Default::default());
        // Serves for the rest of the process.
        std::mem::forget(gw);
        (router, backend, session)
    });
    let seeds = seeds();
    let sessions = [
        session.as_str(),
        session.as_str(),
        "not-a-session",
        "",
        "\u{7f}",
    ];
    let versions = [
        "2025-03-26",
        "2025-06-18",
        "2025-11-25",
        "2026-07-28",
        "2099-01-01",
        "garbage",
    ];
    let accepts = [
        "application/json, text/event-stream",
        "application/json",
        "*/*",
        "text/event-stream",
    ];
    let methods = ["POST", "POST", "POST", "GET", "DELETE", "PUT"];
    fuzz::run("mcp requests", |u| {
        let method = *u.choose(&methods)?;
        let mut request = http::Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json");
        if let Some(accept) = pick(u, &accepts)? {
            request = request.header("accept", accept);
        }
        if let Some(version) = pick(u, &versions)? {
            request = request.header("mcp-protocol-version", version);
        }
        if let Some(id) = pick(u, &sessions)? {
            request = request.header("mcp-session-id", id);
        }
        if u.ratio(1, 8)? {
            request = request.header(
                "last-event-id",
                u.arbitrary::<String>()?.replace(['\r', '\n'], ""),
            );
        }
        let Ok(mut request) = request.body(axum::body::Body::from(body(u, &seeds)?)) else {
            // A header value http refuses: nothing to send.
            return Ok(());
        };
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(backend.addr));
        let answered = runtime.block_on(async {
            let answered =
                tokio::time::timeout(Duration::from_secs(10), router.clone().oneshot(request))
                    .await;
            // Event streams stay open: their head is the answer.
            if let Ok(Ok(response)) = answered {
                let _ = tokio::time::timeout(
                    Duration::from_millis(50),
                    axum::body::to_bytes(response.into_body(), 1 << 20),
                )
                .await;
                return true;
            }
            false
        });
        assert!(answered, "a request got no answer");
        assert_eq!(panics.load(Ordering::SeqCst), 0, "a gateway task panicked");
        Ok(())
    });
}
