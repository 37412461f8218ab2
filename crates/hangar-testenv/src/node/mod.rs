//! A real single-node cluster: the control plane of [`crate::ControlPlane`]
//! reachable from pods, plus containerd, the kubelet, a CNI bridge,
//! kube-proxy, CoreDNS, kube-controller-manager and kube-scheduler; on
//! request ([`NodeOptions::enforce_network_policies`]) also kube-router's
//! firewall, which enforces NetworkPolicies.
//!
//! One node runs on a machine at a time: it changes host-wide state (a
//! bridge, iptables rules, cgroups, sysctls), so [`Cluster::start`] first takes
//! a machine-wide lock (waiting for another test process's node to stop), then
//! undoes whatever a killed test process left behind. Stopping, or the end of
//! the test process, removes every process, mount, cgroup, network device and
//! iptables rule the node made and restores the sysctls it changed.
//!
//! Needs root, `scripts/test-deps.sh cluster` (the binaries, runc, CNI plugins)
//! and the sandbox image from `scripts/image.sh pause`.

mod config;
mod fault;
mod host;
pub mod probe;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Service, ServiceAccount};
use kube::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::plane::{self, ControlPlane, Reach};
use crate::process::{Instance, Teardown};
use crate::tools::{self, Tool};
use config::Layout;
pub use fault::CutOff;

/// How long a start waits for another process's node to stop.
const LOCK_DEADLINE: Duration = Duration::from_secs(45 * 60);
/// Upper bound on a node's start, so a broken one fails instead of hanging.
const START_DEADLINE: Duration = Duration::from_secs(240);
const LOG_TAIL_LINES: usize = 30;
/// The node's processes, in start order; their logs are `<name>.log`.
const COMPONENTS: [&str; 7] = [
    "containerd",
    "coredns",
    "kubelet",
    "kube-proxy",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-router",
];

/// A control plane with one real node. Get the one shared by all tests of a
/// test binary with [`shared_cluster`], or a dedicated one with
/// [`Cluster::start`], which stops when dropped.
pub struct Cluster {
    plane: ControlPlane,
    options: NodeOptions,
    node: Arc<Instance>,
    layout: Layout,
    ctr: PathBuf,
}

/// What a node runs besides its basics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// Run kube-router's firewall, so NetworkPolicies are enforced.
    pub enforce_network_policies: bool,
}

/// The cluster shared by all tests of this test binary, started on first use.
/// Panics (failing the test) when it cannot start; later callers get the same
/// failure.
pub async fn shared_cluster() -> &'static Cluster {
    shared_cluster_with(NodeOptions::default()).await
}

/// [`shared_cluster`] with `options`. One node runs per machine, so a test
/// binary has one shared cluster: asking for other options than its first
/// caller did fails the test.
pub async fn shared_cluster_with(options: NodeOptions) -> &'static Cluster {
    static SHARED: tokio::sync::OnceCell<Result<Cluster, String>> =
        tokio::sync::OnceCell::const_new();
    let cluster = SHARED
        .get_or_init(|| launch(options))
        .await
        .as_ref()
        .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(
        cluster.options, options,
        "this test binary's shared cluster was started with other options"
    );
    cluster
}

impl Cluster {
    /// Starts a cluster for the caller alone; it stops when dropped.
    pub async fn start(options: NodeOptions) -> Cluster {
        launch(options).await.unwrap_or_else(|why| panic!("{why}"))
    }

    /// The control plane: clients, kubeconfigs, namespaces.
    pub fn plane(&self) -> &ControlPlane {
        &self.plane
    }

    /// The host's address: the node's InternalIP, where NodePorts, the API
    /// server and the cluster DNS answer, and which pods reach.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.layout.host_ip
    }

    /// The node's scratch directory: component logs (`kubelet.log`, …), pod
    /// logs under `pod-logs`, containerd's state. Removed when the node stops.
    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }

    /// The last lines of a component's log, e.g. `kubelet`.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        self.node.log_tail(component, lines)
    }

    /// Imports an OCI image archive (from `scripts/image.sh`) into the node's
    /// containerd, under the name it carries, for pods with
    /// `imagePullPolicy: Never` or `IfNotPresent`. Panics when it fails.
    pub async fn import_image(&self, archive: &Path) {
        import(&self.ctr, &self.layout, archive)
            .await
            .unwrap_or_else(|why| panic!("{why}"));
    }

    /// Waits until kube-proxy routes the Service's `port` to a listening
    /// endpoint, and returns that ClusterIP address. A ready pod is not
    /// enough: its EndpointSlice and kube-proxy's next sync come after, and
    /// until then the ClusterIP refuses connections. kube-proxy programs the
    /// host's and the pods' paths in one sync, so pods reach it from then on.
    pub async fn service_routes(&self, namespace: &str, name: &str, port: u16) -> SocketAddr {
        let services: Api<Service> = Api::namespaced(self.plane.client(), namespace);
        crate::eventually(
            &format!("Service {namespace}/{name} to route port {port}"),
            || async {
                let ip = services.get(name).await.ok()?.spec?.cluster_ip?;
                let address = SocketAddr::new(ip.parse().ok()?, port);
                tokio::net::TcpStream::connect(address).await.ok()?;
                Some(address)
            },
        )
        .await
    }

    /// Cuts the pod at `pod_ip` off from the other pods (connections to it
    /// are refused and open ones reset) while the kubelet's probes still pass,
    /// until the returned [`CutOff`] is restored or dropped. Panics when the
    /// rule cannot be added.
    pub fn cut_off(&self, pod_ip: Ipv4Addr) -> CutOff {
        CutOff::start(pod_ip).unwrap_or_else(|why| panic!("cutting off {pod_ip}: {why}"))
    }

    /// Gives an imported image a second name (`ctr images tag`), e.g. a new
    /// tag of the same image for a rolling update. Panics when it fails.
    pub async fn tag_image(&self, existing: &str, new: &str) {
        run(
            &self.ctr,
            &self.layout,
            &["images", "tag", "--force", existing, new],
        )
        .await
        .unwrap_or_else(|why| panic!("tagging {existing} as {new}: {why}"));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.node.release();
    }
}

/// The archive `scripts/image.sh` builds for `name` (`hangar`, `pause`,
/// `python`), or why it is missing.
pub fn image_archive(name: &str) -> Result<PathBuf, String> {
    let path = tools::images_dir().join(format!("{name}.tar"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing; run `scripts/image.sh {name}` (or `make e2e`)",
            path.display()
        ))
    }
}

struct Binaries {
    kube: PathBuf,
    runc: PathBuf,
    cni: PathBuf,
    sandbox_image: PathBuf,
}

impl Binaries {
    fn locate() -> Result<Binaries, String> {
        for name in COMPONENTS
            .iter()
            .copied()
            .chain(["ctr", "containerd-shim-runc-v2"])
        {
            tools::try_kube_bin(name).map_err(|why| {
                format!("{why} (the node's binaries come from `scripts/test-deps.sh cluster`)")
            })?;
        }
        Ok(Binaries {
            kube: tools::try_locate(Tool::KubeBin)?,
            runc: tools::try_locate(Tool::Runc)?,
            cni: tools::try_locate(Tool::CniBin)?,
            sandbox_image: image_archive("pause")?,
        })
    }
}

async fn launch(options: NodeOptions) -> Result<Cluster, String> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the test node needs root (containerd, the kubelet and the pod network change the host)".into());
    }
    let bins = Binaries::locate()?;
    let machine_lock = acquire_machine_lock().await?;
    let problems = host::clean(&host::node_dirs());
    report("cleaning up after an earlier node", &problems);

    let start = Instant::now();
    // From here on the teardown undoes whatever the start did, also when it fails.
    let teardown: Teardown = Box::new(move |dir: &Path| {
        report("stopping the node", &host::clean(&[dir.to_path_buf()]));
        // Only now may another process's node start.
        drop(machine_lock);
        // clean() removed the directory if it could.
        false
    });
    let node = Instance::create_with(host::DIR_PREFIX, Some(teardown))?;
    match boot(&node, &bins, options, start).await {
        Ok(cluster) => Ok(cluster),
        Err(why) => {
            let mut message = format!("the test node did not start: {why}");
            for name in COMPONENTS {
                if node.log_path(name).exists() {
                    message += &format!(
                        "\n--- last lines of {name}.log ---\n{}",
                        node.log_tail(name, LOG_TAIL_LINES)
                    );
                }
            }
            node.release();
            Err(message)
        }
    }
}

async fn boot(
    node: &Arc<Instance>,
    bins: &Binaries,
    options: NodeOptions,
    start: Instant,
) -> Result<Cluster, String> {
    host::set_sysctls()?;
    host::refuse_untranslated_services()?;
    host::create_cgroups()?;
    let host_ip = host_address()?;
    let plane = plane::launch("node", Reach::Pods(host_ip)).await?;
    let dir = node.dir().to_path_buf();
    let [
        kubelet_port,
        proxy_metrics_port,
        dns_ready_port,
        firewall_health_port,
    ] = free_ports(host_ip)?;
    let layout = Layout {
        dir: dir.clone(),
        host_ip,
        kubeconfig: plane.kubeconfig().to_path_buf(),
        kubelet_port,
        proxy_metrics_port,
        dns_ready_port,
        cni_bin: bins.cni.clone(),
        runc: bins.runc.clone(),
    };
    let write = |name: &str, text: String| {
        let path = layout.path(name);
        std::fs::create_dir_all(path.parent().expect("a file in the scratch directory"))
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("containerd/config.toml", config::containerd(&layout))?;
    write("cni/net.d/10-hangar.conflist", config::cni(&layout))?;
    write("kubelet/config.json", config::kubelet(&layout))?;
    write("kube-proxy.json", config::kube_proxy(&layout))?;
    write("Corefile", config::corefile(&layout))?;
    let bin = |name: &str| bins.kube.join(name);
    let ctr = bin("ctr");

    let mut containerd = Command::new(bin("containerd"));
    containerd.arg(format!(
        "--config={}",
        layout.path("containerd/config.toml").display()
    ));
    // containerd finds its shim next to it on PATH.
    let path = std::env::var("PATH").unwrap_or_default();
    containerd.env("PATH", format!("{}:{path}", bins.kube.display()));
    node.spawn("containerd", containerd)?;
    wait_until(node, "containerd answering", || async {
        run(&ctr, &layout, &["version"]).await.map(|_| ())
    })
    .await?;
    import(&ctr, &layout, &bins.sandbox_image).await?;

    let mut coredns = Command::new(bin("coredns"));
    coredns.arg("-conf").arg(layout.path("Corefile"));
    node.spawn("coredns", coredns)?;

    let mut kubelet = Command::new(bin("kubelet"));
    kubelet
        .arg(format!(
            "--config={}",
            layout.path("kubelet/config.json").display()
        ))
        .arg(format!("--kubeconfig={}", layout.kubeconfig.display()))
        .arg(format!(
            "--root-dir={}",
            layout.path("kubelet/root").display()
        ))
        .arg(format!(
            "--cert-dir={}",
            layout.path("kubelet/pki").display()
        ))
        .arg(format!("--hostname-override={}", config::NODE_NAME))
        .arg(format!("--node-ip={host_ip}"));
    node.spawn("kubelet", kubelet)?;

    let mut proxy = Command::new(bin("kube-proxy"));
    proxy.arg(format!(
        "--config={}",
        layout.path("kube-proxy.json").display()
    ));
    node.spawn("kube-proxy", proxy)?;

    let files = plane.files();
    let mut kcm = Command::new(bin("kube-controller-manager"));
    kcm.args(config::controller_manager_args(
        &layout,
        &files.ca_cert,
        &files.sa_signing_key,
    ));
    node.spawn("kube-controller-manager", kcm)?;
    let mut scheduler = Command::new(bin("kube-scheduler"));
    scheduler.args(config::scheduler_args(&layout));
    node.spawn("kube-scheduler", scheduler)?;

    let client = plane.client();
    let nodes: Api<Node> = Api::all(client.clone());
    wait_until(node, "the node to be Ready", || async {
        let found = nodes
            .get_opt(config::NODE_NAME)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("not registered yet")?;
        let ready = found
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            Ok(())
        } else {
            Err("not Ready yet".into())
        }
    })
    .await?;
    if options.enforce_network_policies {
        // kube-router reads its node's addresses at start, so it comes last.
        let mut firewall = Command::new(bin("kube-router"));
        firewall.args(config::firewall_args(&layout, firewall_health_port));
        node.spawn("kube-router", firewall)?;
        wait_until(node, "kube-router's firewall to be healthy", || {
            http_ok(Ipv4Addr::LOCALHOST, firewall_health_port, "/healthz")
        })
        .await?;
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
    wait_until(node, "the default ServiceAccount", || async {
        match accounts.get_opt("default").await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("not created yet".to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    wait_until(node, "CoreDNS to be ready", || {
        http_ok(Ipv4Addr::LOCALHOST, dns_ready_port, "/ready")
    })
    .await?;
    let _ = writeln!(
        std::io::stderr(),
        "hangar-testenv: node ready in {:.1}s at {host_ip} (pods {}, API {}), files in {}",
        start.elapsed().as_secs_f64(),
        config::POD_CIDR,
        plane.config().cluster_url,
        dir.display()
    );
    Ok(Cluster {
        plane,
        options,
        node: node.clone(),
        layout,
        ctr,
    })
}

/// Polls `check` every 200 ms until it succeeds; fails when a component
/// exited or [`START_DEADLINE`] passed.
async fn wait_until<F, Fut>(node: &Instance, what: &str, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        for name in COMPONENTS {
            if let Some(status) = node.exited(name) {
                return Err(format!("{name} exited ({status}) while waiting for {what}"));
            }
        }
        if start.elapsed() > START_DEADLINE {
            return Err(format!(
                "timed out after {START_DEADLINE:?} waiting for {what}; last check: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run(ctr: &Path, layout: &Layout, args: &[&str]) -> Result<String, String> {
    let output = tokio::process::Command::new(ctr)
        .arg(format!(
            "--address={}",
            layout.containerd_socket().display()
        ))
        .arg("--namespace=k8s.io")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", ctr.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "ctr {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

async fn import(ctr: &Path, layout: &Layout, archive: &Path) -> Result<(), String> {
    let archive = archive.display().to_string();
    run(ctr, layout, &["images", "import", &archive])
        .await
        .map(|_| ())
        .map_err(|why| format!("importing {archive}: {why}"))
}

/// The address the host reaches the world from (that of its default route).
fn host_address() -> Result<Ipv4Addr, String> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .map_err(|e| format!("opening a UDP socket: {e}"))?;
    // connect() on UDP only picks a route and a source address; nothing is sent.
    socket
        .connect((Ipv4Addr::new(198, 51, 100, 1), 9))
        .map_err(|e| {
            format!("the test node needs a non-loopback IPv4 address with a default route: {e}")
        })?;
    match socket.local_addr().map(|a| a.ip()) {
        Ok(std::net::IpAddr::V4(ip)) if !ip.is_loopback() && !ip.is_unspecified() => Ok(ip),
        other => Err(format!(
            "the test node needs a non-loopback IPv4 address with a default route; found {other:?}"
        )),
    }
}

fn free_ports(host_ip: Ipv4Addr) -> Result<[u16; 4], String> {
    let bind = |ip: Ipv4Addr| {
        TcpListener::bind((ip, 0))
            .and_then(|l| Ok((l.local_addr()?.port(), l)))
            .map_err(|e| format!("finding a free port: {e}"))
    };
    // All held at once, so they differ.
    let (a, b, c, d) = (
        bind(host_ip)?,
        bind(Ipv4Addr::LOCALHOST)?,
        bind(Ipv4Addr::LOCALHOST)?,
        bind(Ipv4Addr::LOCALHOST)?,
    );
    Ok([a.0, b.0, c.0, d.0])
}

async fn http_ok(ip: Ipv4Addr, port: u16, path: &str) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| format!("connecting to {ip}:{port}: {e}"))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("asking for {path}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| format!("reading {path}: {e}"))?;
    if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "{path} answered: {}",
            response.lines().next().unwrap_or("")
        ))
    }
}

/// The lock that lets one node run on this machine at a time; the file holds
/// the owner's process id, for the message of a process that waits.
async fn acquire_machine_lock() -> Result<File, String> {
    let path = std::env::temp_dir().join("hangar-node.lock");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    let start = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if !told {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let _ = writeln!(
                        std::io::stderr(),
                        "hangar-testenv: waiting for the test node of process {} to stop ({})",
                        owner.trim(),
                        path.display()
                    );
                    told = true;
                }
                if start.elapsed() > LOCK_DEADLINE {
                    return Err(format!(
                        "another test process kept the test node for {LOCK_DEADLINE:?} ({})",
                        path.display()
                    ));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("locking {}: {e}", path.display()));
            }
        }
    }
    file.set_len(0)
        .and_then(|()| write!(file, "{}", std::process::id()))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(file)
}

fn report(when: &str, problems: &[String]) {
    if !problems.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "hangar-testenv: {when}: {}",
            problems.join("; ")
        );
    }
}
