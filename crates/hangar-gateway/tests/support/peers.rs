//! MCP peers for tests: `server-everything` (over stdio or HTTP) and the
//! official Python and TypeScript SDK clients run from the scripts in
//! `tests/clients`, which we did not write, and `tests/servers/member.py`,
//! our small server on the official Python SDK.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hangar_testenv::tools::{Tool, locate, node_bin};
use serde_json::Value;

pub fn node_modules() -> PathBuf {
    locate(Tool::NodeModules)
}

pub fn everything_js() -> PathBuf {
    let path = node_modules().join("@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.exists(),
        "{} is missing; run `scripts/test-deps.sh node`",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `server-everything` over an HTTP transport (`streamableHttp` or `sse`), as a child process.
pub async fn everything_over_http(mode: &str) -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new(node_bin("node"))
        .arg(everything_js())
        .arg(mode)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start server-everything");
    listening(port, &format!("server-everything {mode}")).await;
    (child, port)
}

/// The script of [`python_member`], for tests that run it themselves (over stdio).
pub fn member_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/member.py")
}

/// `tests/servers/member.py` (an MCP server on the official Python SDK)
/// serving Streamable HTTP at `/mcp` as `name`, once it listens; and its port.
pub async fn python_member(name: &str) -> (tokio::process::Child, u16) {
    python_server(member_script(), &[name]).await
}

/// A Python script of `tests/servers` run with `arguments` and then a free
/// port, once it listens there; and the port.
pub async fn python_server(script: &str, arguments: &[&str]) -> (tokio::process::Child, u16) {
    let port = free_port();
    let child = tokio::process::Command::new(locate(Tool::Python))
        .arg(script)
        .args(arguments)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    listening(port, &format!("{script} {}", arguments.join(" "))).await;
    (child, port)
}

/// Waits until something accepts connections on `port`; panics after 30 s.
async fn listening(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not open port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client script with `plan` on stdin and returns its JSON report.
/// `mode` is `legacy` (initialize handshake) or `auto` (server/discover first).
pub async fn run_client(
    program: &Path,
    script: &Path,
    url: &str,
    mode: &str,
    plan: &Value,
) -> Value {
    run_client_with(program, script, url, mode, plan, &[]).await
}

/// [`run_client`] with more environment variables for the client.
pub async fn run_client_with(
    program: &Path,
    script: &Path,
    url: &str,
    mode: &str,
    plan: &Value,
    environment: &[(&str, &str)],
) -> Value {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(program)
        .arg(script)
        .arg(url)
        .arg(mode)
        .envs(environment.iter().copied())
        .env("NODE_PATH", node_modules())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .await
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {mode} failed:\n{stderr}\n{stdout}",
        script.display()
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| {
        panic!(
            "{} {mode} printed no report ({e}):\n{stdout}\n{stderr}",
            script.display()
        )
    })
}

/// Runs `plan` with the official Python and TypeScript SDK clients, each in
/// both eras (`legacy`: the initialize handshake; `auto`: server/discover,
/// which must pick the stateless 2026-07-28 revision), and returns each
/// report labelled with who ran it (`python legacy`, …).
pub async fn run_every_client(url: &str, plan: &Value) -> Vec<(String, Value)> {
    let runs = [
        (
            "python",
            locate(Tool::Python),
            client_script("python_client.py"),
        ),
        (
            "typescript",
            node_bin("node"),
            client_script("ts_client.mjs"),
        ),
    ];
    let mut reports = Vec::new();
    for (who, program, script) in &runs {
        for mode in ["legacy", "auto"] {
            let report = run_client(program, script, url, mode, plan).await;
            let label = format!("{who} {mode}");
            let negotiated = report["protocolVersion"].as_str().unwrap_or_default();
            if mode == "legacy" {
                assert!(negotiated < "2026-07-28", "{label}: {negotiated}");
            } else {
                assert_eq!(negotiated, "2026-07-28", "{label}");
            }
            reports.push((label, report));
        }
    }
    reports
}
