//! One-off probe pods on the test node: a Python script run once in the
//! Python image (`scripts/image.sh python`) with restricted settings, and
//! the script that checks a NetworkPolicy turns the pod away.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Waits for its first refused connection to `$TARGET:$PORT` (a firewall
/// applies a policy shortly after it or the pod appears), then checks that
/// the next ones are refused too; prints `turned away`.
pub const TURNED_AWAY: &str = r#"
import os, socket, time
target = (os.environ["TARGET"], int(os.environ["PORT"]))
def connects():
    try:
        socket.create_connection(target, timeout=3).close()
        return True
    except OSError:
        return False
deadline = time.time() + 90
while connects():
    assert time.time() < deadline, "still admitted after 90s"
    time.sleep(0.5)
assert not any(connects() for _ in range(3)), "admitted again"
print("turned away")
"#;

/// A pod with `labels` that runs `script` once with `env`, under the
/// `restricted` Pod Security level.
pub fn python_pod(
    name: &str,
    labels: serde_json::Value,
    env: &[(&str, &str)],
    script: &str,
) -> Pod {
    let env: Vec<_> = env
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "probe",
                "image": "hangar.local/mcp-python:e2e",
                "imagePullPolicy": "Never",
                "command": ["python", "-c", script],
                "env": env,
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }],
        },
    }))
    .expect("a Pod")
}

/// Creates the pod and waits for its end: its phase and logs (through the
/// API server and the kubelet).
pub async fn run_to_end(pods: &Api<Pod>, pod: &Pod) -> (String, String) {
    let name = pod.metadata.name.clone().expect("a named pod");
    pods.create(&PostParams::default(), pod)
        .await
        .unwrap_or_else(|e| panic!("creating pod {name}: {e}"));
    let phase = crate::eventually(&format!("pod {name} to finish"), || async {
        let phase = pods.get(&name).await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let logs = pods
        .logs(&name, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("the logs of {name}: {e}"));
    (phase, logs)
}
