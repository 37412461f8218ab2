//! The steps every end-to-end test takes on the cluster: importing the images
//! `scripts/image.sh` built, installing the chart, reading pods and servers,
//! and printing the cluster when a test fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hangar_api::{MCPServer, ServerState};
use hangar_testenv::Cluster;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::{Report, helm, seconds, within};

pub const OPERATOR_NAMESPACE: &str = "hangar-system";
pub const RELEASE: &str = "hangar";
/// The tag of the Hangar image (and the test's Python image) that
/// `scripts/image.sh` builds.
pub const TAG: &str = "e2e";

/// The archive `scripts/image.sh` built for `name`.
pub fn archive(name: &str) -> PathBuf {
    hangar_testenv::node::image_archive(name).unwrap_or_else(|why| panic!("{why}"))
}

/// `helm install` of deploy/helm/hangar with the image `scripts/image.sh`
/// built, into a namespace enforcing "restricted": both operator replicas
/// run under the chart's ServiceAccount (so the chart's RBAC only), one
/// leads, and both report ready. Returns when the install began.
pub async fn install_chart(cluster: &Cluster, report: &mut Report, deadline: Duration) -> Instant {
    let client = cluster.plane().client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": OPERATOR_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }))
    .expect("a Namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("creating the operator's namespace");
    let started = Instant::now();
    helm(
        cluster.plane().kubeconfig(),
        &[
            "install",
            RELEASE,
            "deploy/helm/hangar",
            "--namespace",
            OPERATOR_NAMESPACE,
            "--set",
            "image.repository=hangar.local/hangar",
            "--set",
            &format!("image.tag={TAG}"),
            "--set",
            "image.pullPolicy=Never",
            "--wait",
            "--timeout",
            "5m",
        ],
    )
    .await
    .unwrap_or_else(|why| panic!("{why}\n{}", cluster.log_tail("kubelet", 20)));
    report.figure(
        "helm install --wait (operator ready)",
        seconds(started.elapsed()),
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let operators = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=operator"))
        .await
        .expect("listing the operator's pods")
        .items;
    assert_eq!(operators.len(), 2, "the chart runs two replicas");
    for pod in &operators {
        assert!(pod_ready(pod), "{} is not ready", pod.name_any());
        let spec = pod.spec.as_ref().expect("a pod spec");
        assert_eq!(
            spec.service_account_name.as_deref(),
            Some(RELEASE),
            "the operator runs as the chart's ServiceAccount"
        );
    }
    let names: Vec<String> = operators.iter().map(|p| p.name_any()).collect();
    let leases: Api<Lease> = Api::namespaced(client, OPERATOR_NAMESPACE);
    let leader = within(deadline, "an operator replica to lead", || async {
        let lease = leases.get_opt(RELEASE).await.map_err(|e| e.to_string())?;
        lease
            .and_then(|l| l.spec?.holder_identity)
            .filter(|holder| names.contains(holder))
            .ok_or_else(|| "no replica holds the Lease".to_string())
    })
    .await;
    report.step(&format!(
        "helm install: 2 operator replicas ready in a restricted namespace, {leader} leads"
    ));
    started
}

pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn state_of(server: &MCPServer) -> Option<ServerState> {
    server.status.as_ref()?.state
}

/// A server's state and conditions, for a failure message.
pub fn describe(server: &MCPServer) -> String {
    let Some(status) = &server.status else {
        return "no status yet".into();
    };
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| format!("{}={} ({}: {})", c.type_, c.status, c.reason, c.message))
        .collect();
    format!("state {:?}, {}", status.state, conditions.join("; "))
}

/// On a failure, prints what the cluster looked like: the pods, the recent
/// Events of each of `namespaces`, and the logs of the gateway and operator
/// pods.
pub fn print_cluster_on_failure(kubeconfig: &Path, namespaces: &[&str]) {
    let kubeconfig = kubeconfig.to_path_buf();
    let namespaces: Vec<String> = namespaces.iter().map(|n| n.to_string()).collect();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let Ok(kubectl) = hangar_testenv::tools::try_kube_bin("kubectl") else {
            return;
        };
        let gateways_and_operators = "app.kubernetes.io/component in (gateway, operator)";
        let mut commands = vec![vec!["get", "pods", "-A", "-o", "wide"]];
        for namespace in namespaces.iter().map(String::as_str) {
            commands.push(vec![
                "get",
                "events",
                "-n",
                namespace,
                "--sort-by=.lastTimestamp",
            ]);
            // Every container the operator runs here, servers included.
            commands.push(vec![
                "logs",
                "-n",
                namespace,
                "-l",
                "app.kubernetes.io/managed-by=hangar",
                "--all-containers",
                "--prefix",
                "--tail=30",
                "--max-log-requests=30",
            ]);
        }
        commands.push(vec![
            "logs",
            "-n",
            OPERATOR_NAMESPACE,
            "-l",
            gateways_and_operators,
            "--prefix",
            "--tail=40",
        ]);
        for args in commands {
            if let Ok(output) = std::process::Command::new(&kubectl)
                .arg(format!("--kubeconfig={}", kubeconfig.display()))
                .args(&args)
                .output()
            {
                eprintln!(
                    "--- kubectl {} ---\n{}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }));
}
