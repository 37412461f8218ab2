//! The operator's NetworkPolicies, enforced: on the real test node, whose
//! kube-router turns policies into firewall rules, a container MCPServer's
//! pods take connections only from the peers its policies name — the gateways
//! that federate it and `spec.network.ingress` (the operator's health checks
//! come from the node here, which the firewall always admits) — and turn
//! every other pod away, in their namespace or another.

mod operator_support;

use hangar_api::{MCPGateway, MCPServer, crds};
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, server};
use hangar_testenv::NodeOptions;
use hangar_testenv::node::image_archive;
use hangar_testenv::node::probe::{TURNED_AWAY, python_pod, run_to_end};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use operator_support::{context_with, create, eventually, settings};
use serde_json::json;

/// An MCP server on the official Python SDK, on every address of its pod.
const WEATHER: &str = r#"
from mcp.server.mcpserver import MCPServer
server = MCPServer(name="weather-py", version="1.2.3")
@server.tool()
def forecast(city: str) -> str:
    return f"Sunny in {city}"
server.run("streamable-http", host="0.0.0.0", port=8080)
"#;

/// An MCP initialize request, answered by the server itself.
const ADMITTED: &str = r#"
import json, os, urllib.request
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "probe", "version": "1"}}}).encode()
request = urllib.request.Request("http://" + os.environ["TARGET"] + ":8080/mcp", data=body,
    headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
answer = urllib.request.urlopen(request, timeout=10).read().decode()
assert "weather-py" in answer, answer
print("admitted")
"#;

const RESTRICTED: [(&str, &str); 1] = [("pod-security.kubernetes.io/enforce", "restricted")];

fn probe_pod(name: &str, labels: serde_json::Value, target: &str, script: &str) -> Pod {
    python_pod(
        name,
        labels,
        &[("TARGET", target), ("PORT", "8080")],
        script,
    )
}

/// Runs the pod to its end and asserts that it succeeded; its logs.
async fn succeeds(pods: &Api<Pod>, pod: Pod, what: &str) -> String {
    let (phase, logs) = run_to_end(pods, &pod).await;
    assert_eq!(phase, "Succeeded", "{what}:\n{logs}");
    logs
}

#[tokio::test]
async fn a_servers_pods_admit_only_its_gateways_and_declared_peers() {
    let cluster = hangar_testenv::shared_cluster_with(NodeOptions {
        enforce_network_policies: true,
    })
    .await;
    let python = image_archive("python").unwrap_or_else(|why| panic!("{why}"));
    cluster.import_image(&python).await;
    let plane = cluster.plane();
    plane.install_crds(crds()).await;
    let ns = plane.namespace_with_labels(&RESTRICTED).await;
    let elsewhere = plane.namespace_with_labels(&RESTRICTED).await;
    let client = plane.client();
    let (ctx, _) = context_with(
        &client,
        BuildSettings {
            operator_namespace: Some("hangar-system".into()),
            ..settings()
        },
    );
    for run_gateways in [true, false] {
        let (ctx, watched) = (ctx.clone(), ns.clone());
        tokio::spawn(async move {
            if run_gateways {
                gateway::run(ctx, Some(&watched), std::future::pending()).await
            } else {
                server::run(ctx, Some(&watched), std::future::pending()).await
            }
        });
    }
    let script = serde_json::to_string(WEATHER).expect("a JSON string");
    create::<MCPServer>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n\
             metadata: {{name: weather, labels: {{serve: 'yes'}}}}\n\
             spec:\n  image: hangar.local/mcp-python\n  tag: e2e\n\
             \x20 command: [python, -c, {script}]\n\
             \x20 network:\n    ingress: [{{from: [{{podSelector: {{matchLabels: {{app: notebook}}}}}}]}}]"
        ),
    )
    .await;
    create::<MCPGateway>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge}\n\
         spec: {serverSelector: {matchLabels: {serve: 'yes'}}}",
    )
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually("a ready pod of the server weather", || async {
        let list = pods
            .list(&ListParams::default().labels("mcp-hangar.io/server=weather"))
            .await
            .ok()?;
        list.items
            .iter()
            .any(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .then_some(())
    })
    .await;
    // The node itself gets through (the firewall admits it): so the Service routes.
    cluster.service_routes(&ns, "weather", 8080).await;
    let target = format!("weather.{ns}.svc");

    let outsider = probe_pod("outsider", json!({}), &target, TURNED_AWAY);
    let away = Api::<Pod>::namespaced(client.clone(), &elsewhere);
    succeeds(
        &away,
        outsider.clone(),
        "a pod of another namespace got through",
    )
    .await;
    succeeds(
        &pods,
        outsider,
        "an unnamed pod of the server's namespace got through",
    )
    .await;

    let notebook = probe_pod("notebook", json!({"app": "notebook"}), &target, ADMITTED);
    let logs = succeeds(&pods, notebook, "the spec.network.ingress peer was refused").await;
    assert!(logs.contains("admitted"), "{logs}");
    eventually("the gateway's NetworkPolicy edge-servers", || async {
        Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::namespaced(client.clone(), &ns)
            .get_opt("edge-servers")
            .await
            .ok()?
    })
    .await;
    let gateway_pod = probe_pod(
        "gateway-pod",
        json!({"mcp-hangar.io/gateway": "edge"}),
        &target,
        ADMITTED,
    );
    let logs = succeeds(&pods, gateway_pod, "a pod of the gateway edge was refused").await;
    assert!(logs.contains("admitted"), "{logs}");
}
