//! Rate limits enforced, with calls sent concurrently: `perTool` for all
//! callers together, and `perClient` keyed on the address a real reverse
//! proxy (nginx) reports — only when the gateway trusts that proxy. Periods
//! are an hour, so no token refills while a test runs and the admitted
//! counts are exact.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use hangar_testenv::tools::{Tool, locate};
use serde_json::json;
use support::*;

/// nginx proxying to the gateway at `upstream`, adding `X-Forwarded-For`
/// as an Ingress controller does; stopped when dropped.
struct Nginx {
    _dir: tempfile::TempDir,
    child: std::process::Child,
    addr: SocketAddr,
}

impl Nginx {
    async fn start(upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                 proxy_pass http://{upstream};\n      proxy_http_version 1.1;\n\
                 proxy_set_header Host localhost;\n\
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                 proxy_buffering off;\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(locate(Tool::Nginx))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx did not listen on {addr}: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _dir: dir,
            child,
            addr,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stateless `prompts/get`; true when admitted, false when rate-limited.
async fn admitted(http: &reqwest::Client, url: &str, spoofed_for: Option<&str>) -> bool {
    let mut request = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "prompts/get")
        .header("mcp-name", "greet")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get", "params": {
            "name": "greet",
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}),
        );
    if let Some(address) = spoofed_for {
        request = request.header("x-forwarded-for", address);
    }
    let response = request.send().await.unwrap();
    match response.status().as_u16() {
        200 => true,
        429 => {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], -32029, "{body}");
            false
        }
        other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
    }
}

/// A client whose connections come from `source` (any 127.0.0.0/8 address).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(source))
        .build()
        .unwrap()
}

const PER_CLIENT: usize = 2;

fn per_client_config(trusted: &str) -> String {
    format!(
        "{HEAD}gateway: {{trustedProxies: [{trusted}]}}\n\
         rateLimit: {{perClient: {{requests: {PER_CLIENT}, period: 1h}}}}\n\
         prompts:\n  - {{name: greet, messages: [{{text: hi}}]}}\n"
    )
}

/// For each source address, how many of its concurrent calls were admitted.
async fn admitted_per_source(url: &str, sources: &[[u8; 4]], calls: usize) -> Vec<usize> {
    join_all(sources.iter().map(|source| async move {
        let http = client_from(*source);
        let results = join_all((0..calls).map(|_| admitted(&http, url, None))).await;
        results.into_iter().filter(|ok| *ok).count()
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_limits_follow_the_address_a_trusted_proxy_reports() {
    let (_gateway, gateway_addr, _cancel) =
        served_gateway(&per_client_config("\"127.0.0.1/32\"")).await;
    let nginx = Nginx::start(gateway_addr).await;
    let url = format!("http://{}/mcp", nginx.addr);
    let sources = [[127, 0, 0, 2], [127, 0, 0, 3], [127, 0, 0, 4]];
    let admitted_counts = admitted_per_source(&url, &sources, 5).await;
    // Each address behind the proxy has its own bucket.
    assert_eq!(admitted_counts, vec![PER_CLIENT; sources.len()]);
    // Claiming another address does not help: the proxy appends the real one.
    let http = client_from(sources[0]);
    assert!(!admitted(&http, &url, Some("203.0.113.9")).await);
    // Straight to the gateway, a forwarded header from an untrusted peer is ignored.
    let direct = format!("http://{gateway_addr}/mcp");
    let spoofer = client_from([127, 0, 0, 9]);
    let results = join_all((0..5).map(|i| {
        let (spoofer, direct) = (&spoofer, &direct);
        async move {
            let claimed = format!("198.51.100.{i}");
            admitted(spoofer, direct, Some(&claimed)).await
        }
    }))
    .await;
    assert_eq!(results.iter().filter(|ok| **ok).count(), PER_CLIENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trusted_proxies_everyone_behind_a_proxy_shares_its_bucket() {
    let (_gateway, gateway_addr, _cancel) = served_gateway(&per_client_config("")).await;
    let nginx = Nginx::start(gateway_addr).await;
    let url = format!("http://{}/mcp", nginx.addr);
    let counts = admitted_per_source(&url, &[[127, 0, 0, 2], [127, 0, 0, 3]], 5).await;
    assert_eq!(counts.iter().sum::<usize>(), PER_CLIENT, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_tool_limit_holds_for_concurrent_callers_of_both_eras() {
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}rateLimit: {{perTool: {{requests: 5, period: 1h}}, tools: {{free: {{requests: 1000, period: 1h}}}}}}\n\
         tools:\n  - {{name: echo, backend: {{url: \"{echo}\"}}}}\n  - {{name: free, backend: {{url: \"{echo}\"}}}}\n",
        echo = backend.url("/echo")
    ))
    .await;
    let url = gw.mcp();
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(if i % 2 == 0 {
            session_client(&url).await
        } else {
            stateless_client(&url).await
        });
    }
    let call = |client: &Client, tool: &'static str| {
        let params = rmcp::model::CallToolRequestParams::new(tool)
            .with_arguments(args(json!({"text": "x"})));
        let client = client.peer().clone();
        async move { client.call_tool(params).await }
    };
    let outcomes = join_all(
        clients
            .iter()
            .flat_map(|client| (0..3).map(move |_| call(client, "echo"))),
    )
    .await;
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(admitted, 5, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        // In a session the refusal is a JSON-RPC error naming the tool;
        // a stateless request gets HTTP 429.
        let refused = refused.to_string();
        assert!(
            refused.contains("echo") || refused.contains("429"),
            "{refused}"
        );
    }
    // A tool with its own limit is not held back by the others' exhaustion.
    for client in [session_client(&url).await, stateless_client(&url).await] {
        call(&client, "free")
            .await
            .expect("its own limit is far off");
    }
}
