//! The configuration files of the node's components, from one [`Layout`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::plane::SERVICE_CIDR;

/// The node's name in the API.
pub(crate) const NODE_NAME: &str = "hangar-node";
/// The Linux bridge the pods' veths join; its address is the pods' gateway.
pub(crate) const BRIDGE: &str = "hangar0";
/// The CNI network's name: in the CNI plugins' iptables comments and cache files.
pub(crate) const CNI_NETWORK: &str = "hangar-node";
/// The pods' addresses, routed from the host through the bridge.
pub(crate) const POD_CIDR: &str = "10.244.0.0/24";
/// The cgroup (in every hierarchy) that holds every pod.
pub(crate) const CGROUP_ROOT: &str = "hangar-node";
/// The sandbox ("pause") image, built by `scripts/image.sh pause`.
pub(crate) const SANDBOX_IMAGE: &str = "hangar.local/pause:1";
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// Where everything of one node lives, and the addresses it uses.
pub(crate) struct Layout {
    pub dir: PathBuf,
    /// The host's address: the node's InternalIP, where the API server, the
    /// kubelet and the cluster DNS listen, reachable from pods.
    pub host_ip: Ipv4Addr,
    /// Admin credentials for every component.
    pub kubeconfig: PathBuf,
    pub kubelet_port: u16,
    pub proxy_metrics_port: u16,
    pub dns_ready_port: u16,
    pub cni_bin: PathBuf,
    pub runc: PathBuf,
}

impl Layout {
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn containerd_socket(&self) -> PathBuf {
        self.path("containerd/containerd.sock")
    }

    fn display(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// containerd 2.x, config version 3: all state in the scratch directory
/// (network namespaces too), pods in the CRI namespace `k8s.io`.
pub(crate) fn containerd(layout: &Layout) -> String {
    let sock = layout.containerd_socket();
    let quote = |p: &Path| toml_string(&p.display().to_string());
    format!(
        r#"version = 3
root = {root}
state = {state}
# No plugin that needs something the test machine lacks, or writes outside the scratch directory.
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = {sock}
[ttrpc]
  address = {ttrpc}
[debug]
  address = ""
[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {sandbox}

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # Test machines may lack CAP_SYS_RESOURCE: pods may not get a lower OOM score than containerd.
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = {runc}
  Root = {runc_root}

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [{cni_bin}]
  conf_dir = {cni_conf}
"#,
        root = toml_string(&layout.display("containerd/root")),
        state = toml_string(&layout.display("containerd/state")),
        sock = quote(&sock),
        ttrpc = toml_string(&format!("{}.ttrpc", sock.display())),
        sandbox = toml_string(SANDBOX_IMAGE),
        runc = quote(&layout.runc),
        runc_root = toml_string(&layout.display("containerd/runc")),
        cni_bin = quote(&layout.cni_bin),
        cni_conf = toml_string(&layout.display("cni/net.d")),
    )
}

fn toml_string(text: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(text).expect("a string serializes")
}

/// The CNI network: a bridge with host-local addresses from [`POD_CIDR`], the
/// host as gateway, masquerading for traffic leaving the pod network.
pub(crate) fn cni(layout: &Layout) -> String {
    json!({
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                // A pod can reach itself through its own Service.
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": layout.path("cni/ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    })
    .to_string()
}

/// The kubelet (JSON is YAML): cgroup v1 allowed, everything under the scratch
/// directory, the host's address for DNS, no image garbage collection and no
/// disk-pressure evictions (images are imported, never pulled, and test
/// machines run with little free disk).
pub(crate) fn kubelet(layout: &Layout) -> String {
    let socket = format!("unix://{}", layout.containerd_socket().display());
    json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": false,
        "failSwapOn": false,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": format!("/{CGROUP_ROOT}"),
        "containerRuntimeEndpoint": socket,
        "imageServiceEndpoint": socket,
        "address": layout.host_ip.to_string(),
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzPort": 0,
        "clusterDNS": [layout.host_ip.to_string()],
        "clusterDomain": CLUSTER_DOMAIN,
        // The API server reaches logs, exec and port-forward without client certificates.
        "authentication": {"anonymous": {"enabled": true}, "webhook": {"enabled": false}},
        "authorization": {"mode": "AlwaysAllow"},
        "podLogsDir": layout.path("pod-logs"),
        "volumePluginDir": layout.path("kubelet/volume-plugins"),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        // Only memory: a map without the disk signals turns them off.
        "evictionHard": {"memory.available": "50Mi"},
        "serializeImagePulls": false,
    })
    .to_string()
}

/// kube-proxy in iptables mode. It changes no sysctl it can leave alone
/// (conntrack sizes and timeouts, localhost NodePorts).
pub(crate) fn kube_proxy(layout: &Layout) -> String {
    json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": layout.kubeconfig},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "bindAddress": layout.host_ip.to_string(),
        "healthzBindAddress": "",
        "metricsBindAddress": format!("127.0.0.1:{}", layout.proxy_metrics_port),
        "nodePortAddresses": ["primary"],
        "iptables": {"localhostNodePorts": false},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    })
    .to_string()
}

/// CoreDNS as the cluster DNS on the host's address: Services and pods of
/// [`CLUSTER_DOMAIN`] from the API, everything else from the host's resolver.
pub(crate) fn corefile(layout: &Layout) -> String {
    format!(
        r#".:53 {{
    bind {host}
    errors
    ready 127.0.0.1:{ready}
    kubernetes {domain} in-addr.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa
    }}
    forward . /etc/resolv.conf
    cache 5
}}
"#,
        host = layout.host_ip,
        ready = layout.dns_ready_port,
        domain = CLUSTER_DOMAIN,
        kubeconfig = layout.kubeconfig.display(),
    )
}

/// Flags kube-controller-manager needs beyond its kubeconfig: the key that
/// signs ServiceAccount tokens and the CA published to every namespace.
pub(crate) fn controller_manager_args(
    layout: &Layout,
    ca_cert: &Path,
    sa_key: &Path,
) -> Vec<String> {
    let kubeconfig = layout.kubeconfig.display();
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--secure-port=0".into(),
        format!("--service-account-private-key-file={}", sa_key.display()),
        format!("--root-ca-file={}", ca_cert.display()),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        // Pod addresses come from the CNI configuration, not from the node's spec.podCIDR.
        "--controllers=*,-nodeipam".into(),
        "--cluster-name=hangar-testenv".into(),
        "--leader-elect=false".into(),
    ]
}

pub(crate) fn scheduler_args(layout: &Layout) -> Vec<String> {
    let kubeconfig = layout.kubeconfig.display();
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--secure-port=0".into(),
        "--leader-elect=false".into(),
    ]
}

/// kube-router with only its firewall: it turns NetworkPolicies into
/// iptables rules and ipsets for the node's pods. Routing and the service
/// proxy stay with the CNI bridge and kube-proxy.
pub(crate) fn firewall_args(layout: &Layout, health_port: u16) -> Vec<String> {
    vec![
        "--run-firewall=true".into(),
        "--run-router=false".into(),
        "--run-service-proxy=false".into(),
        "--enable-cni=false".into(),
        "--enable-ipv6=false".into(),
        format!("--kubeconfig={}", layout.kubeconfig.display()),
        format!("--hostname-override={NODE_NAME}"),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!("--health-port={health_port}"),
        "--metrics-port=0".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            dir: PathBuf::from("/tmp/hangar-node-x"),
            host_ip: Ipv4Addr::new(192, 0, 2, 7),
            kubeconfig: PathBuf::from("/tmp/hangar-cp-y/kubeconfig"),
            kubelet_port: 40001,
            proxy_metrics_port: 40002,
            dns_ready_port: 40003,
            cni_bin: PathBuf::from("/usr/lib/cni"),
            runc: PathBuf::from("/usr/sbin/runc"),
        }
    }

    #[test]
    fn containerd_keeps_its_state_and_network_namespaces_in_the_scratch_directory() {
        let config = containerd(&layout());
        for line in [
            r#"root = "/tmp/hangar-node-x/containerd/root""#,
            r#"state = "/tmp/hangar-node-x/containerd/state""#,
            r#"address = "/tmp/hangar-node-x/containerd/containerd.sock""#,
            "netns_mounts_under_state_dir = true",
            r#"sandbox = "hangar.local/pause:1""#,
            r#"Root = "/tmp/hangar-node-x/containerd/runc""#,
        ] {
            assert!(config.contains(line), "missing {line:?} in:\n{config}");
        }
    }

    #[test]
    fn the_kubelet_and_the_dns_use_the_hosts_address() {
        let kubelet: serde_json::Value = serde_json::from_str(&kubelet(&layout())).unwrap();
        assert_eq!(kubelet["clusterDNS"], json!(["192.0.2.7"]));
        assert_eq!(kubelet["address"], "192.0.2.7");
        assert_eq!(kubelet["failCgroupV1"], false);
        assert_eq!(kubelet["cgroupRoot"], "/hangar-node");
        assert_eq!(
            kubelet["containerRuntimeEndpoint"],
            "unix:///tmp/hangar-node-x/containerd/containerd.sock"
        );
        let dns = corefile(&layout());
        assert!(dns.contains("bind 192.0.2.7"), "{dns}");
        assert!(dns.contains("ready 127.0.0.1:40003"), "{dns}");
    }

    #[test]
    fn pods_get_addresses_from_the_pod_range_on_the_bridge() {
        let cni: serde_json::Value = serde_json::from_str(&cni(&layout())).unwrap();
        let bridge = &cni["plugins"][0];
        assert_eq!(bridge["bridge"], BRIDGE);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], POD_CIDR);
        assert_eq!(bridge["ipam"]["dataDir"], "/tmp/hangar-node-x/cni/ipam");
    }

    #[test]
    fn kube_router_runs_only_its_firewall_for_this_node() {
        let args = firewall_args(&layout(), 40004);
        for arg in [
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--hostname-override=hangar-node",
            "--kubeconfig=/tmp/hangar-cp-y/kubeconfig",
            "--health-port=40004",
        ] {
            assert!(args.iter().any(|a| a == arg), "missing {arg} in {args:?}");
        }
    }
}
