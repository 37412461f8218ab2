//! A real kube-apiserver + etcd for tests.

use crate::certs;
use crate::process::Instance;
use crate::tools;
use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Field manager for the objects this crate applies.
const FIELD_MANAGER: &str = "hangar-testenv";
/// Upper bounds on waiting, so a broken start fails instead of hanging; not
/// performance expectations (a loaded 2-core machine needs a fraction of them).
const ETCD_DEADLINE: Duration = Duration::from_secs(60);
const APISERVER_DEADLINE: Duration = Duration::from_secs(180);
const CRD_DEADLINE: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;
const LOG_TAIL_LINES: usize = 40;
/// The Services' virtual addresses; the first one is the `kubernetes` Service's.
/// A /16, as the operator benchmark creates thousands of Services.
pub(crate) const SERVICE_CIDR: &str = "10.0.0.0/16";
pub(crate) const KUBERNETES_SERVICE_IP: &str = "10.0.0.1";

/// Who must reach the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The test process and the processes it spawns: loopback only.
    Loopback,
    /// Pods on the test node as well: the API server listens on the host's
    /// address, which the `kubernetes` Service leads to, and admits pods with
    /// their ServiceAccount tokens.
    Pods(Ipv4Addr),
}

impl Reach {
    fn address(self) -> IpAddr {
        match self {
            Reach::Loopback => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Reach::Pods(host) => IpAddr::V4(host),
        }
    }
}

/// A running etcd + kube-apiserver with RBAC authorization, PodSecurity
/// admission and no controllers (nothing reconciles Deployments into Pods,
/// and garbage collection and namespace deletion never finish).
///
/// Get the one shared by all tests of a test binary with [`shared`], or a
/// dedicated one with [`ControlPlane::start`]. The processes die with the test
/// process; a dedicated plane also stops when dropped.
pub struct ControlPlane {
    instance: Arc<Instance>,
    files: certs::CredentialFiles,
    /// Admin connection data; clients are built from it on each caller's runtime.
    config: Config,
    kubeconfig: Kubeconfig,
    kubeconfig_path: PathBuf,
    counter: AtomicUsize,
    /// How the API server was started, to start it again the same way.
    apiserver: (PathBuf, Vec<std::ffi::OsString>),
}

/// Who a client acts as. The admin identity (group `system:masters`)
/// impersonates it, so the API server's real RBAC authorizer decides every
/// request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    user: String,
    groups: Vec<String>,
}

impl Identity {
    /// A user with no groups other than `system:authenticated`, which the API
    /// server adds to every impersonated user.
    pub fn user(name: impl Into<String>) -> Self {
        Identity {
            user: name.into(),
            groups: Vec::new(),
        }
    }

    /// The ServiceAccount `namespace/name`, i.e. user
    /// `system:serviceaccount:NAMESPACE:NAME`. The API server adds the groups
    /// `system:serviceaccounts` and `system:serviceaccounts:NAMESPACE`, as for a
    /// real token. The ServiceAccount object need not exist.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Identity::user(format!("system:serviceaccount:{namespace}:{name}"))
    }

    /// Adds a group. For a ServiceAccount this replaces the groups the API
    /// server would otherwise add.
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// The user name the API server sees.
    pub fn name(&self) -> &str {
        &self.user
    }
}

/// The control plane shared by all tests in this test binary, started on
/// first use. Isolate tests by giving each its own [`ControlPlane::namespace`].
///
/// Panics (failing the test) when it cannot start; every later caller gets
/// the same failure without another attempt.
pub async fn shared() -> &'static ControlPlane {
    static SHARED: tokio::sync::OnceCell<Result<ControlPlane, String>> =
        tokio::sync::OnceCell::const_new();
    // The start only awaits on the caller's runtime; nothing it leaves behind
    // (processes, files, a `Config`) is tied to that runtime.
    SHARED
        .get_or_init(|| launch("shared", Reach::Loopback))
        .await
        .as_ref()
        .unwrap_or_else(|why| panic!("{why}"))
}

impl ControlPlane {
    /// Starts a control plane for the caller alone, e.g. to run two operators
    /// with leader election. It stops when dropped.
    ///
    /// Panics (failing the test) when it cannot start.
    pub async fn start() -> ControlPlane {
        launch("dedicated", Reach::Loopback)
            .await
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// A client with full rights (`system:masters`). Call it inside the test's
    /// Tokio runtime: a client belongs to the runtime that built it.
    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone())
            .expect("building a kube client from the control plane's config")
    }

    /// A client that acts as `identity`, so RBAC decides what it may do.
    pub fn client_as(&self, identity: &Identity) -> Client {
        Client::try_from(self.config_as(identity)).expect("building an impersonating kube client")
    }

    /// The admin connection data, for building a client some other way.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The connection data of [`ControlPlane::client_as`].
    pub fn config_as(&self, identity: &Identity) -> Config {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(identity.user.clone());
        config.auth_info.impersonate_groups =
            (!identity.groups.is_empty()).then(|| identity.groups.clone());
        config
    }

    /// A kubeconfig file with admin rights, for processes the test spawns
    /// (set `KUBECONFIG` to it). The file holds the credentials inline.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Writes a kubeconfig file that acts as `identity` (with `as:` and
    /// `as-groups:`), so a spawned process runs with exactly that identity's rights.
    pub fn kubeconfig_as(&self, identity: &Identity) -> PathBuf {
        let mut kubeconfig = self.kubeconfig.clone();
        for user in &mut kubeconfig.auth_infos {
            let auth = user
                .auth_info
                .as_mut()
                .expect("the generated kubeconfig has a user");
            auth.impersonate = Some(identity.user.clone());
            auth.impersonate_groups =
                (!identity.groups.is_empty()).then(|| identity.groups.clone());
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self
            .instance
            .dir()
            .join(format!("kubeconfig-{}-{n}", dns_label(&identity.user, 40)));
        write_kubeconfig(&kubeconfig, &path).unwrap_or_else(|why| panic!("{why}"));
        path
    }

    /// The scratch directory of this control plane (certificates, etcd data,
    /// logs `etcd.log` and `kube-apiserver.log`, kubeconfigs). Removed at exit.
    pub fn dir(&self) -> &Path {
        self.instance.dir()
    }

    /// Creates a fresh namespace for the calling test and returns its name,
    /// derived from the test's name.
    pub async fn namespace(&self) -> String {
        self.namespace_with_labels(&[]).await
    }

    /// Like [`ControlPlane::namespace`], with labels, e.g.
    /// `[("pod-security.kubernetes.io/enforce", "restricted")]`.
    pub async fn namespace_with_labels(&self, labels: &[(&str, &str)]) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}", dns_label(&test_name(), 50));
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>()
                }),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Installs CRDs with server-side apply and waits until the API server
    /// serves them (condition `Established`). Installing the same CRDs again,
    /// e.g. from every test on the shared plane, is harmless.
    pub async fn install_crds(&self, crds: impl IntoIterator<Item = CustomResourceDefinition>) {
        let api = Api::<CustomResourceDefinition>::all(self.client());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut names = Vec::new();
        for crd in crds {
            let name = crd
                .metadata
                .name
                .clone()
                .expect("a CRD needs metadata.name");
            api.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
            names.push(name);
        }
        for name in names {
            match tokio::time::timeout(
                CRD_DEADLINE,
                await_condition(api.clone(), &name, conditions::is_crd_established()),
            )
            .await
            {
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) => {
                    panic!("CRD {name} was deleted while waiting for it to be established")
                }
                Ok(Err(e)) => panic!("watching CRD {name}: {e}"),
                Err(_) => panic!("CRD {name} was not established within {CRD_DEADLINE:?}"),
            }
        }
    }
}

impl ControlPlane {
    /// Kills the kube-apiserver (SIGKILL, as a crash), leaves it down for
    /// `down`, starts it again on the same address with the same flags and
    /// waits until it is ready. etcd keeps running, so every object stays.
    /// Panics (failing the test) when it does not come back.
    pub async fn restart_apiserver(&self, down: Duration) {
        self.instance.kill("kube-apiserver");
        tokio::time::sleep(down).await;
        let (program, args) = &self.apiserver;
        let mut cmd = Command::new(program);
        cmd.args(args);
        let restarted = async {
            self.instance.spawn("kube-apiserver", cmd)?;
            let client = self.client();
            wait_for(&self.instance, "kube-apiserver", APISERVER_DEADLINE, || {
                apiserver_ready(&client)
            })
            .await
            .map_err(|failure| failure.message)
        };
        if let Err(why) = restarted.await {
            panic!(
                "the kube-apiserver did not come back: {why}\n--- last lines of kube-apiserver.log ---\n{}",
                self.instance.log_tail("kube-apiserver", LOG_TAIL_LINES)
            );
        }
    }

    /// The credential files the API server was started with, for the node's
    /// components that sign or verify the same tokens and certificates.
    pub(crate) fn files(&self) -> &certs::CredentialFiles {
        &self.files
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.instance.release();
    }
}

/// Why one start attempt failed.
struct Failure {
    message: String,
    /// Another process took a port between choosing it and binding it; retry.
    port_taken: bool,
}

pub(crate) async fn launch(kind: &str, reach: Reach) -> Result<ControlPlane, String> {
    let etcd = tools::try_kube_bin("etcd")?;
    let apiserver = tools::try_kube_bin("kube-apiserver")?;
    let mut attempt = 1;
    loop {
        match launch_once(kind, reach, &etcd, &apiserver).await {
            Ok(plane) => return Ok(plane),
            Err(failure) if failure.port_taken && attempt < START_ATTEMPTS => {
                let _ = writeln!(
                    std::io::stderr(),
                    "hangar-testenv: a port was taken, restarting: {}",
                    failure.message
                );
                attempt += 1;
            }
            Err(failure) => return Err(failure.message),
        }
    }
}

async fn launch_once(
    kind: &str,
    reach: Reach,
    etcd: &Path,
    apiserver: &Path,
) -> Result<ControlPlane, Failure> {
    let fail = |message: String| Failure {
        message,
        port_taken: false,
    };
    let instance = Instance::create().map_err(fail)?;
    match boot(kind, reach, &instance, etcd, apiserver).await {
        Ok(plane) => Ok(plane),
        Err(mut failure) => {
            failure.message = format!(
                "the {kind} control plane did not start: {}",
                failure.message
            );
            for name in ["etcd", "kube-apiserver"] {
                let tail = instance.log_tail(name, LOG_TAIL_LINES);
                failure.port_taken |= tail.contains("address already in use");
                failure.message += &format!("\n--- last lines of {name}.log ---\n{tail}");
            }
            instance.release();
            Err(failure)
        }
    }
}

async fn boot(
    kind: &str,
    reach: Reach,
    instance: &Arc<Instance>,
    etcd: &Path,
    apiserver: &Path,
) -> Result<ControlPlane, Failure> {
    let fail = |message: String| Failure {
        message,
        port_taken: false,
    };
    let start = Instant::now();
    let dir = instance.dir();
    let extra_names = match reach {
        Reach::Loopback => vec![],
        // In-cluster clients connect to the `kubernetes` Service by address or name.
        Reach::Pods(host) => [
            host.to_string().as_str(),
            KUBERNETES_SERVICE_IP,
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .map(String::from)
        .to_vec(),
    };
    let creds = certs::generate(dir, &extra_names).map_err(fail)?;
    let [etcd_port, peer_port, api_port] = free_ports(reach.address()).map_err(fail)?;

    let etcd_start = Instant::now();
    let mut cmd = Command::new(etcd);
    // etcd also reads its flags from ETCD_* variables and refuses duplicates.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD_") {
            cmd.env_remove(key);
        }
    }
    let client_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    cmd.arg("--name=testenv")
        .arg(format!("--data-dir={}", dir.join("etcd").display()))
        .arg(format!("--listen-client-urls={client_url}"))
        .arg(format!("--advertise-client-urls={client_url}"))
        .arg(format!("--listen-peer-urls={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster=testenv={peer_url}"))
        // Throwaway data: skipping fsync makes every write much faster.
        .arg("--unsafe-no-fsync");
    instance.spawn("etcd", cmd).map_err(fail)?;
    wait_for(instance, "etcd", ETCD_DEADLINE, || etcd_healthy(etcd_port)).await?;
    let etcd_time = etcd_start.elapsed();

    let api_start = Instant::now();
    let files = &creds.files;
    let address = reach.address();
    let mut cmd = Command::new(apiserver);
    cmd.arg(format!("--etcd-servers={client_url}"))
        .arg(format!("--bind-address={address}"))
        .arg(format!("--advertise-address={address}"))
        .arg(format!("--secure-port={api_port}"))
        .arg(format!(
            "--cert-dir={}",
            dir.join("apiserver-certs").display()
        ))
        .arg(format!("--tls-cert-file={}", files.serving_cert.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            files.serving_key.display()
        ))
        .arg(format!("--client-ca-file={}", files.ca_cert.display()))
        .arg(format!(
            "--service-account-issuer=https://{address}:{api_port}"
        ))
        .arg(format!(
            "--service-account-key-file={}",
            files.sa_public_key.display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            files.sa_signing_key.display()
        ))
        .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
        .arg("--authorization-mode=RBAC")
        // Privileged pods are refused by PodSecurity admission, not by this switch.
        .arg("--allow-privileged=true");
    match reach {
        // Without a token controller the plugin would reject every pod.
        Reach::Loopback => {
            cmd.arg("--disable-admission-plugins=ServiceAccount");
        }
        // Logs and port-forwards go to the kubelet by the node's address, not its name.
        Reach::Pods(_) => {
            cmd.arg("--kubelet-preferred-address-types=InternalIP");
        }
    }
    let apiserver_command = (
        apiserver.to_path_buf(),
        cmd.get_args().map(std::ffi::OsStr::to_os_string).collect(),
    );
    instance.spawn("kube-apiserver", cmd).map_err(fail)?;

    let server = format!("https://{address}:{api_port}");
    let kubeconfig = admin_kubeconfig(&server, &creds).map_err(fail)?;
    let config = Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
        .await
        .map_err(|e| {
            fail(format!(
                "turning the generated kubeconfig into a client config: {e}"
            ))
        })?;
    let client = Client::try_from(config.clone())
        .map_err(|e| fail(format!("building the admin client: {e}")))?;
    wait_for(instance, "kube-apiserver", APISERVER_DEADLINE, || {
        apiserver_ready(&client)
    })
    .await?;
    let api_time = api_start.elapsed();

    let kubeconfig_path = dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &kubeconfig_path).map_err(fail)?;
    // Written past the test harness's output capture, so it shows in every run.
    let _ = writeln!(
        std::io::stderr(),
        "hangar-testenv: {kind} control plane ready in {:.1}s (etcd {:.1}s, apiserver {:.1}s) at {server}, files in {}",
        start.elapsed().as_secs_f64(),
        etcd_time.as_secs_f64(),
        api_time.as_secs_f64(),
        dir.display()
    );
    Ok(ControlPlane {
        instance: instance.clone(),
        files: creds.files,
        config,
        kubeconfig,
        kubeconfig_path,
        counter: AtomicUsize::new(0),
        apiserver: apiserver_command,
    })
}

/// Polls `check` until it returns `Ok`, the process exits, or the deadline passes.
async fn wait_for<F, Fut>(
    instance: &Instance,
    name: &str,
    deadline: Duration,
    mut check: F,
) -> Result<(), Failure>
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
        if let Some(status) = instance.exited(name) {
            return Err(Failure {
                message: format!("{name} exited during startup ({status})"),
                port_taken: false,
            });
        }
        if start.elapsed() > deadline {
            return Err(Failure {
                message: format!("{name} was not ready within {deadline:?}; last check: {last}"),
                port_taken: false,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn etcd_healthy(port: u16) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connecting to etcd: {e}"))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .map_err(|e| format!("asking etcd for /health: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| format!("reading etcd's /health: {e}"))?;
    if response.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(format!("etcd /health answered: {response}"))
    }
}

async fn apiserver_ready(client: &Client) -> Result<(), String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .expect("a static request");
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(format!("/readyz answered: {body}")),
        Err(e) => Err(format!("/readyz: {e}")),
    }
}

fn admin_kubeconfig(server: &str, creds: &certs::Credentials) -> Result<Kubeconfig, String> {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {
            "server": server,
            "certificate-authority-data": b64(&creds.ca_pem),
        }}],
        "users": [{"name": "admin", "user": {
            "client-certificate-data": b64(&creds.admin_cert_pem),
            "client-key-data": b64(&creds.admin_key_pem),
        }}],
        "contexts": [{"name": "testenv", "context": {"cluster": "testenv", "user": "admin"}}],
        "current-context": "testenv",
    }))
    .map_err(|e| format!("building the kubeconfig: {e}"))
}

fn write_kubeconfig(kubeconfig: &Kubeconfig, path: &Path) -> Result<(), String> {
    let yaml = serde_saphyr::to_string(kubeconfig)
        .map_err(|e| format!("serializing a kubeconfig: {e}"))?;
    std::fs::write(path, yaml).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Three distinct free ports (the API server's on `address`, etcd's on
/// loopback). Another process may take one before etcd or the API server
/// binds it; [`launch`] retries then.
fn free_ports(address: IpAddr) -> Result<[u16; 3], String> {
    let bind = |address: IpAddr| {
        TcpListener::bind((address, 0))
            .and_then(|l| Ok((l.local_addr()?.port(), l)))
            .map_err(|e| format!("finding a free port: {e}"))
    };
    // All three stay bound until the end, so they differ.
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (a, b, c) = (bind(loopback)?, bind(loopback)?, bind(address)?);
    Ok([a.0, b.0, c.0])
}

/// The running test's name: libtest names each test's thread after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" && !name.starts_with("tokio-") => {
            name.rsplit("::").next().unwrap_or(name).to_string()
        }
        _ => "test".to_string(),
    }
}

/// Lower-case alphanumerics and dashes, at most `max` characters, no dash at
/// either end, never empty.
fn dns_label(text: &str, max: usize) -> String {
    let mut label = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            label.push(c);
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
        if label.len() >= max {
            break;
        }
    }
    let label = label.trim_end_matches('-');
    if label.is_empty() {
        "x".to_string()
    } else {
        label.to_string()
    }
}
