//! `make bench-operator`: the release `hangar operator` converging N
//! MCPServers on a dedicated real kube-apiserver + etcd, beside the write
//! floor measured in the same run on a control plane of its own: a client
//! creating the same N servers and writing each one's Service, Deployment
//! and status with server-side apply, 32 at a time, as the operator's
//! creates are sent.
//!
//! Prints one row per N: converge time, floor time, their ratio, API requests
//! per server sent by the operator (the API server's `apiserver_request_total`
//! over the run, watches aside, minus this client's own), the operator's CPU
//! seconds and peak RSS, the CPU the API server and etcd spent on the floor
//! and on the operator's run, and the machine's load average; then the
//! requests per server by verb and resource.
//!
//! With `chaos`, each size also runs with the operator killed (`kill -9`)
//! `HANGAR_BENCH_KILLS` times (default 20) at random moments of the rollout
//! and started again at once under the same identity (a container restart
//! in its pod), `HANGAR_BENCH_CHAOS_RUNS` times (default 3), and prints the
//! converge time beside the cold one and whether the final state is clean:
//! every server reconciled at its generation, and exactly one Service and one
//! Deployment per server, each owned by it.
//!
//! Each control plane has the chart's finalizer policy (a MutatingAdmissionPolicy,
//! `deploy/kustomize/components/finalizer-policy`) before anything is created,
//! as a Helm install on Kubernetes 1.36 has; `HANGAR_BENCH_FINALIZER_POLICY=0`
//! leaves it out (the operator then patches the finalizer in itself).
//!
//! `cargo bench -p hangar-operator --bench operator -- 100 1000 [chaos]` (the
//! default sizes); the binary is `HANGAR_BIN`, else
//! `$CARGO_TARGET_DIR/release/hangar`, else the workspace's
//! `target/release/hangar`.

use std::collections::BTreeMap;
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
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
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

/// Whether the control planes get the finalizer policy (`HANGAR_BENCH_FINALIZER_POLICY`).
fn with_finalizer_policy() -> bool {
    std::env::var("HANGAR_BENCH_FINALIZER_POLICY").map_or(true, |v| v != "0")
}

/// A fresh control plane with the CRDs and, unless switched off, the
/// finalizer policy in force.
async fn control_plane() -> ControlPlane {
    let plane = ControlPlane::start().await;
    plane.install_crds(hangar_api::crds()).await;
    if with_finalizer_policy() {
        install_finalizer_policy(&plane.client()).await;
    }
    plane
}

/// The Kustomize component's MutatingAdmissionPolicy and binding (what the
/// chart installs on Kubernetes 1.36), then a wait until the API server
/// applies it: a dry-run create comes back with the finalizer.
async fn install_finalizer_policy(client: &Client) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kustomize/components/finalizer-policy");
    for (file, kind, plural) in [
        (
            "finalizer-policy.yaml",
            "MutatingAdmissionPolicy",
            "mutatingadmissionpolicies",
        ),
        (
            "finalizer-policy-binding.yaml",
            "MutatingAdmissionPolicyBinding",
            "mutatingadmissionpolicybindings",
        ),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("the finalizer policy's files");
        let object: DynamicObject = serde_saphyr::from_str(&text).expect("a Kubernetes object");
        let resource = ApiResource {
            group: "admissionregistration.k8s.io".into(),
            version: "v1".into(),
            api_version: "admissionregistration.k8s.io/v1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        Api::<DynamicObject>::all_with(client.clone(), &resource)
            .patch(
                &object.name_any(),
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&object),
            )
            .await
            .unwrap_or_else(|e| panic!("installing {file}: {e}"));
    }
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), "default");
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = servers
            .create(&dry_run, &server("finalizer-policy-probe"))
            .await
            .expect("a dry-run create");
        if probe
            .finalizers()
            .iter()
            .any(|f| f == hangar_operator::labels::FINALIZER)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the API server did not apply the finalizer policy within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What this benchmark's own client sent after the operator started:
/// MCPServer creates and the lists that watch them converge.
#[derive(Default)]
struct OwnRequests {
    creates: AtomicUsize,
    lists: AtomicUsize,
}

/// A client that counts the requests it sends, watches aside.
fn counting_client(plane: &ControlPlane) -> (Client, Arc<OwnRequests>) {
    let sent = Arc::new(OwnRequests::default());
    let counter = sent.clone();
    let client = ClientBuilder::try_from(plane.config())
        .expect("a client for the control plane")
        .with_layer(&MapRequestLayer::new(
            move |request: http::Request<Body>| {
                let watch = request
                    .uri()
                    .query()
                    .unwrap_or_default()
                    .contains("watch=true");
                if request.method() == http::Method::POST {
                    counter.creates.fetch_add(1, Ordering::Relaxed);
                } else if !watch {
                    counter.lists.fetch_add(1, Ordering::Relaxed);
                }
                request
            },
        ))
        .build();
    (client, sent)
}

/// Requests the API server served by verb and resource (e.g. `APPLY
/// services`, `PATCH mcpservers/status`), watches and its own aside.
async fn served(client: &Client) -> BTreeMap<String, f64> {
    let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client
        .request_text(request)
        .await
        .expect("the API server's metrics");
    let mut served = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels: BTreeMap<&str, &str> = labels
            .split("\",")
            .filter_map(|pair| pair.split_once("=\""))
            .map(|(name, value)| (name, value.trim_end_matches('"')))
            .collect();
        let verb = labels.get("verb").copied().unwrap_or_default();
        // ipaddresses are the API server's own ClusterIP allocations for the
        // Services it creates, not requests of a client.
        if verb == "WATCH" || labels.get("resource") == Some(&"ipaddresses") {
            continue;
        }
        let mut kind = format!(
            "{verb} {}",
            labels.get("resource").copied().unwrap_or_default()
        );
        if let Some(sub) = labels.get("subresource").filter(|s| !s.is_empty()) {
            kind = format!("{kind}/{sub}");
        }
        *served.entry(kind).or_default() += value.parse::<f64>().unwrap_or_default();
    }
    served
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

/// Whether a server's status is for its current generation and says it was reconciled.
fn is_converged(server: &MCPServer) -> bool {
    server.status.as_ref().is_some_and(|status| {
        status.observed_generation == server.metadata.generation
            && status
                .conditions
                .iter()
                .any(|c| c.type_ == hangar_api::condition::RECONCILED && c.status == "True")
    })
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

/// CPU seconds the control plane's processes (etcd, kube-apiserver) used so
/// far: the processes whose command line names the plane's directory.
fn plane_cpu(plane: &ControlPlane) -> f64 {
    let dir = plane.dir().display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&dir))
        })
        .map(|pid| usage(pid).0)
        .sum()
}

/// The operator, watching `namespace` and leading on a Lease there, always
/// under the identity `bench` (a restarted container keeps its pod's name).
fn start_operator(plane: &ControlPlane, namespace: &str) -> Child {
    Command::new(hangar_binary())
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
        .expect("starting hangar operator")
}

/// Waits until the operator leads (its Lease is held), before a clock starts.
async fn wait_for_leader(client: &Client, namespace: &str) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    while leases
        .get_opt("hangar-operator")
        .await
        .ok()
        .flatten()
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The time from `start` until all `count` servers converged (None after
/// `GIVE_UP`) and how many did, following a watch: polling lists of
/// thousands of servers would load the API server the operator is measured
/// on (the floor has no such reader).
async fn wait_converged(
    client: &Client,
    namespace: &str,
    count: usize,
    start: Instant,
) -> (Option<Duration>, usize) {
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<MCPServer> = Api::namespaced(client.clone(), namespace);
    let mut events = std::pin::pin!(
        watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
    );
    let mut converged = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::from_std(start + GIVE_UP);
    while converged.len() < count {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(server))) if is_converged(&server) => {
                converged.insert(server.name_any());
            }
            Ok(Some(Ok(server))) => {
                converged.remove(&server.name_any());
            }
            // The watcher starts again after its backoff.
            Ok(Some(Err(_))) => {}
            Ok(None) | Err(_) => return (None, converged.len()),
        }
    }
    (Some(start.elapsed()), count)
}

/// What is wrong with the converged state, if anything: every server must
/// own exactly one Service and one Deployment of its name, and nothing else
/// of those kinds may be there.
async fn unclean(client: &Client, namespace: &str, count: usize) -> Vec<String> {
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), namespace);
    let servers = servers
        .list(&ListParams::default())
        .await
        .expect("listing servers");
    let uids: std::collections::BTreeMap<String, String> = servers
        .items
        .iter()
        .map(|s| (s.name_any(), s.uid().unwrap_or_default()))
        .collect();
    let mut problems = Vec::new();
    if uids.len() != count {
        problems.push(format!("{} servers, not {count}", uids.len()));
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default();
    let children = [
        (
            "Service",
            services
                .list(&lp)
                .await
                .expect("listing Services")
                .items
                .iter()
                .map(|o| o.metadata.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "Deployment",
            deployments
                .list(&lp)
                .await
                .expect("listing Deployments")
                .items
                .iter()
                .map(|o| o.metadata.clone())
                .collect(),
        ),
    ];
    for (kind, objects) in children {
        if objects.len() != count {
            problems.push(format!("{} {kind}s, not {count}", objects.len()));
        }
        for meta in objects {
            let name = meta.name.clone().unwrap_or_default();
            let owners: Vec<_> = meta
                .owner_references
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o.kind == "MCPServer")
                .collect();
            let owned_by_its_server = owners.len() == 1
                && owners[0].name == name
                && uids.get(&name) == Some(&owners[0].uid);
            if !owned_by_its_server {
                problems.push(format!(
                    "{kind} {name} is not owned by its server alone: {owners:?}"
                ));
            }
        }
    }
    problems
}

/// One chaos run: `count` servers created while the operator is killed
/// `kills` times at random moments and started again at once.
async fn chaos(count: usize, kills: usize) -> (Option<Duration>, usize, Vec<String>) {
    let plane = control_plane().await;
    let client = Client::try_from(plane.config()).expect("a client for the control plane");
    let namespace = plane.namespace().await;
    let mut operator = start_operator(&plane, &namespace);
    wait_for_leader(&client, &namespace).await;
    let start = Instant::now();
    let creating = tokio::spawn({
        let (client, namespace) = (client.clone(), namespace.clone());
        async move { create_all(&client, &namespace, count).await }
    });
    for _ in 0..kills {
        // 0.2 to 1.5 s apart: within the rollout, which takes tens of seconds at 1,000.
        tokio::time::sleep(Duration::from_millis(rand::random_range(200..1500))).await;
        let _ = operator.kill();
        let _ = operator.wait();
        operator = start_operator(&plane, &namespace);
    }
    creating.await.expect("the creates");
    let (converge, reached) = wait_converged(&client, &namespace, count, start).await;
    // Reconciles queued by the last writes, then the state they leave.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let problems = unclean(&client, &namespace, count).await;
    let _ = operator.kill();
    let _ = operator.wait();
    (converge, reached, problems)
}

struct Row {
    count: usize,
    converge: Option<Duration>,
    reached: usize,
    floor: Duration,
    /// CPU seconds etcd and the kube-apiserver used during the floor's writes
    /// and during the operator's run.
    floor_plane_cpu: f64,
    plane_cpu: f64,
    requests_per_server: f64,
    /// The operator's requests by verb and resource.
    by_kind: BTreeMap<String, f64>,
    cpu: f64,
    rss_mb: f64,
    load: String,
}

async fn run(count: usize) -> Row {
    // Each on a control plane of its own: the API server's ClusterIP
    // allocator costs more with every Service that exists (ipallocator's
    // `Used` walks them all on each allocation), so a second run on the same
    // plane would pay for the first one's Services.
    let (floor, floor_plane_cpu) = {
        let plane = control_plane().await;
        let client = Client::try_from(plane.config()).expect("a client for the control plane");
        let namespace = plane.namespace().await;
        let before = plane_cpu(&plane);
        let floor = write_floor(&client, &namespace, count).await;
        (floor, plane_cpu(&plane) - before)
    };

    let plane = control_plane().await;
    let (client, own_requests) = counting_client(&plane);
    let namespace = plane.namespace().await;
    let mut operator = start_operator(&plane, &namespace);
    wait_for_leader(&client, &namespace).await;

    let served_before = served(&client).await;
    let creates_before = own_requests.creates.load(Ordering::Relaxed);
    let lists_before = own_requests.lists.load(Ordering::Relaxed);
    let plane_before = plane_cpu(&plane);
    let start = Instant::now();
    create_all(&client, &namespace, count).await;
    let (converge, reached) = wait_converged(&client, &namespace, count, start).await;
    let plane_cpu = plane_cpu(&plane) - plane_before;
    // Let the reconciles the last writes queued finish before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut by_kind = served(&client).await;
    for (kind, before) in &served_before {
        *by_kind.entry(kind.clone()).or_default() -= before;
    }
    // Ours: the creates, the convergence lists, and (no resource) this metrics read.
    for (kind, own) in [
        (
            "POST mcpservers",
            own_requests.creates.load(Ordering::Relaxed) - creates_before,
        ),
        (
            "LIST mcpservers",
            own_requests.lists.load(Ordering::Relaxed) - lists_before,
        ),
        ("GET ", 1),
    ] {
        *by_kind.entry(kind.into()).or_default() -= own as f64;
    }
    by_kind.retain(|_, requests| *requests > 0.0);
    let by_operator: f64 = by_kind.values().sum();
    let (cpu, rss_mb) = usage(operator.id());
    let _ = operator.kill();
    let _ = operator.wait();
    Row {
        count,
        converge,
        reached,
        floor,
        floor_plane_cpu,
        plane_cpu,
        requests_per_server: by_operator / count as f64,
        by_kind,
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let with_chaos = args.iter().any(|arg| arg == "chaos");
    let sizes: Vec<usize> = args.iter().filter_map(|arg| arg.parse().ok()).collect();
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
        "finalizer policy: {}",
        if with_finalizer_policy() {
            "installed (new servers carry the finalizer from their create)"
        } else {
            "not installed (the operator patches the finalizer in)"
        }
    );
    println!(
        "| N | converge | write floor | ratio | API requests per server | operator CPU | operator peak RSS | API server + etcd CPU (floor / operator) | load (1/5/15 min) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut colds = Vec::new();
    let mut kinds = Vec::new();
    for &count in &sizes {
        let row = run(count).await;
        kinds.push((count, row.by_kind.clone()));
        colds.push((count, row.converge));
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
            "| {} | {converge} | {:.1} s | {ratio} | {:.1} | {:.1} s | {:.0} MB | {:.1} s / {:.1} s | {} |",
            row.count,
            row.floor.as_secs_f64(),
            row.requests_per_server,
            row.cpu,
            row.rss_mb,
            row.floor_plane_cpu,
            row.plane_cpu,
            row.load
        );
    }
    kinds_table(&kinds);
    if with_chaos {
        chaos_table(&colds).await;
    }
}

/// The operator's requests per server by verb and resource, one column per N.
fn kinds_table(runs: &[(usize, BTreeMap<String, f64>)]) {
    let kinds: std::collections::BTreeSet<&String> = runs
        .iter()
        .flat_map(|(_, by_kind)| by_kind.keys())
        .collect();
    let sizes: Vec<String> = runs
        .iter()
        .map(|(count, _)| format!("N = {count}"))
        .collect();
    println!();
    println!("| requests per server | {} |", sizes.join(" | "));
    println!("|---|{}", "---|".repeat(runs.len()));
    for kind in kinds {
        let cells: Vec<String> = runs
            .iter()
            .map(|(count, by_kind)| {
                format!(
                    "{:.2}",
                    by_kind.get(kind).copied().unwrap_or_default() / *count as f64
                )
            })
            .collect();
        println!("| {kind} | {} |", cells.join(" | "));
    }
}

async fn chaos_table(colds: &[(usize, Option<Duration>)]) {
    let env_number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let kills = env_number("HANGAR_BENCH_KILLS", 20);
    let runs = env_number("HANGAR_BENCH_CHAOS_RUNS", 3);
    println!(
        "\nthe same with the operator killed {kills} times during the rollout (kill -9, started again at once)"
    );
    println!("| N | run | converge with kills | cold converge | ratio | final state |");
    println!("|---|---|---|---|---|---|");
    for &(count, cold) in colds {
        for attempt in 1..=runs {
            let (converge, reached, problems) = chaos(count, kills).await;
            let seconds = |d: Duration| format!("{:.1} s", d.as_secs_f64());
            let ratio = match (converge, cold) {
                (Some(c), Some(cold)) => format!("{:.1}×", c.as_secs_f64() / cold.as_secs_f64()),
                _ => "—".into(),
            };
            let state = if problems.is_empty() {
                "clean".to_string()
            } else {
                problems.join("; ")
            };
            println!(
                "| {count} | {attempt} | {} | {} | {ratio} | {state} |",
                converge.map_or(format!("never ({reached}/{count})"), seconds),
                cold.map_or("never".into(), seconds)
            );
        }
    }
}
