//! The gateway's bounds, seen from outside over real sockets: slow headers,
//! slow bodies and idle connections are cut off, connections past the cap
//! wait, sessions past the cap get 503 with `Retry-After`, the paths beside
//! `/mcp` check `Host`, resource URIs have a length limit, and a stopping
//! gateway refuses new connections but answers the next request of a
//! kept-alive one.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::*;

/// A guard against a hanging test, far above every limit configured here.
const NO_ANSWER: Duration = Duration::from_secs(20);

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(NO_ANSWER)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection; fails the
/// test if it is still open after [`NO_ANSWER`].
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&received).into_owned();
            }
            Err(e) => panic!(
                "the gateway kept the connection open ({e}); received so far: {}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// The head of one HTTP response read from `stream` (up to the blank line).
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("a response");
        assert_eq!(n, 1, "closed after {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

fn limits_config(connections: &str) -> String {
    format!(
        "{HEAD}gateway:\n  connections: {connections}\nprompts:\n  - {{name: greet, messages: [{{text: hi}}]}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_never_finish_are_cut_off() {
    let (_gateway, addr, _cancel) = served_gateway(&limits_config("{headerTimeout: 1s}")).await;
    tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        // Part of a request head, then nothing more.
        stream
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\n")
            .unwrap();
        read_until_closed(&mut stream);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408() {
    let (_gateway, addr, _cancel) = served_gateway(&limits_config("{bodyTimeout: 1s}")).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(
                b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                  Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"",
            )
            .unwrap();
        read_head(&mut stream)
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_left_idle_is_closed() {
    let (_gateway, addr, _cancel) = served_gateway(&limits_config("{idleTimeout: 1s}")).await;
    tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Kept alive after the answer, then closed for idleness.
        let rest = read_until_closed(&mut stream);
        assert_eq!(rest, "ok");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let (_gateway, addr, _cancel) = served_gateway(&limits_config("{max: 1}")).await;
    tokio::task::spawn_blocking(move || {
        let first = connect(addr);
        let mut second = connect(addr);
        second
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        // The first holds the one slot: the second is not served meanwhile.
        second
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 64];
        match second.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("served past the connection cap: {other:?}"),
        }
        drop(first);
        second.set_read_timeout(Some(NO_ANSWER)).unwrap();
        let answer = read_until_closed(&mut second);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_beside_mcp_refuse_foreign_host_names() {
    let (_gateway, addr, _cancel) = served_gateway(&limits_config("{}")).await;
    let http = reqwest::Client::new();
    for path in [
        "/readyz",
        "/metrics",
        "/healthz",
        "/.well-known/oauth-protected-resource",
    ] {
        let url = format!("http://{addr}{path}");
        // What a page whose name was rebound to the gateway sends.
        let rebound = http
            .get(&url)
            .header("host", "attacker.example")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403, "{path}");
        let body = rebound.text().await.unwrap();
        assert!(body.contains("attacker.example"), "{path}: {body}");
        for host in ["localhost".to_string(), addr.to_string()] {
            let status = http
                .get(&url)
                .header("host", &host)
                .send()
                .await
                .unwrap()
                .status();
            // The metadata path exists only with authentication: 404, not 403.
            assert_ne!(status, 403, "{path} with Host {host}");
        }
    }
}

async fn initialize(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "limits", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_past_the_cap_get_503_with_retry_after() {
    let (_gateway, addr, _cancel) = served_gateway(&format!(
        "{HEAD}gateway:\n  maxSessions: 2\nprompts:\n  - {{name: greet, messages: [{{text: hi}}]}}\n"
    ))
    .await;
    let url = format!("http://{addr}/mcp");
    let first = session_client(&url).await;
    let _second = session_client(&url).await;
    let http = reqwest::Client::new();
    let refused = initialize(&http, &url).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("maxSessions"), "{body}");
    // Stateless requests need no session and still work.
    let stateless = stateless_client(&url).await;
    assert_eq!(stateless.list_prompts(None).await.unwrap().prompts.len(), 1);
    // A closed session frees its place.
    first.cancel().await.unwrap();
    let deadline = tokio::time::Instant::now() + NO_ANSWER;
    while initialize(&http, &url).await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed session did not free its place"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_uris_are_bounded_and_may_be_any_text() {
    let (fixture, _) = fixture("fixture").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}naming: {{prefix: false}}\nservers:\n  - {{name: fixture, transport: streamable-http, url: \"{}\"}}\n",
        fixture.url("/mcp")
    ))
    .await;
    let client = session_client(&gw.mcp()).await;
    let read = |uri: String| client.read_resource(rmcp::model::ReadResourceRequestParams::new(uri));
    // Matched by the upstream's template `test://template/{id}/data`.
    let result = read("test://template/é/data".into()).await.unwrap();
    assert!(format!("{result:?}").contains("Data for ID"), "{result:?}");
    let long = format!("test://template/{}/data", "x".repeat(9000));
    let error = read(long).await.unwrap_err().to_string();
    assert!(error.contains("at most 8192 bytes"), "{error}");
    // The session is unharmed.
    assert!(read("test://template/7/data".into()).await.is_ok());
}

/// Stopping (SIGTERM in `hangar gateway` and `hangar bridge`): new
/// connections are refused at once, and a kept-alive connection is not
/// closed under a request its client may be sending: its next request is
/// answered, with `Connection: close`, and then it closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_refuses_new_connections_and_answers_the_next_request_with_close() {
    let (_gateway, addr, cancel) = served_gateway(&limits_config("{}")).await;
    let kept = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let head = read_head(&mut stream).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        let mut body = [0u8; 2];
        stream.read_exact(&mut body).unwrap();
        assert_eq!(&body, b"ok");
        stream
    })
    .await
    .unwrap();
    cancel.cancel();
    eventually(
        "new connections to be refused",
        Duration::from_secs(10),
        || TcpStream::connect(addr).is_err(),
    )
    .await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = kept;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        read_until_closed(&mut stream).to_lowercase()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
}
