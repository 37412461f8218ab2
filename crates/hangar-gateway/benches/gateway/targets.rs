//! What the benchmark measures: the backends (the floor), nginx proxying
//! them, the `hangar gateway` binary, and ToolHive's vMCP; and the MCP
//! requests sent to them in each protocol era.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::load::{Proc, Shape, require};

/// How to install what the benchmark runs.
pub const DEPS: &str = "run `scripts/bench-deps.sh` (or `make bench`, which does)";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `port` accepts connections.
pub fn wait_for_port(proc: &mut Proc, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        proc.assert_running();
        assert!(
            Instant::now() < deadline,
            "{} did not open port {port}",
            proc.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the benchmark's programs live: `HANGAR_BENCH_BIN` (default
/// `~/.cache/hangar/bench-bin`, filled by `scripts/bench-deps.sh`).
pub fn bench_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("HANGAR_BENCH_BIN").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/hangar/bench-bin")
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing; {DEPS}", path.display());
    path
}

/// The release `hangar` binary: `HANGAR_BIN`, else `release/hangar` of the
/// target directory this benchmark was built in (`CARGO_TARGET_DIR` included).
pub fn hangar_bin() -> PathBuf {
    let path = std::env::var_os("HANGAR_BIN").map_or_else(
        || {
            // This executable is <target>/<profile>/deps/gateway-<hash>.
            let exe = std::env::current_exe().expect("the benchmark's own path");
            let target = exe.ancestors().nth(3).expect("a target directory");
            target.join("release/hangar")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing; build it with `cargo build --release -p hangar` (`make bench` does)",
        path.display()
    );
    path
}

/// The Go peer (`benches/peer`): a plain HTTP JSON echo and an MCP server on
/// the official Go SDK with an `echo` tool.
pub struct Backends {
    pub proc: Proc,
    pub echo_port: u16,
    pub mcp_port: u16,
}

pub fn backends(dir: &Path) -> Backends {
    let (echo_port, mcp_port) = (free_port(), free_port());
    let mut proc = Proc::spawn(
        "bench peer",
        &bench_bin("hangar-bench-peer"),
        &[
            "-echo".into(),
            format!("127.0.0.1:{echo_port}"),
            "-mcp".into(),
            format!("127.0.0.1:{mcp_port}"),
        ],
        &dir.join("peer.log"),
    );
    wait_for_port(&mut proc, echo_port);
    wait_for_port(&mut proc, mcp_port);
    Backends {
        proc,
        echo_port,
        mcp_port,
    }
}

/// nginx as a bare reverse proxy in front of both backends (one process,
/// keep-alive to the backends): what a proxy costs at minimum.
pub fn nginx(dir: &Path, backends: &Backends) -> (Proc, u16) {
    let nginx = require("nginx", DEPS);
    let port = free_port();
    let config = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/nginx-body;
  proxy_temp_path {dir}/nginx-proxy;
  upstream echo {{ server 127.0.0.1:{echo}; keepalive 64; }}
  upstream mcp {{ server 127.0.0.1:{mcp}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    # The client's Host: the Go SDK refuses a non-local one (DNS rebinding protection).
    location /echo {{ proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; }}
    location /mcp {{ proxy_pass http://mcp; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_buffering off; }}
  }}
}}
"#,
        dir = dir.display(),
        echo = backends.echo_port,
        mcp = backends.mcp_port,
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let mut proc = Proc::spawn(
        "nginx",
        &nginx,
        &["-c".into(), path.display().to_string()],
        &dir.join("nginx.log"),
    );
    wait_for_port(&mut proc, port);
    (proc, port)
}

/// How long an idle legacy session lives in the gateways under test, so the
/// benchmark can see memory come back after expiry.
pub const SESSION_IDLE: Duration = Duration::from_secs(20);

/// An OpenAPI document of the echo backend: `POST /echo` with a query, a
/// header and a JSON body argument, so a call through its tool places each.
const ECHO_OPENAPI: &str = r#"{"openapi": "3.1.0", "info": {"title": "echo", "version": "1"},
  "paths": {"/echo": {"post": {"operationId": "echo", "summary": "Echo the body",
    "parameters": [{"name": "channel", "in": "query", "schema": {"type": "string"}},
                   {"name": "x-trace", "in": "header", "schema": {"type": "string"}}],
    "requestBody": {"required": true, "content": {"application/json": {"schema": {
      "type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
    "responses": {"200": {"description": "the body back"}}}}}}"#;

/// The tool an MCPToolSet over [`ECHO_OPENAPI`] becomes (`openapi_echo`), as
/// `hangar up` compiles it.
fn openapi_echo(backends: &Backends) -> String {
    let manifests = format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPToolSet\nmetadata: {{name: echo}}\nspec:\n  \
         openapi: {{inline: {document}}}\n  namePrefix: openapi_\n  backend: {{url: \"http://127.0.0.1:{echo}\"}}\n",
        document = serde_json::to_string(ECHO_OPENAPI).unwrap(),
        echo = backends.echo_port,
    );
    let manifests = hangar_manifests::parse(&manifests, "bench").unwrap();
    let compiled = hangar_gateway::up::plan(&manifests, None, &Default::default()).unwrap();
    assert!(compiled.skipped.is_empty(), "{:?}", compiled.skipped);
    serde_json::to_string(&compiled.config.tools[0]).unwrap()
}

/// `tools/call` of [`openapi_echo`] with an argument in each place.
pub fn openapi_call(url: String, era: Era, sessions: Vec<String>) -> Shape {
    call_shape(
        url,
        "openapi_echo",
        r#"{"text":"benchmark","channel":"bench","x-trace":"wrk"}"#,
        era,
        sessions,
        "benchmark",
    )
}

/// `hangar gateway` serving a declared `echo` tool, the OpenAPI-derived
/// `openapi_echo` and the Go SDK server as `up`.
pub fn hangar(dir: &Path, backends: &Backends) -> (Proc, u16) {
    let config = format!(
        r#"apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
gateway:
  sessionIdleTimeout: {idle}s
tools:
  - name: echo
    inputSchema: {{type: object, properties: {{text: {{type: string}}}}}}
    backend: {{url: "http://127.0.0.1:{echo}/echo"}}
  - {openapi}
servers:
  - {{name: up, transport: streamable-http, url: "http://127.0.0.1:{mcp}/mcp"}}
"#,
        idle = SESSION_IDLE.as_secs(),
        echo = backends.echo_port,
        mcp = backends.mcp_port,
        openapi = openapi_echo(backends),
    );
    gateway(dir, "hangar", &config)
}

/// `hangar gateway` with tool search on over the tests' 1,000-tool catalog
/// (`tests/support/catalog.rs`), every tool backed by the echo backend.
pub fn hangar_searching(dir: &Path, backends: &Backends) -> (Proc, u16) {
    let backend = format!("http://127.0.0.1:{}/echo", backends.echo_port);
    let tools: String = crate::catalog::tools(&backend)
        .iter()
        .map(|tool| format!("  - {tool}\n"))
        .collect();
    let config = format!(
        "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\n\
         gateway: {{sessionIdleTimeout: {idle}s}}\ntoolSearch: {{}}\ntools:\n{tools}",
        idle = SESSION_IDLE.as_secs(),
    );
    gateway(dir, "hangar-search", &config)
}

/// `hangar gateway` serving `config`, once it listens.
fn gateway(dir: &Path, name: &str, config: &str) -> (Proc, u16) {
    let port = free_port();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, config).unwrap();
    let mut proc = Proc::spawn(
        "hangar gateway",
        &hangar_bin(),
        &[
            "gateway".into(),
            "--config".into(),
            path.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ],
        &dir.join(format!("{name}.log")),
    );
    wait_for_port(&mut proc, port);
    (proc, port)
}

/// ToolHive's vMCP with the Go SDK server as its one static backend `up`.
pub fn vmcp(dir: &Path, backends: &Backends) -> (Proc, u16) {
    let port = free_port();
    let config = format!(
        r#"name: bench
groupRef: bench
backends:
  - {{name: up, url: "http://127.0.0.1:{mcp}/mcp", transport: streamable-http}}
incomingAuth: {{type: anonymous}}
outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}
aggregation:
  conflictResolution: prefix
  conflictResolutionConfig: {{prefixFormat: "{{workload}}_"}}
"#,
        mcp = backends.mcp_port,
    );
    let path = dir.join("vmcp.yaml");
    std::fs::write(&path, config).unwrap();
    let mut proc = Proc::spawn(
        "vmcp",
        &bench_bin("vmcp"),
        &[
            "serve".into(),
            "--config".into(),
            path.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--session-ttl".into(),
            format!("{}s", SESSION_IDLE.as_secs()),
        ],
        &dir.join("vmcp.log"),
    );
    wait_for_port(&mut proc, port);
    (proc, port)
}

/// The protocol era a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: no session, per-request `_meta`.
    Stateless,
    /// 2025-11-25: `initialize`, then `Mcp-Session-Id` on every call.
    Session,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Stateless => "2026-07-28 stateless",
            Era::Session => "2025-11-25 session",
        }
    }
}

const ARGUMENTS: &str = r#"{"text":"benchmark"}"#;

/// A plain POST of the tool's arguments to its HTTP backend.
pub fn plain_post(url: String) -> Shape {
    Shape {
        url,
        headers: vec![("Content-Type".into(), "application/json".into())],
        // wrk's script puts the call counter where ID is; the backend echoes it.
        body: r#"{"text":"benchmark","n":ID}"#.into(),
        sessions: vec![],
        answer_contains: "benchmark".into(),
    }
}

/// `tools/call` of an echoing `tool` in `era` (sessions are begun by [`sessions`]).
pub fn tools_call(url: String, tool: &str, era: Era, sessions: Vec<String>) -> Shape {
    call_shape(url, tool, ARGUMENTS, era, sessions, "benchmark")
}

/// The query `search_tools` is measured with, and the tool it finds.
const SEARCH: (&str, &str) = (
    r#"{"query":"open a new bug report in our GitHub repository","limit":5}"#,
    "github_create_issue",
);

/// `search_tools` in `era` on [`hangar_searching`]'s catalog.
pub fn search_tools(url: String, era: Era, sessions: Vec<String>) -> Shape {
    let (arguments, found) = SEARCH;
    call_shape(url, "search_tools", arguments, era, sessions, found)
}

fn call_shape(
    url: String,
    tool: &str,
    arguments: &str,
    era: Era,
    sessions: Vec<String>,
    answer_contains: &str,
) -> Shape {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "Accept".to_string(),
            "application/json, text/event-stream".to_string(),
        ),
    ];
    let meta = match era {
        Era::Stateless => {
            headers.push(("MCP-Protocol-Version".into(), "2026-07-28".into()));
            headers.push(("Mcp-Method".into(), "tools/call".into()));
            headers.push(("Mcp-Name".into(), tool.into()));
            r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"wrk","version":"1"}}"#
        }
        Era::Session => {
            headers.push(("MCP-Protocol-Version".into(), "2025-11-25".into()));
            ""
        }
    };
    Shape {
        url,
        headers,
        body: format!(
            r#"{{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}{meta}}}}}"#
        ),
        sessions,
        answer_contains: answer_contains.into(),
    }
}

/// Begins `count` legacy sessions at `url` (initialize, then initialized).
pub async fn sessions(http: &reqwest::Client, url: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(session(http, url).await);
    }
    ids
}

async fn session(http: &reqwest::Client, url: &str) -> String {
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
    });
    let response = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap_or_else(|e| panic!("initialize at {url}: {e}"));
    let id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{url} began no session: {response:?}"))
        .to_string();
    let body = response.text().await.unwrap();
    assert!(body.contains("\"result\""), "initialize at {url}: {body}");
    let initialized = http
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .header("Mcp-Session-Id", &id)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert!(
        initialized.status().is_success(),
        "initialized at {url}: {}",
        initialized.status()
    );
    id
}

/// Sends one call of `shape` and checks its answer, so a table never shows
/// the speed of an error.
pub async fn check(http: &reqwest::Client, shape: &Shape) {
    let mut request = http.post(&shape.url).body(shape.body.replace("ID", "1"));
    for (name, value) in &shape.headers {
        request = request.header(name, value);
    }
    if let Some(session) = shape.sessions.first() {
        request = request.header("Mcp-Session-Id", session);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", shape.url));
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status.is_success() && body.contains(&shape.answer_contains) && !body.contains("\"error\""),
        "{} answered {status}: {body}",
        shape.url
    );
}
