//! `make bench-operator`: the release `hangar operator` converging N
//! MCPServers on a dedicated real kube-apiserver + etcd, beside the write
//! floor measured in the same run: a client creating the same N servers and
//! writing each one's Service, Deployment and status with server-side apply,
//! 32 at a time, as the operator's creates are sent.
//!
//! Prints one row per N: converge time, floor time, their ratio, API requests
//! per server sent by the operator (the API server's `apiserver_request_total`
//! over the run, watches aside, minus this client's own), the operator's CPU
//! seconds and peak RSS, and the machine's load average.
//!
//! `cargo bench -p hangar-operator --bench operator -- 100 1000` (the default
//! sizes); the binary is `HANGAR_BIN`, else `$CARGO_TARGET_DIR/release/hangar`,
//! else the workspace's `target/release/hangar`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use hangar_api::MCPServer;
use hangar_operator::server::build::{self, BuildSettings};
use hangar_testenv::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::client::{Body, ClientBuilder};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tower::util::MapRequestLayer;

/// Objects created (and floor writes sent) at once.
const AT_ONCE: usize = 32;
/// Longest wait for convergence at one size before the row says "never".
const GIVE_UP: Duration = Duration::from_secs(900);
const MANAGER: &str = "hangar-bench";

fn hangar_binary() -> PathBuf {
    let path = std::env::var_os("HANGAR_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|dir| PathBuf::from(dir).join("release/hangar"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/hangar")
        });
    assert!(
        path.exists(),
        "{} is missing; build it with `cargo build --release -p hangar` (`make bench-operator` does)",
        path.display()
    );
    path
}

/// A client that counts the requests it sends, watches aside.
fn counting_client(plane: &ControlPlane) -> (Client, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let client = ClientBuilder::try_from(plane.config())
        .expect("a client for the control plane")
        .with_layer(&MapRequestLayer::new(
            move |request: http::Request<Body>| {
                if !request
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .contains("watch=true")
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                request
            },
        ))
        .build();
    (client, sent)
}

/// Requests the API server served, watches aside.
async fn served(client: &Client) -> f64 {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client
        .request_text(request)
        .await
        .expect("the API server's metrics");
    text.lines()
        .filter(|line| {
            line.starts_with("apiserver_request_total{") && !line.contains("verb=\"WATCH\"")
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn server(name: &str) -> MCPServer {
    serde_json::from_value(json!({
        "apiVersion": "mcp-hangar.io/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": "ghcr.io/acme/tools", "tag": "1.0"},
    }))
    .expect("a valid MCPServer")
}

async fn create_all(client: &Client, namespace: &str, count: usize) -> Vec<MCPServer> {
    let api: Api<MCPServer> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(0..count)
        .map(|n| {
            let api = api.clone();
            async move {
                api.create(&PostParams::default(), &server(&format!("s{n}")))
                    .await
            }
        })
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await
        .expect("creating MCPServers")
}

/// What the operator must write at least: each server's Service, Deployment and status.
async fn write_floor(client: &Client, namespace: &str, count: usize) -> Duration {
    let start = Instant::now();
    let servers = create_all(client, namespace, count).await;
    let settings = BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:bench".into(),
        ..BuildSettings::default()
    };
    let params = PatchParams::apply(MANAGER).force();
    futures::stream::iter(servers)
        .map(|server| {
            let (client, settings, params) = (client.clone(), settings.clone(), params.clone());
            async move {
                let objects = build::build(build::validate(&server).expect("a runnable spec"), 1, &settings);
                let name = server.name_any();
                let services: Api<Service> = Api::namespaced(client.clone(), namespace);
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                let service = objects.service.expect("a Service");
                let deployment = objects.deployment.expect("a Deployment");
                services.patch(&name, &params, &Patch::Apply(&service)).await?;
                deployments.patch(&name, &params, &Patch::Apply(&deployment)).await?;
                let status = json!({
                    "apiVersion": MCPServer::api_version(&()), "kind": "MCPServer",
                    "status": {"state": "Initializing", "observedGeneration": server.meta().generation},
                });
                Api::<MCPServer>::namespaced(client, namespace)
                    .patch_status(&name, &params, &Patch::Apply(status))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(AT_ONCE)
        .try_collect::<Vec<()>>()
        .await
        .expect("the floor's writes");
    start.elapsed()
}

/// Servers whose status is for their current generation and says they were reconciled.
async fn converged(client: &Client, namespace: &str) -> usize {
    let api: Api<MCPServer> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return 0;
    };
    list.items
        .iter()
        .filter(|s| {
            s.status.as_ref().is_some_and(|status| {
                status.observed_generation == s.metadata.generation
                    && status
                        .conditions
                        .iter()
                        .any(|c| c.type_ == hangar_api::condition::RECONCILED && c.status == "True")
            })
        })
        .count()
}

/// CPU seconds and peak RSS (MB) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // SAFETY: sysconf with a valid name has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; the slice starts at field 3.
    let cpu = (field(11) + field(12)) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, peak_kb / 1024.0)
}

struct Row {
    count: usize,
    converge: Option<Duration>,
    reached: usize,
    floor: Duration,
    requests_per_server: f64,
    cpu: f64,
    rss_mb: f64,
    load: String,
}

async fn run(count: usize) -> Row {
    let plane = ControlPlane::start().await;
    plane.install_crds(hangar_api::crds()).await;
    let (client, own_requests) = counting_client(&plane);
    let floor_namespace = plane.namespace().await;
    let floor = write_floor(&client, &floor_namespace, count).await;

    let namespace = plane.namespace().await;
    let mut operator: Child = Command::new(hangar_binary())
        .args([
            "operator",
            &format!("--namespace={namespace}"),
            &format!("--leader-elect-namespace={namespace}"),
            "--metrics-addr=127.0.0.1:0",
        ])
        .env("KUBECONFIG", plane.kubeconfig())
        .env("POD_NAME", "bench")
        .env("HANGAR_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting hangar operator");
    // Wait until it leads (its Lease is held) before the clock starts.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    while leases
        .get_opt("hangar-operator")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let served_before = served(&client).await;
    let own_before = own_requests.load(Ordering::Relaxed);
    let start = Instant::now();
    create_all(&client, &namespace, count).await;
    let mut reached = 0;
    let converge = loop {
        reached = converged(&client, &namespace).await.max(reached);
        if reached == count {
            break Some(start.elapsed());
        }
        if start.elapsed() > GIVE_UP {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Let the reconciles the last writes queued finish before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let own = (own_requests.load(Ordering::Relaxed) - own_before) as f64;
    // The metrics read itself is one request of ours, counted by the server.
    let by_operator = served(&client).await - served_before - own - 1.0;
    let (cpu, rss_mb) = usage(operator.id());
    let _ = operator.kill();
    let _ = operator.wait();
    Row {
        count,
        converge,
        reached,
        floor,
        requests_per_server: by_operator / count as f64,
        cpu,
        rss_mb,
        load: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1000]
    } else {
        sizes
    };
    let binary = hangar_binary();
    println!(
        "hangar operator ({}) on a dedicated kube-apiserver + etcd, {AT_ONCE} creates at once",
        binary.display()
    );
    println!(
        "| N | converge | write floor | ratio | API requests per server | operator CPU | operator peak RSS | load (1/5/15 min) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for count in sizes {
        let row = run(count).await;
        let (converge, ratio) = match row.converge {
            Some(took) => (
                format!("{:.1} s", took.as_secs_f64()),
                format!("{:.1}×", took.as_secs_f64() / row.floor.as_secs_f64()),
            ),
            None => (
                format!("never ({}/{} after {GIVE_UP:?})", row.reached, row.count),
                "—".into(),
            ),
        };
        println!(
            "| {} | {converge} | {:.1} s | {ratio} | {:.1} | {:.1} s | {:.0} MB | {} |",
            row.count,
            row.floor.as_secs_f64(),
            row.requests_per_server,
            row.cpu,
            row.rss_mb,
            row.load
        );
    }
}
