//! What the end-to-end tests (`tests/e2e.rs`) use around the real cluster of
//! `hangar-testenv`: Helm, applying manifests, a client of the official Python
//! MCP SDK, a local forwarder into a Service's ClusterIP, a plain HTTP GET
//! (a gateway pod's `/readyz`), and the step times and figures the run prints;
//! `cluster` has the steps every test takes on the cluster.

pub mod cluster;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, ValidationDirective};
use kube::discovery::{Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The field manager of everything the tests apply.
const TEST_MANAGER: &str = "hangar-e2e";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Step times and the figures of the run, printed as they come and together at the end.
pub struct Report {
    started: Instant,
    last: Instant,
    figures: Vec<String>,
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

impl Report {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            figures: Vec::new(),
        }
    }

    /// Prints that `what` is done, with the time since the last step.
    pub fn step(&mut self, what: &str) {
        let now = Instant::now();
        println!(
            "e2e: {what} ({:.1}s; {:.0}s in all)",
            (now - self.last).as_secs_f64(),
            (now - self.started).as_secs_f64()
        );
        self.last = now;
    }

    /// Records a figure of the closing summary, e.g. a time from apply to Ready.
    pub fn figure(&mut self, name: &str, value: impl std::fmt::Display) {
        let line = format!("{name}: {value}");
        println!("e2e: figure {line}");
        self.figures.push(line);
    }

    pub fn summary(&self) {
        println!(
            "e2e: all scenarios passed in {:.0}s; figures:",
            self.started.elapsed().as_secs_f64()
        );
        for line in &self.figures {
            println!("  {line}");
        }
    }
}

pub fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

/// Polls `probe` every 500 ms until it returns `Some`; fails the test, naming
/// `what` and the last reason `probe` gave, after `deadline`.
pub async fn within<T>(
    deadline: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let until = Instant::now() + deadline;
    loop {
        let last = match probe().await {
            Ok(value) => return value,
            Err(why) => why,
        };
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `helm ARGS` (from `scripts/test-deps.sh kube`) against the cluster of
/// `kubeconfig`, in the repository root; its stdout, or why it failed.
pub async fn helm(kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let binary = hangar_testenv::tools::try_kube_bin("helm")?;
    let output = Command::new(&binary)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        // Helm's caches and config in a scratch place, not the user's home.
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("hangar-e2e-helm"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("hangar-e2e-helm"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("hangar-e2e-helm"),
        )
        .current_dir(repo_root())
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "helm {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Server-side applies every document of `yaml`, as `kubectl apply
/// --server-side --validate=strict` does; namespaced objects without a
/// namespace go to `namespace`.
pub async fn apply(client: &Client, namespace: &str, yaml: &str) {
    let discovery = within(Duration::from_secs(60), "API discovery", || async {
        Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let params = PatchParams {
        field_manager: Some(TEST_MANAGER.into()),
        force: true,
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let documents = serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("invalid YAML: {e}\n{yaml}"));
    for document in documents.into_iter().filter(|d| !d.is_null()) {
        let object: DynamicObject = serde_json::from_value(document.clone())
            .unwrap_or_else(|e| panic!("not a Kubernetes object ({e}): {document}"));
        let types = object.types.clone().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).expect("a valid apiVersion");
        let (resource, capabilities) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("the API server does not serve {gvk:?}"));
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Cluster => Api::all_with(client.clone(), &resource),
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                object.metadata.namespace.as_deref().unwrap_or(namespace),
                &resource,
            ),
        };
        let name = object.name_any();
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|e| panic!("the API server refused {} {name}: {e}", types.kind));
    }
}

/// A local port whose connections are forwarded to `target`, e.g. a
/// Service's ClusterIP, where kube-proxy picks a pod for each connection (as
/// `kubectl port-forward service/…` would, minus the API server). Clients
/// then send `Host: 127.0.0.1`, which a gateway always accepts. It forwards
/// for as long as the test's runtime runs.
pub struct Forward {
    pub port: u16,
}

impl Forward {
    pub async fn start(target: SocketAddr) -> Forward {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let port = listener.local_addr().expect("a local address").port();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Forward { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// `GET path` on `address` over HTTP/1.0 (so the answer ends with the
/// connection): the JSON body of a 2xx or 503 answer, e.g. a gateway's
/// `/readyz` whether ready or not.
pub async fn get_json(address: SocketAddr, path: &str) -> Result<Value, String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending to {address}: {e}"))?;
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .map_err(|e| format!("reading from {address}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{address}{path} answered no HTTP: {answer:?}"))?;
    let status_line = head.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') || code == "503" => {}
        _ => return Err(format!("{address}{path}: {status_line}")),
    }
    serde_json::from_str(body).map_err(|e| format!("{address}{path} answered {body:?}: {e}"))
}

/// One session of the official Python SDK client
/// (`crates/hangar/tests/clients/session.py`): one `initialize`, one
/// `Mcp-Session-Id`, kept for the whole life of the client.
pub struct Session {
    _child: Child,
    stdin: ChildStdin,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

/// The longest a client waits for one answer before the test fails: a call
/// that never answers is the hang the tests exist to catch.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(180);

impl Session {
    pub async fn open(url: &str) -> Result<Session, String> {
        Self::open_with_token(url, None).await
    }

    /// A session that sends `Authorization: Bearer <token>` with every request.
    pub async fn open_with_token(url: &str, token: Option<&str>) -> Result<Session, String> {
        let python = hangar_testenv::tools::try_locate(hangar_testenv::tools::Tool::Python)?;
        let script = repo_root().join("crates/hangar/tests/clients/session.py");
        let mut command = Command::new(python);
        if let Some(token) = token {
            command.env("MCP_TOKEN", token);
        }
        let mut child = command
            .arg(script)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the Python client: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut session = Session {
            _child: child,
            stdin,
            stdout,
        };
        match session.answer().await {
            Ok(ready) if ready == json!({"ready": true}) => Ok(session),
            Ok(other) => Err(format!("the client did not connect: {other}")),
            Err(why) => Err(why),
        }
    }

    /// Sends a command without waiting for its answer.
    pub async fn send(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("writing to the Python client");
    }

    /// The next answer; an `{"error": …}` answer is returned as it is.
    pub async fn answer(&mut self) -> Result<Value, String> {
        let line = tokio::time::timeout(ANSWER_DEADLINE, self.stdout.next_line())
            .await
            .map_err(|_| format!("the Python client gave no answer within {ANSWER_DEADLINE:?}"))?
            .map_err(|e| format!("reading the Python client: {e}"))?
            .ok_or("the Python client exited (its error is above)")?;
        serde_json::from_str(&line).map_err(|e| format!("the client wrote {line:?}: {e}"))
    }

    /// The sorted tool names the gateway lists.
    pub async fn tool_names(&mut self) -> Vec<String> {
        self.send(json!({"op": "list_tools"})).await;
        let answer = self.answer().await.unwrap_or_else(|why| panic!("{why}"));
        let mut names: Vec<String> = serde_json::from_value(answer["names"].clone())
            .unwrap_or_else(|_| panic!("listing tools failed: {answer}"));
        names.sort();
        names
    }

    /// Calls a tool: its text, or the error (a tool error or a failed request).
    pub async fn call(&mut self, tool: &str, arguments: Value) -> Result<String, String> {
        self.send(json!({"op": "call_tool", "name": tool, "arguments": arguments}))
            .await;
        let answer = self.answer().await?;
        if let Some(error) = answer.get("error") {
            return Err(error.to_string());
        }
        let text = answer["text"].as_str().unwrap_or_default().to_string();
        if answer["isError"] == json!(true) {
            Err(format!("tool error: {text}"))
        } else {
            Ok(text)
        }
    }
}
