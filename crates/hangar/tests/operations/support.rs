//! What the deployment and operator tests share: rendering the Helm chart and
//! the Kustomize overlays with the real tools, applying manifests to the real
//! API server, and running `hangar operator` processes and reading their
//! logs, metrics and readiness.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use hangar_testenv::eventually;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams, ValidationDirective,
};
use kube::discovery::{Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Upper bound on waiting for something the API server or an operator does;
/// a loaded 2-core machine needs a fraction of it.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The field manager of everything the tests apply.
const TEST_MANAGER: &str = "hangar-tests";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a tool built by `scripts/test-deps.sh kube` and returns its stdout.
pub fn tool(name: &str, args: &[&str]) -> String {
    let binary = hangar_testenv::tools::kube_bin(name);
    let output = Command::new(&binary)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    assert!(
        output.status.success(),
        "{name} {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// A Helm release name for a test namespace: short (Helm allows 53 characters)
/// and, like the namespace, unique on this control plane, so the cluster-scoped
/// objects of two tests never collide.
pub fn release_for(namespace: &str) -> String {
    let number = namespace.rsplit('-').next().unwrap_or_default();
    format!("hangar-{number}")
}

/// `helm template RELEASE deploy/helm/hangar --namespace NAMESPACE --include-crds [--set …]`,
/// rendered for the test API server (1.36, which serves MutatingAdmissionPolicy)
/// as `helm install` would be, but without the finalizer policy unless `sets`
/// turn it on: bound in every namespace of the shared control plane, it would
/// hold the deletion of other tests' MCPServers where no operator runs.
pub fn helm_template(release: &str, namespace: &str, sets: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        release,
        "deploy/helm/hangar",
        "--namespace",
        namespace,
        "--include-crds",
        "--api-versions",
        "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy",
    ];
    if !sets.iter().any(|set| set.starts_with("finalizerPolicy.")) {
        args.extend(["--set", "finalizerPolicy.enabled=false"]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    documents(&tool("helm", &args))
}

/// The objects of these kinds, in order.
pub fn of_kinds(objects: Vec<Value>, kinds: &[&str]) -> Vec<Value> {
    objects
        .into_iter()
        .filter(|o| kinds.contains(&kind_of(o)))
        .collect()
}

/// Narrows a MutatingAdmissionPolicyBinding to `namespace` (other objects
/// pass unchanged), so the finalizer policy adds nothing to other tests' servers.
pub fn bound_to(namespace: &str, mut object: Value) -> Value {
    if kind_of(&object) == "MutatingAdmissionPolicyBinding" {
        object["spec"]["matchResources"] = serde_json::json!({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        });
    }
    object
}

/// `kustomize build deploy/kustomize/overlays/OVERLAY`.
pub fn kustomize_build(overlay: &str) -> Vec<Value> {
    documents(&tool(
        "kustomize",
        &["build", &format!("deploy/kustomize/overlays/{overlay}")],
    ))
}

/// The non-empty documents of a multi-document YAML stream.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap_or_else(|e| panic!("invalid YAML: {e}\n{yaml}"))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The documents of every file in `examples/kubernetes`, with their file names.
pub fn examples() -> Vec<(String, Vec<Value>)> {
    let dir = repo_root().join("examples/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, documents(&text))
        })
        .collect()
}

pub fn kind_of(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Server-side applies `objects` (CRDs first), with strict field validation so
/// that an unknown or misspelt field is an error, not silently dropped.
/// Namespaced objects without a namespace go to `namespace`.
pub async fn apply_all(client: &Client, objects: &[Value], namespace: &str) {
    let (crds, rest): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| kind_of(o) == "CustomResourceDefinition");
    apply_each(client, &crds, namespace).await;
    // Discovery after the CRDs, so their kinds resolve.
    apply_each(client, &rest, namespace).await;
}

async fn apply_each(client: &Client, objects: &[&Value], namespace: &str) {
    if objects.is_empty() {
        return;
    }
    // Discovery fails while another test's CRDs are still being established: retry.
    let discovery = eventually("API discovery", || async {
        Discovery::new(client.clone()).run().await.ok()
    })
    .await;
    let params = PatchParams {
        field_manager: Some(TEST_MANAGER.into()),
        force: true,
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    for object in objects {
        let object: DynamicObject = serde_json::from_value((*object).clone())
            .unwrap_or_else(|e| panic!("not a Kubernetes object ({e}): {object}"));
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

/// A namespace that enforces the Pod Security Standard "restricted".
pub async fn restricted_namespace(plane: &hangar_testenv::ControlPlane) -> String {
    plane
        .namespace_with_labels(&[("pod-security.kubernetes.io/enforce", "restricted")])
        .await
}

/// Asserts that the pods of every Deployment in `objects` pass the Pod Security
/// Standard "restricted" (a server-side dry run of each pod template in
/// `namespace`, which must enforce it).
pub async fn assert_pods_restricted(client: &Client, objects: &[Value], namespace: &str) {
    let enforced = Api::<Namespace>::all(client.clone())
        .get(namespace)
        .await
        .unwrap()
        .labels()
        .get("pod-security.kubernetes.io/enforce")
        .cloned();
    assert_eq!(
        enforced.as_deref(),
        Some("restricted"),
        "{namespace} must enforce restricted"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut checked = 0;
    for deployment in objects.iter().filter(|o| kind_of(o) == "Deployment") {
        let template = &deployment["spec"]["template"];
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("{}-dry-run", name_of(deployment)), "labels": template["metadata"]["labels"]},
            "spec": template["spec"],
        }))
        .unwrap();
        pods.create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod,
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the pod of Deployment {} is not restricted: {e}",
                name_of(deployment)
            )
        });
        checked += 1;
    }
    assert!(checked > 0, "no Deployment in the manifests");
}

/// The holder of Lease `namespace/name`, if it exists and is held.
pub async fn lease_holder(client: &Client, namespace: &str, name: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .expect("reading the Lease")?;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// A `hangar operator` process whose stderr (the logs) is collected line by line.
/// Killed (SIGKILL) when dropped, if still running.
pub struct Operator {
    pub name: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

impl Operator {
    /// Starts `hangar operator ARGS` with KUBECONFIG=`kubeconfig`, POD_NAME=`name`
    /// and `env`, listening for metrics on a free loopback port, and waits until
    /// it says where.
    pub fn spawn(name: &str, kubeconfig: &Path, args: &[String], env: &[(&str, &str)]) -> Operator {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
        command
            .arg("operator")
            .args(args)
            .arg("--metrics-addr=127.0.0.1:0")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("HANGAR_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting hangar operator");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let logs = logs.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(record) = serde_json::from_str::<Value>(&line)
                        && record["message"] == "operator starting"
                    {
                        let addr = record["addr"].as_str().unwrap_or_default();
                        let _ = addr_tx.send(addr.parse::<SocketAddr>().ok());
                    }
                    logs.lock().unwrap().push(line);
                }
            }
        });
        let addr = addr_rx.recv_timeout(DEADLINE).ok().flatten();
        let mut operator = Operator {
            name: name.into(),
            child,
            logs,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        match addr {
            Some(addr) => operator.addr = addr,
            None => panic!(
                "operator {name} did not say where it serves metrics; status {:?}; logs:\n{}",
                operator.child.try_wait(),
                operator.logs().join("\n")
            ),
        }
        operator
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The log lines as JSON; panics naming a line that is not a JSON object.
    pub fn records(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(record) if record.is_object() => record,
                _ => panic!(
                    "operator {}: a log line that is not a JSON object: {line}",
                    self.name
                ),
            })
            .collect()
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .try_wait()
            .expect("checking the operator process")
    }

    /// SIGKILL: the process dies without any chance to clean up.
    pub fn kill(&mut self) {
        self.child.kill().expect("killing the operator");
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits (up to [`DEADLINE`]) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        let sent = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(sent, 0, "sending SIGTERM to {}", self.name);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "operator {} did not exit after SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET path` on the metrics address: status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
    }

    /// The value of the sample `series` (name with labels, exactly as exposed)
    /// in `/metrics`, if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200, "/metrics of {}", self.name);
        body.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(name, _)| *name == series)
            .map(|(_, value)| value.parse().expect("a number"))
    }

    /// `/readyz` as JSON.
    pub fn readiness(&self) -> (u16, Value) {
        let (code, body) = self.get("/readyz");
        (
            code,
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("/readyz body: {body}")),
        )
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- logs of operator {} ---\n{}",
                self.name,
                self.logs().join("\n")
            );
        }
    }
}

/// A minimal HTTP/1.0 GET (the operator's endpoints answer with a length and close).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

/// Creates the MCPServer of `yaml` (without apiVersion and kind) in `namespace`.
pub async fn create_server(client: &Client, namespace: &str, yaml: &str) -> hangar_api::MCPServer {
    let text = format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n{yaml}");
    let server: hangar_api::MCPServer =
        serde_json::from_value(serde_saphyr::from_str(&text).unwrap()).unwrap();
    Api::<hangar_api::MCPServer>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &server)
        .await
        .unwrap()
}

/// True once every object of `kind` in `namespace` has a status for its current generation.
pub async fn all_reconciled(client: &Client, namespace: &str, kind: &str) -> Option<usize> {
    let plural = hangar_api::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("{kind} is not a Hangar kind"))
        .spec
        .names
        .plural;
    let resource = kube::api::ApiResource {
        group: hangar_api::GROUP.into(),
        version: hangar_api::VERSION.into(),
        api_version: format!("{}/{}", hangar_api::GROUP, hangar_api::VERSION),
        kind: kind.into(),
        plural,
    };
    let objects = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &resource)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let done = objects.iter().all(|o| {
        o.data["status"]["observedGeneration"].as_i64().is_some()
            && o.data["status"]["observedGeneration"].as_i64() == o.metadata.generation
    });
    (done && !objects.is_empty()).then_some(objects.len())
}

/// An OTLP/HTTP receiver that keeps the body of every request to /v1/traces.
pub struct OtlpCollector {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl OtlpCollector {
    pub fn start() -> OtlpCollector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        std::thread::spawn({
            let bodies = bodies.clone();
            move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { break };
                    if let Some((path, body)) = read_request(stream)
                        && path == "/v1/traces"
                    {
                        bodies.lock().unwrap().push(body);
                    }
                }
            }
        });
        OtlpCollector { addr, bodies }
    }

    /// The value for OTEL_EXPORTER_OTLP_ENDPOINT.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request with a Content-Length body and answers 200.
fn read_request(stream: TcpStream) -> Option<(String, Vec<u8>)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    Some((path, body))
}

/// A real MCP server on a loopback port: the reference `server-everything`
/// (TypeScript SDK) over Streamable HTTP. Killed when dropped.
pub struct McpServer {
    port: u16,
    child: Child,
}

impl McpServer {
    pub fn start() -> McpServer {
        let port = closed_port();
        let child = hangar_testenv::tools::node_command("mcp-server-everything")
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mcp-server-everything");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < DEADLINE,
                "mcp-server-everything did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        McpServer { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (free when this returns).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
