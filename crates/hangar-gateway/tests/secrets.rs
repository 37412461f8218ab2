//! Credentials never reach the logs: with every log line of every crate
//! captured at TRACE, a gateway that uses upstream headers from Secrets, a
//! declared tool's API key, static bearer tokens and a Redis password, and
//! that fails to reach a server and Redis, writes none of them, nor shows
//! them on `/readyz` or `/metrics`.

mod ha;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use ha::Raw;
use reqwest::StatusCode;
use serde_json::json;
use support::{HEAD, TestGateway, backend};

const UPSTREAM_SECRET: &str = "upstream-s3cret-9c1e";
const BACKEND_SECRET: &str = "backend-s3cret-41aa";
const DOWN_SECRET: &str = "down-s3cret-0b2f";
const INBOUND_TOKEN: &str = "inbound-s3cret-77de";
const REDIS_PASSWORD: &str = "redis-s3cret-5d10";

/// Every log line, kept in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_logs_status_or_metrics() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(capture.clone())
        .init();
    // The secrets the config names, handed to the gateway as a pod's
    // environment would hold them.
    let environment = hangar_config::Environment::fixed([
        (
            "HANGAR_TEST_UPSTREAM_AUTH",
            format!("Bearer {UPSTREAM_SECRET}"),
        ),
        ("HANGAR_TEST_BACKEND_KEY", BACKEND_SECRET.to_string()),
        ("HANGAR_TEST_DOWN_KEY", DOWN_SECRET.to_string()),
        ("HANGAR_TEST_TOKENS", format!("{INBOUND_TOKEN} ops admins")),
        // Nothing listens on port 1: Redis stays unreachable, which is logged.
        (
            "HANGAR_TEST_REDIS_URL",
            format!("redis://default:{REDIS_PASSWORD}@127.0.0.1:1"),
        ),
    ]);
    let (upstream, upstream_state) = ha::upstream::start().await;
    let backend = backend().await;
    let gw = TestGateway::start_in(
        &format!(
            r#"{HEAD}redis: {{urlFromEnv: HANGAR_TEST_REDIS_URL}}
auth:
  bearerTokens: {{valueFromEnv: HANGAR_TEST_TOKENS}}
tools:
  - name: words
    backend:
      url: "{words}"
      headers: [{{name: X-Api-Key, valueFromEnv: HANGAR_TEST_BACKEND_KEY}}]
servers:
  - name: up
    transport: streamable-http
    url: "{upstream}"
    headers: [{{name: Authorization, valueFromEnv: HANGAR_TEST_UPSTREAM_AUTH}}]
  - name: down
    transport: streamable-http
    url: "http://127.0.0.1:1/mcp"
    connectTimeout: 1s
    headers: [{{name: X-Api-Key, valueFromEnv: HANGAR_TEST_DOWN_KEY}}]
"#,
            words = backend.url("/text"),
            upstream = upstream.url("/mcp"),
        ),
        environment,
    )
    .await;
    let mcp = gw.mcp();
    let caller = Raw::with_token(INBOUND_TOKEN);

    // Calls that succeed, in both eras, and calls that fail.
    let echo = json!({"name": "up_echo", "arguments": {"text": "hello"}});
    assert_eq!(
        caller
            .stateless(&mcp, "tools/call", echo.clone())
            .await
            .tool_text(),
        "hello"
    );
    let words = json!({"name": "words", "arguments": {}});
    assert_eq!(
        caller
            .stateless(&mcp, "tools/call", words)
            .await
            .tool_text(),
        "plain words"
    );
    let down = caller
        .stateless(
            &mcp,
            "tools/call",
            json!({"name": "down_anything", "arguments": {}}),
        )
        .await;
    assert!(down.message.get("error").is_some() || down.result()["isError"] == true);
    let refused = caller.try_initialize(&mcp).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    let wrong = Raw::with_token("not-the-token")
        .stateless(&mcp, "tools/list", json!({}))
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let ready = reqwest::get(gw.served.url("/readyz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = reqwest::get(gw.served.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ready.contains("redis://default:***@127.0.0.1:1"), "{ready}");

    // The secrets were in use...
    let seen = upstream_state.authorization.lock().unwrap().clone();
    assert!(
        seen.contains(&format!("Bearer {UPSTREAM_SECRET}")),
        "{seen:?}"
    );
    // ...and appear nowhere an operator looks.
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.contains("mcp request"),
        "the capture holds the gateway's logs"
    );
    assert!(logs.contains("Redis"), "the Redis outage is logged");
    for secret in [
        UPSTREAM_SECRET,
        BACKEND_SECRET,
        DOWN_SECRET,
        INBOUND_TOKEN,
        REDIS_PASSWORD,
    ] {
        for (place, text) in [("logs", &logs), ("/readyz", &ready), ("/metrics", &metrics)] {
            assert!(!text.contains(secret), "{secret} appears in the {place}");
        }
        for reply in [&down, &refused, &wrong] {
            assert!(
                !reply.text.contains(secret),
                "{secret} appears in a response: {}",
                reply.text
            );
        }
    }
    println!("checked {} bytes of TRACE logs", logs.len());
}
