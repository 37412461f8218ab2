//! The test node runs real pods: a Deployment gets a ReplicaSet and a pod from
//! the real controller-manager and scheduler, the pod answers through its
//! Service (kube-proxy) by its DNS name (CoreDNS), and a pod reaches the API
//! server with its ServiceAccount token; a NetworkPolicy admits one pod and
//! turns another away (kube-router). Then, whether the test process exits
//! or is killed, nothing of the node is left on the host: no process, mount,
//! cgroup, network device or iptables rule, and the sysctls are as before.
//!
//! A plain `main` (harness = false): each node runs in a child process (this
//! binary again), and only one node runs on a machine at a time.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hangar_testenv::node::image_archive;
use hangar_testenv::node::probe::{TURNED_AWAY, python_pod, run_to_end};
use hangar_testenv::{Cluster, NodeOptions, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;

const CHILD_MODE: &str = "HANGAR_TESTENV_NODE_CHILD";
const ENFORCING: NodeOptions = NodeOptions {
    enforce_network_policies: true,
};
/// In the node's Service range (10.0.0.0/16), where no test creates a Service.
const UNUSED_SERVICE_ADDRESS: &str = "10.0.255.254";
const SYSCTLS: [&str; 5] = [
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
];

fn main() {
    if std::env::var_os(CHILD_MODE).is_some() {
        return child();
    }
    let before = host_state_without_a_node();
    for ending in [Ending::Exit, Ending::Killed] {
        scenario(ending, &before);
    }
    println!("node: pods ran, and nothing of the node outlived its test process");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test fixture matches the Kubernetes type")
}

/// Starts a node, runs the pods, prints the node's directory, then waits for
/// the parent to end it (by a line on stdin, or by killing it).
fn child() {
    runtime().block_on(async {
        let cluster = hangar_testenv::shared_cluster_with(ENFORCING).await;
        let ns = pods_run_and_reach_services_dns_and_the_api(cluster).await;
        network_policies_are_enforced(cluster, &ns).await;
        println!("{}", cluster.dir().display());
    });
    let mut go_ahead = String::new();
    std::io::stdin()
        .read_line(&mut go_ahead)
        .expect("reading stdin");
}

/// Returns the namespace, where the Deployment `web` and its Service run.
async fn pods_run_and_reach_services_dns_and_the_api(cluster: &Cluster) -> String {
    let python = image_archive("python").unwrap_or_else(|why| panic!("{why}"));
    cluster.import_image(&python).await;
    let plane = cluster.plane();
    let ns = plane
        .namespace_with_labels(&[("pod-security.kubernetes.io/enforce", "restricted")])
        .await;
    let client = plane.client();
    let deployment: Deployment = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "hangar.local/mcp-python:e2e",
                    "imagePullPolicy": "Never",
                    "command": ["python", "-m", "http.server", "8080"],
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": true,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }]},
            },
        },
    }));
    let service: Service = from_json(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }));
    let probe = r#"
import socket, ssl, urllib.request
print("web resolves to", socket.gethostbyname("web"))
print("web answers", urllib.request.urlopen("http://web/", timeout=10).status)
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
token = open(sa + "token").read()
request = urllib.request.Request("https://kubernetes.default.svc/version", headers={"Authorization": "Bearer " + token})
context = ssl.create_default_context(cafile=sa + "ca.crt")
print("API", urllib.request.urlopen(request, context=context, timeout=10).read().decode())
try:
    socket.create_connection((UNUSED_SERVICE_ADDRESS, 80), timeout=10)
    print("an unused Service address accepted a connection")
except OSError as error:
    print("an unused Service address refused:", error)
"#
    .replace("UNUSED_SERVICE_ADDRESS", &format!("{UNUSED_SERVICE_ADDRESS:?}"));
    let pp = PostParams::default();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&pp, &deployment)
        .await
        .expect("creating the Deployment");
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(&pp, &service)
        .await
        .expect("creating the Service");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually("a ready pod of the Deployment", || async {
        let list = pods.list(&Default::default()).await.ok()?;
        list.items.into_iter().find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
    })
    .await;

    // A Service address kube-proxy has not translated refuses, as in a
    // cluster (not answered by whatever the machine's default route reaches).
    let refused = tokio::net::TcpStream::connect((UNUSED_SERVICE_ADDRESS, 80)).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "connecting from the host to an unused Service address: {refused:?}"
    );
    // The host reaches the Service's virtual address, and from then on pods do.
    let web = cluster.service_routes(&ns, "web", 80).await;

    let (phase, logs) = run_to_end(&pods, &python_pod("probe", json!({}), &[], &probe)).await;
    assert_eq!(phase, "Succeeded", "the probe failed:\n{logs}");
    assert!(logs.contains("web answers 200"), "{logs}");
    assert!(logs.contains(r#""gitVersion": "v1.36"#), "{logs}");
    assert!(logs.contains("an unused Service address refused"), "{logs}");

    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        let mut stream = tokio::net::TcpStream::connect(web)
            .await
            .expect("connecting to the ClusterIP");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .await
            .expect("sending");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reading");
        response
    })
    .await
    .expect("the ClusterIP answers within 30s");
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    ns
}

/// Once a policy admits only `role: client` pods to `web`, another pod is
/// turned away while a client pod still gets through, at the same time.
async fn network_policies_are_enforced(cluster: &Cluster, ns: &str) {
    let client = cluster.plane().client();
    let policy: NetworkPolicy = from_json(json!({
        "metadata": {"name": "web-clients-only"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}],
        },
    }));
    Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &policy)
        .await
        .expect("creating the NetworkPolicy");
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let (phase, logs) = run_to_end(
        &pods,
        &python_pod(
            "outsider",
            json!({}),
            &[("TARGET", "web"), ("PORT", "80")],
            TURNED_AWAY,
        ),
    )
    .await;
    assert_eq!(phase, "Succeeded", "the outsider got through:\n{logs}");
    let member = r#"
import urllib.request
print("web answers", urllib.request.urlopen("http://web/", timeout=10).status)
"#;
    let (phase, logs) = run_to_end(
        &pods,
        &python_pod("member", json!({"role": "client"}), &[], member),
    )
    .await;
    assert_eq!(
        phase, "Succeeded",
        "the policy's client was refused:\n{logs}"
    );
    assert!(logs.contains("web answers 200"), "{logs}");
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    Exit,
    Killed,
}

fn scenario(ending: Ending, before: &HostState) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .env(CHILD_MODE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning the child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading the child's stdout");
    if line.trim().is_empty() {
        let status = child.wait().expect("waiting for the child");
        panic!("{ending:?}: the child's node or pods failed ({status}); see its output above");
    }
    let dir = PathBuf::from(line.trim());
    let during = host_state();
    assert!(during.bridge, "{ending:?}: no bridge while the node runs");
    assert!(
        !during.node_rules.is_empty(),
        "{ending:?}: no kube-proxy rules while the node runs"
    );
    assert!(
        !during.node_ipsets.is_empty(),
        "{ending:?}: no kube-router ipsets while a NetworkPolicy exists"
    );

    match ending {
        Ending::Exit => {
            writeln!(child.stdin.as_mut().expect("piped stdin"), "end").expect("ending the child");
            let status = child.wait().expect("waiting for the child");
            assert!(status.success(), "{ending:?}: child failed: {status}");
        }
        Ending::Killed => {
            child.kill().expect("killing the child");
            child.wait().expect("waiting for the child");
            // A killed process cannot clean up: its containers outlive it.
            // The next node's start sweeps them; this one stops at once.
            let left = processes_naming(&dir);
            assert!(
                !left.is_empty(),
                "expected the killed node's shims to survive it"
            );
            drop(runtime().block_on(Cluster::start(ENFORCING)));
        }
    }
    let after = host_state();
    assert_eq!(&after, before, "{ending:?}: the host changed");
    assert!(
        processes_naming(&dir).is_empty(),
        "{ending:?}: processes left: {:?}",
        processes_naming(&dir)
    );
    assert!(
        !dir.exists(),
        "{ending:?}: {} was left behind",
        dir.display()
    );
    println!("node: {ending:?} ok");
}

/// The host's state while no test process runs a node: another test
/// process's node may be running now (it holds the machine-wide lock that
/// [`Cluster::start`] takes), so this waits for that lock to be free.
fn host_state_without_a_node() -> HostState {
    let path = std::env::temp_dir().join("hangar-node.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    let state = host_state();
    lock.unlock()
        .unwrap_or_else(|e| panic!("unlocking {}: {e}", path.display()));
    state
}

/// What a node changes on the host.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    bridge: bool,
    veths: Vec<String>,
    node_rules: Vec<String>,
    routing_rules: Vec<String>,
    node_ipsets: Vec<String>,
    mounts: Vec<String>,
    cgroups: Vec<String>,
    sysctls: Vec<(String, String)>,
}

fn host_state() -> HostState {
    let veths = std::fs::read_dir("/sys/class/net")
        .expect("listing network devices")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("veth"))
        .collect();
    let rules = Command::new("iptables-save")
        .output()
        .expect("running iptables-save");
    let node_rules = String::from_utf8_lossy(&rules.stdout)
        .lines()
        .filter(|l| l.contains("KUBE-") || l.contains("CNI-") || l.contains("hangar-node"))
        .map(String::from)
        .collect();
    let ip_rules = Command::new("ip")
        .arg("rule")
        .output()
        .expect("running ip rule");
    let routing_rules = String::from_utf8_lossy(&ip_rules.stdout)
        .lines()
        .filter(|l| l.contains("hangar0"))
        .map(String::from)
        .collect();
    let sets = Command::new("ipset")
        .args(["list", "-name"])
        .output()
        .expect("running ipset (scripts/test-deps.sh cluster installs it)");
    let node_ipsets = String::from_utf8_lossy(&sets.stdout)
        .lines()
        .filter(|l| l.starts_with("KUBE-"))
        .map(String::from)
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("reading mountinfo")
        .lines()
        .filter(|l| l.contains("/hangar-node-"))
        .map(String::from)
        .collect();
    let cgroups = ["cpu", "memory", "pids", "systemd", "unified"]
        .iter()
        .map(|h| Path::new("/sys/fs/cgroup").join(h).join("hangar-node"))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    let sysctls = SYSCTLS
        .iter()
        .map(|key| {
            let value =
                std::fs::read_to_string(Path::new("/proc/sys").join(key)).unwrap_or_default();
            (key.to_string(), value.trim().to_string())
        })
        .collect();
    HostState {
        bridge: Path::new("/sys/class/net/hangar0").exists(),
        veths,
        node_rules,
        routing_rules,
        node_ipsets,
        mounts,
        cgroups,
        sysctls,
    }
}

/// Live processes whose command line mentions `dir`.
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            == Some("Z");
        if cmdline.contains(&needle) && !zombie {
            found.push(cmdline.trim().to_string());
        }
    }
    found
}
