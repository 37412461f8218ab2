//! Serving MCP end to end: the operator's controllers (in this process)
//! against a real kube-apiserver, the real `hangar gateway` and `hangar up`
//! binaries, real MCP servers (`member.py`, official Python SDK) and the
//! official Python SDK client. The test plays the kubelet: it writes the
//! ConfigMap the operator compiled into a directory the way a ConfigMap
//! volume is updated (a `..data` symlink swap), and stands in for a pod's
//! readiness and cluster DNS where a scaled-up Deployment would run.
//!
//! Long on purpose: the scenarios share one control plane and the helpers that
//! start the processes; a binary per scenario would link and start them again.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod python_client;

use hangar_api::{MCPTool, crds};
use hangar_config::GatewayConfig;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, server};
use hangar_testenv::{Identity, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use python_client::Session;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn python() -> PathBuf {
    hangar_testenv::tools::locate(hangar_testenv::tools::Tool::Python)
}

fn member_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hangar-gateway/tests/servers/member.py")
}

/// Waits until something accepts connections on `port` (or, with `open`
/// false, until nothing does).
async fn port_becomes(port: u16, open: bool) {
    eventually(
        &format!("port {port} to {}", if open { "open" } else { "close" }),
        || async move {
            let is_open = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok();
            (is_open == open).then_some(())
        },
    )
    .await;
}

/// `member.py NAME PORT`: an MCP server that answers `whoami` with NAME.
async fn member(name: &str, port: u16) -> Child {
    let child = Command::new(python())
        .arg(member_script())
        .arg(name)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start member.py");
    port_becomes(port, true).await;
    child
}

/// The operator's controllers, in this process, on a fresh namespace.
async fn operator() -> (Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace().await;
    let client = plane.client();
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::default()),
        BuildSettings {
            hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
            ..BuildSettings::default()
        },
    ));
    let (c, n) = (ctx.clone(), ns.clone());
    tokio::spawn(async move { gateway::run(c, Some(&n), std::future::pending()).await });
    let (c, n) = (ctx, ns.clone());
    tokio::spawn(async move { server::run(c, Some(&n), std::future::pending()).await });
    (client, ns)
}

/// Creates the objects of a multi-document YAML text.
async fn create_all(client: &Client, ns: &str, yaml: &str) {
    for document in serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
    {
        let object: DynamicObject = serde_json::from_value(document).unwrap();
        let types = object.types.clone().unwrap();
        let (group, version) = types.api_version.split_once('/').unwrap();
        let gvk = GroupVersionKind::gvk(group, version, &types.kind);
        let plural = format!("{}s", types.kind.to_lowercase());
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::from_gvk_with_plural(&gvk, &plural),
        );
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating {}: {e}", types.kind));
    }
}

/// The gateway config the operator wrote for gateway `name`, once `ready` accepts it.
async fn compiled_config(
    client: &Client,
    ns: &str,
    name: &str,
    ready: impl Fn(&GatewayConfig) -> bool,
) -> GatewayConfig {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let ready = &ready;
    eventually("the compiled gateway config", || async {
        let mut config_map = config_maps
            .get_opt(&format!("{name}-config"))
            .await
            .unwrap()?;
        let text = config_map.data.as_mut()?.remove("gateway.yaml")?;
        let config = GatewayConfig::parse(&text, "ConfigMap")
            .unwrap()
            .into_inner();
        ready(&config).then_some(config)
    })
    .await
}

/// A directory laid out like a ConfigMap volume: `gateway.yaml` →
/// `..data/gateway.yaml`, `..data` → the current version's directory.
struct ConfigVolume {
    dir: tempfile::TempDir,
    version: u32,
}

impl ConfigVolume {
    fn new(content: &str) -> Self {
        let mut volume = ConfigVolume {
            dir: tempfile::tempdir().unwrap(),
            version: 0,
        };
        volume.update(content);
        std::os::unix::fs::symlink("..data/gateway.yaml", volume.path()).unwrap();
        volume
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("gateway.yaml")
    }

    /// What the kubelet does: write the new version aside, swap `..data` atomically.
    fn update(&mut self, content: &str) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.path().join(&version)).unwrap();
        std::fs::write(self.dir.path().join(&version).join("gateway.yaml"), content).unwrap();
        let staged = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).unwrap();
        std::fs::rename(&staged, self.dir.path().join("..data")).unwrap();
    }
}

/// A `hangar` subcommand running as a child process, serving on `port`.
struct Hangar {
    _child: Child,
    port: u16,
}

impl Hangar {
    async fn start(args: &[&str], port: u16, kubeconfig: Option<&Path>) -> Self {
        Self::start_with_env(args, port, kubeconfig, &[]).await
    }

    /// Like [`Hangar::start`], with environment variables as a pod's.
    async fn start_with_env(
        args: &[&str],
        port: u16,
        kubeconfig: Option<&Path>,
        env: &[(String, String)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HANGAR_LOG", "warn,rmcp=off")
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        match kubeconfig {
            Some(path) => command.env("KUBECONFIG", path),
            None => command.env_remove("KUBECONFIG"),
        };
        let child = command.spawn().expect("start hangar");
        let hangar = Hangar {
            _child: child,
            port,
        };
        eventually("the gateway to be ready", || async {
            let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                .await
                .ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        hangar
    }

    fn mcp(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Stops it as Kubernetes or Ctrl-C would (SIGTERM) and waits for it to exit.
    async fn stop(mut self) {
        let pid = self._child.id().expect("still running");
        // SAFETY: signalling a child process this test started and has not reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        tokio::time::timeout(Duration::from_secs(30), self._child.wait())
            .await
            .expect("hangar exits after SIGTERM")
            .unwrap();
    }

    async fn readiness(&self) -> Value {
        reqwest::get(format!("http://127.0.0.1:{}/readyz", self.port))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A local HTTP service standing in for an MCPTool's backend.
async fn forecast_backend() -> u16 {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().route(
        "/forecast",
        post(|axum::Json(body): axum::Json<Value>| async move {
            axum::Json(json!({"city": body["city"], "sky": "clear"}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_gets_what_the_operator_compiled_and_hears_about_changes() {
    let (client, ns) = operator().await;
    let backend = forecast_backend().await;
    let member_port = free_port();
    let _member = member("weather", member_port).await;
    create_all(
        &client,
        &ns,
        &format!(
            r##"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {{name: e2e}}
spec:
  replicas: 1
  toolSelector: {{matchLabels: {{gateway: e2e}}}}
  serverSelector: {{matchLabels: {{gateway: e2e}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {{name: forecast, labels: {{gateway: e2e}}}}
spec:
  description: Tomorrow's sky
  inputSchema: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
  backend: {{url: "http://127.0.0.1:{backend}", path: /forecast, method: POST}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {{name: stocks, labels: {{gateway: other}}}}
spec: {{backend: {{url: "http://127.0.0.1:{backend}/stocks"}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPPrompt
metadata: {{name: review, labels: {{gateway: e2e}}}}
spec: {{arguments: [{{name: code, required: true}}], messages: [{{role: user, text: "Review {{{{code}}}}"}}]}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPResource
metadata: {{name: handbook, labels: {{gateway: e2e}}}}
spec: {{uri: "docs://handbook", mimeType: text/markdown, inline: {{text: "# Handbook"}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: weather, labels: {{gateway: e2e}}}}
spec: {{mode: remote, endpoint: "http://127.0.0.1:{member_port}/mcp"}}
"##
        ),
    )
    .await;
    let config = compiled_config(&client, &ns, "e2e", |c| {
        c.tools.len() + c.prompts.len() + c.resources.len() + c.servers.len() == 4
    })
    .await;
    let mut volume = ConfigVolume::new(&config.to_yaml());
    let port = free_port();
    let config_path = volume.path();
    let gateway = Hangar::start(
        &[
            "gateway",
            "--config",
            config_path.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        port,
        None,
    )
    .await;

    let mut session = Session::open(&gateway.mcp()).await;
    assert_eq!(
        session.tool_names().await,
        [
            "forecast",
            "weather_calls",
            "weather_fail",
            "weather_slow",
            "weather_whoami"
        ],
        "exactly the selected tool and the selected server's tools"
    );
    let forecast = session
        .ask(json!({"op": "call_tool", "name": "forecast", "arguments": {"city": "Oslo"}}))
        .await;
    assert_eq!(forecast["isError"], false, "{forecast}");
    assert_eq!(
        forecast["structured"],
        json!({"city": "Oslo", "sky": "clear"})
    );
    let prompt = session
        .ask(json!({"op": "get_prompt", "name": "review", "arguments": {"code": "fn main() {}"}}))
        .await;
    assert_eq!(
        prompt["messages"],
        json!([{"role": "user", "text": "Review fn main() {}"}])
    );
    let resource = session
        .ask(json!({"op": "read_resource", "uri": "docs://handbook"}))
        .await;
    assert_eq!(
        resource,
        json!({"text": "# Handbook", "mimeType": "text/markdown"})
    );
    let federated = session
        .ask(json!({"op": "call_tool", "name": "weather_whoami", "arguments": {}}))
        .await;
    assert_eq!(federated["text"], "weather");

    // Relabel: stocks joins, forecast leaves. The operator rewrites the
    // ConfigMap, the kubelet (this test) swaps it in, the gateway reloads.
    let tools: Api<MCPTool> = Api::namespaced(client.clone(), &ns);
    for (name, gateway) in [("stocks", "e2e"), ("forecast", "other")] {
        tools
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"gateway": gateway}}})),
            )
            .await
            .unwrap();
    }
    let relabelled = compiled_config(&client, &ns, "e2e", |c| {
        c.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>() == ["stocks"]
    })
    .await;
    let swapped = Instant::now();
    volume.update(&relabelled.to_yaml());
    let changed = session
        .ask(json!({"op": "wait_tools_changed", "seen": 0}))
        .await;
    println!(
        "list_changed reached the same session {:?} after the swap",
        swapped.elapsed()
    );
    assert!(changed["changed"].as_u64().unwrap() >= 1);
    assert_eq!(
        session.tool_names().await,
        [
            "stocks",
            "weather_calls",
            "weather_fail",
            "weather_slow",
            "weather_whoami"
        ]
    );
    drop(gateway);
}

/// Every renewal of the gateway's activity Lease `name`, as a watch sees it.
fn count_activity(client: &Client, ns: &str, name: &str) -> Arc<Mutex<Vec<String>>> {
    use futures::StreamExt;
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let record = seen.clone();
    tokio::spawn(async move {
        let mut stream = watcher(api, config).applied_objects().boxed();
        while let Some(Ok(lease)) = stream.next().await {
            if let Some(at) = lease.spec.and_then(|spec| spec.renew_time) {
                let at = at.0.to_string();
                let mut seen = record.lock().unwrap();
                if seen.last() != Some(&at) {
                    seen.push(at);
                }
            }
        }
    });
    seen
}

async fn deployment_replicas(deployments: &Api<Deployment>, name: &str) -> Option<i32> {
    deployments.get_opt(name).await.unwrap()?.spec?.replicas
}

/// Until `probe` yields, with the time it took.
async fn timed<T, F, Fut>(what: &str, probe: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let value = eventually(what, probe).await;
    (value, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_wakes_a_cold_server_and_idleness_scales_it_back_to_zero() {
    let (client, ns) = operator().await;
    let plane = hangar_testenv::shared().await;
    let server_port = free_port();
    create_all(
        &client,
        &ns,
        &format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {{name: edge}}
spec: {{replicas: 1, serverSelector: {{matchLabels: {{gateway: edge}}}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: cold, labels: {{gateway: edge}}}}
spec: {{image: ghcr.io/acme/cold, replicas: 0, idleTTL: 8s, port: {server_port}}}
"#
        ),
    )
    .await;
    let mut config = compiled_config(&client, &ns, "edge", |c| c.servers.len() == 1).await;
    let cold = config.servers[0].scale_to_zero.clone().unwrap();
    assert_eq!(
        (
            cold.mcp_server.unwrap().to_string(),
            cold.activity_lease.unwrap().to_string(),
            cold.idle_ttl.to_string()
        ),
        (
            format!("{ns}/cold"),
            format!("{ns}/cold.edge.activity"),
            "8s".to_string()
        )
    );
    // The gateway's pods get exactly the rights to wake it.
    for kind in ["ServiceAccount", "Role", "RoleBinding"] {
        eventually(&format!("the gateway's {kind}"), || async {
            let exists = match kind {
                "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), &ns)
                    .get_opt("edge")
                    .await
                    .unwrap()
                    .is_some(),
                "Role" => Api::<Role>::namespaced(client.clone(), &ns)
                    .get_opt("edge")
                    .await
                    .unwrap()
                    .is_some(),
                _ => Api::<RoleBinding>::namespaced(client.clone(), &ns)
                    .get_opt("edge")
                    .await
                    .unwrap()
                    .is_some(),
            };
            exists.then_some(())
        })
        .await;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("the cold server's Deployment at 0", || async {
        (deployment_replicas(&deployments, "cold").await? == 0).then_some(())
    })
    .await;

    // Cluster DNS stand-in: the config names cold.<ns>.svc; the pod will be this machine.
    config.servers[0].url = Some(format!("http://127.0.0.1:{server_port}/mcp"));
    let volume = ConfigVolume::new(&config.to_yaml());
    // The gateway runs as its ServiceAccount: only the operator's Role lets it renew its Lease.
    let kubeconfig = plane.kubeconfig_as(&Identity::service_account(&ns, "edge"));
    let port = free_port();
    let config_path = volume.path();
    let gateway = Hangar::start(
        &[
            "gateway",
            "--config",
            config_path.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        port,
        Some(&kubeconfig),
    )
    .await;
    assert_eq!(
        gateway.readiness().await["servers"]["cold"]["state"],
        "idle"
    );
    let activity = count_activity(&client, &ns, "cold.edge.activity");

    let mut session = Session::open(&gateway.mcp()).await;
    let called = Instant::now();
    session
        .send(json!({"op": "call_tool", "name": "cold_whoami", "arguments": {}}))
        .await;
    // The call renewed the Lease; the operator scales the Deployment up.
    let (_, scaled_up) = timed("the Deployment to scale to 1", || async {
        (deployment_replicas(&deployments, "cold").await? == 1).then_some(())
    })
    .await;
    assert!(
        !activity.lock().unwrap().is_empty(),
        "the Lease was renewed"
    );
    // The kubelet's part: the pod runs and is available.
    let _pod = member("cold", server_port).await;
    deployments
        .patch_status(
            "cold",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}})),
        )
        .await
        .unwrap();
    let answer = session.answer().await;
    let woke_in = called.elapsed();
    assert_eq!(answer["text"], "cold", "{answer}");
    println!(
        "wake: Deployment scaled up {scaled_up:?} after the call, the call completed after {woke_in:?}"
    );

    // A busy gateway: many calls, few PATCHes (at most one per min(idleTTL/4, 30s) = 2s).
    let before = activity.lock().unwrap().len();
    let burst = Instant::now();
    let mut calls = 0;
    while burst.elapsed() < Duration::from_secs(5) {
        let answer = session
            .ask(json!({"op": "call_tool", "name": "cold_whoami", "arguments": {}}))
            .await;
        assert_eq!(answer["text"], "cold");
        calls += 1;
    }
    let last_call = Instant::now();
    let elapsed = burst.elapsed();
    // The trailing report covering the last call comes within one interval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let patches = activity.lock().unwrap().len() - before;
    // Reports at least an interval apart, from the burst to one interval after it.
    let bound = (elapsed.as_secs_f64() / 2.0).floor() as usize + 2;
    println!("{calls} calls in {elapsed:?}: {patches} activity PATCHes (bound {bound})");
    assert!(calls >= 20, "only {calls} calls");
    assert!(
        (1..=bound).contains(&patches),
        "{patches} PATCHes for {calls} calls"
    );

    // No calls for idleTTL: the operator scales the Deployment back to zero.
    eventually("the Deployment to scale back to 0", || async {
        (deployment_replicas(&deployments, "cold").await? == 0).then_some(())
    })
    .await;
    let idle = last_call.elapsed();
    println!("back to 0 replicas {idle:?} after the last call (idleTTL 8s)");
    assert!(idle >= Duration::from_secs(8), "not before idleTTL");
    eventually("the gateway to let go of the server", || async {
        (gateway.readiness().await["servers"]["cold"]["state"] == "idle").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangar_up_starts_a_cold_server_on_the_first_call_and_stops_it_when_idle() {
    let server_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("servers.yaml"),
        format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: lazy}}
spec:
  image: ghcr.io/acme/lazy
  command: ["{python}", "{script}"]
  args: [lazy, "{server_port}"]
  port: {server_port}
  replicas: 0
  idleTTL: 3s
"#,
            python = python().display(),
            script = member_script().display(),
        ),
    )
    .unwrap();
    let port = free_port();
    let up = Hangar::start(
        &[
            "up",
            "-f",
            dir.path().to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        port,
        None,
    )
    .await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", server_port))
            .await
            .is_err(),
        "not started before a call"
    );
    let mut session = Session::open(&up.mcp()).await;
    let called = Instant::now();
    let answer = session
        .ask(json!({"op": "call_tool", "name": "lazy_whoami", "arguments": {}}))
        .await;
    let woke_in = called.elapsed();
    assert_eq!(answer["text"], "lazy", "{answer}");
    println!("hangar up: the first call started the server and completed in {woke_in:?}");
    let (_, stopped) = timed("the idle server's process to stop", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", server_port))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    println!("hangar up: stopped {stopped:?} after the call (idleTTL 3s)");
    let answer = session
        .ask(json!({"op": "call_tool", "name": "lazy_whoami", "arguments": {}}))
        .await;
    assert_eq!(answer["text"], "lazy", "started again by the next call");
    // Stopping hangar up stops what it started.
    up.stop().await;
    port_becomes(server_port, false).await;
}

/// The managed Redis as the operator builds it: `redis-server` with exactly
/// the Deployment's arguments and the generated Secret's config file, and the
/// `hangar gateway` binary with the compiled config and the pod's environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_redis_refuses_clients_without_its_password_and_serves_the_gateway() {
    managed_redis(None).await;
}

/// The same with `redis.tls`: Redis serves only TLS with the user's
/// certificate, and the gateway connects over `rediss://` trusting the CA
/// from the same Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_redis_with_tls_serves_only_tls_and_the_gateway_trusts_its_ca() {
    let tls = TlsFiles::generate(&["edge-redis.team.svc", "127.0.0.1"]);
    managed_redis(Some(&tls)).await;
}

/// A CA and a certificate it signed, as the files of a `kubernetes.io/tls` Secret.
struct TlsFiles {
    dir: tempfile::TempDir,
}

impl TlsFiles {
    fn generate(names: &[&str]) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "redis test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut leaf = CertificateParams::new(names.clone()).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, names[0].clone());
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (file, pem) in [
            ("ca.crt", ca_cert.pem()),
            ("tls.crt", cert.pem()),
            ("tls.key", key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(file), pem).unwrap();
        }
        TlsFiles { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_str().unwrap().to_string()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap()
    }
}

async fn managed_redis(tls: Option<&TlsFiles>) {
    use hangar_compile::{Candidates, SecretDestinations, Target, compile};
    use hangar_operator::gateway::build::{
        CONFIG_KEY, REDIS_CONFIG_DIR, REDIS_CONFIG_KEY, REDIS_TLS_DIR, build, redis_secret,
    };
    use hangar_testenv::redis::{RedisServer, free_port as free_redis_port};

    let tls_spec = if tls.is_some() {
        ", tls: {secretName: redis-tls}"
    } else {
        ""
    };
    let manifests = hangar_manifests::parse(
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {{name: edge, namespace: team, uid: u1}}\n\
             spec: {{replicas: 2, redis: {{managed: true{tls_spec}}}}}\n"
        ),
        "test",
    )
    .unwrap();
    let gateway = &manifests.gateways[0];
    let compiled = compile(
        &Candidates::default().select(Some(gateway)),
        Target::Cluster {
            namespace: "team",
            secrets: &SecretDestinations::Unchecked,
        },
    );
    let objects = build(gateway, &compiled, &BuildSettings::default());
    let password = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let data = redis_secret(gateway, password).string_data.unwrap();

    // The kubelet's part: the Secrets' files where the pod mounts them, and a
    // free port of this machine for the pod's 6379.
    let mounted = tempfile::tempdir().unwrap();
    std::fs::write(
        mounted.path().join(REDIS_CONFIG_KEY),
        &data[REDIS_CONFIG_KEY],
    )
    .unwrap();
    let pod = objects
        .redis_deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let port = free_redis_port();
    let mut args: Vec<String> = pod.containers[0]
        .args
        .clone()
        .unwrap()
        .into_iter()
        .skip(1) // the image's command name, `redis-server`
        .map(|arg| arg.replace(REDIS_CONFIG_DIR, mounted.path().to_str().unwrap()))
        .map(|arg| match tls {
            Some(files) => arg.replace(REDIS_TLS_DIR, files.dir.path().to_str().unwrap()),
            None => arg,
        })
        .map(|arg| if arg == "6379" { port.to_string() } else { arg })
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--protected-mode", "yes"]),
        "{args:?}"
    );
    if tls.is_none() {
        args.extend(["--port".to_string(), port.to_string()]);
    }
    let redis = RedisServer::start_with(&args, port);
    let client = |extra: &[&str]| {
        let mut command: Vec<String> = Vec::new();
        if let Some(files) = tls {
            command.extend(["--tls".into(), "--cacert".into(), files.path("ca.crt")]);
        }
        command.extend(extra.iter().map(|a| a.to_string()));
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        redis.cli(&command)
    };

    // Without the password, nothing: not a read, not a write, not a guess.
    for command in [
        &["PING"][..],
        &["GET", "hangar:team/edge:session"],
        &["SET", "k", "v"],
    ] {
        let answer = client(command);
        assert!(answer.contains("NOAUTH"), "{command:?}: {answer}");
    }
    let wrong = client(&["-a", "guess", "--no-auth-warning", "PING"]);
    assert!(!wrong.contains("PONG"), "{wrong}");
    let right = client(&["-a", password, "--no-auth-warning", "PING"]);
    assert!(right.contains("PONG"), "{right}");
    if tls.is_some() {
        // No plain port: a client without TLS gets no answer at all.
        let plain = redis.cli(&["-a", password, "--no-auth-warning", "PING"]);
        assert!(
            !plain.contains("PONG") && !plain.contains("NOAUTH"),
            "{plain}"
        );
    }

    // The gateway, as its pod runs: the URL the Deployment gives (cluster DNS
    // stands in for 127.0.0.1) and the values of the Secrets' keys.
    let container = &objects
        .deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0];
    let mut env = Vec::new();
    for var in container.env.clone().unwrap() {
        if let Some(value) = var.value {
            let local = value.replace("edge-redis.team.svc:6379", &format!("127.0.0.1:{port}"));
            env.push((var.name, local));
        } else if let Some(from) = var.value_from.and_then(|from| from.secret_key_ref) {
            let value = match (from.name.as_str(), tls) {
                ("edge-redis", _) => data[&from.key].clone(),
                ("redis-tls", Some(files)) => files.read(&from.key),
                (other, _) => panic!("{} from an unexpected Secret {other}", var.name),
            };
            env.push((var.name, value));
        }
    }
    let scheme = if tls.is_some() {
        "rediss://"
    } else {
        "redis://"
    };
    assert!(env.iter().any(|(_, v)| v.starts_with(scheme)), "{env:?}");
    let config = objects.config_map.unwrap().data.unwrap()[CONFIG_KEY].clone();
    let volume = ConfigVolume::new(&config);
    let config_path = volume.path();
    let start = |env: Vec<(String, String)>| {
        let listen = free_port();
        let config = config_path.to_str().unwrap().to_string();
        async move {
            let args = [
                "gateway",
                "--config",
                &config,
                "--listen",
                &format!("127.0.0.1:{listen}"),
            ];
            Hangar::start_with_env(&args, listen, None, &env).await
        }
    };
    let gateway = start(env.clone()).await;
    let ready = eventually("the gateway to connect to Redis", || async {
        let ready = gateway.readiness().await;
        (ready["sharedState"]
            .to_string()
            .contains("\"connected\":true"))
        .then_some(ready)
    })
    .await;
    assert!(!ready.to_string().contains(password), "{ready}");
    gateway.stop().await;

    // With another password the gateway is refused too.
    let wrong_env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if v == password {
                    "guess".to_string()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let refused = start(wrong_env).await;
    let state = eventually("the gateway to report Redis refusing it", || async {
        let ready = refused.readiness().await;
        let state = ready["sharedState"].to_string();
        (state.contains("\"connected\":false") && state.contains("error")).then_some(state)
    })
    .await;
    println!("with a wrong password: {state}");
}
