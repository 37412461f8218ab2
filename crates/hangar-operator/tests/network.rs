//! NetworkPolicies against a real kube-apiserver: the operator writes one per
//! MCPServer (health checks from the operator's namespace, plus
//! `spec.network`), and per gateway one for its pods, one admitting it to the
//! container servers it federates and one admitting only it to its managed
//! Redis; the API server validates every one. `network_enforced.rs` runs them
//! on a node that enforces them.

mod operator_support;

use hangar_api::{MCPGateway, MCPServer};
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, server};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams};
use operator_support::{context_with, create, eventually, namespace, settings};
use serde_json::json;

#[tokio::test]
async fn servers_gateways_and_redis_get_network_policies_the_api_server_accepts() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context_with(
        &client,
        BuildSettings {
            operator_namespace: Some("hangar-system".into()),
            ..settings()
        },
    );
    for run in [true, false] {
        let (ctx, watched) = (ctx.clone(), ns.clone());
        tokio::spawn(async move {
            if run {
                gateway::run(ctx, Some(&watched), std::future::pending()).await
            } else {
                server::run(ctx, Some(&watched), std::future::pending()).await
            }
        });
    }
    for yaml in [
        "metadata: {name: files, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/files}",
        "metadata: {name: cold, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/cold, replicas: 0}",
        "metadata: {name: saas, labels: {serve: 'yes'}}\nspec: {mode: remote, endpoint: 'https://saas.example/mcp'}",
        "metadata: {name: db-tools}\nspec:\n  image: ghcr.io/acme/db\n  network:\n    ingress: [{from: [{podSelector: {matchLabels: {app: notebook}}}], ports: [{port: 8080}]}]\n    egress: [{to: [{ipBlock: {cidr: 10.20.0.0/16}}], ports: [{port: 5432, protocol: TCP}]}]",
    ] {
        create::<MCPServer>(
            &client,
            &ns,
            &format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n{yaml}"),
        )
        .await;
    }
    create::<MCPGateway>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge}\n\
         spec: {replicas: 2, serverSelector: {matchLabels: {serve: 'yes'}}, redis: {managed: true}}",
    )
    .await;
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let get = |name: &'static str| {
        let policies = policies.clone();
        async move {
            eventually(&format!("NetworkPolicy {name}"), || async {
                policies.get_opt(name).await.unwrap()
            })
            .await
            .spec
            .unwrap()
        }
    };

    // A server's pods admit the operator's health checks on the MCP port.
    let files = get("files").await;
    let rule = &files.ingress.unwrap()[0];
    let operator = &rule.from.as_ref().unwrap()[0];
    assert_eq!(
        operator
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["kubernetes.io/metadata.name"],
        "hangar-system"
    );
    assert_eq!(
        serde_json::to_value(&rule.ports).unwrap(),
        json!([{"port": 8080, "protocol": "TCP"}])
    );
    assert!(files.egress.is_none());
    get("cold").await;
    // spec.network: more peers in, and only the declared destinations (and DNS) out.
    let db = get("db-tools").await;
    assert_eq!(db.ingress.as_ref().unwrap().len(), 2);
    assert_eq!(db.egress.as_ref().unwrap().len(), 2);
    assert_eq!(
        db.policy_types.as_deref(),
        Some(&["Ingress".to_string(), "Egress".to_string()][..])
    );
    // The gateway admits itself to the container servers it federates (not
    // the remote one, not a server it does not select).
    let admitted = get("edge-servers").await;
    let mut servers = admitted.pod_selector.unwrap().match_expressions.unwrap()[0]
        .values
        .clone()
        .unwrap();
    servers.sort();
    assert_eq!(servers, ["cold", "files"]);
    let gateway_pods = &admitted.ingress.unwrap()[0].from.clone().unwrap()[0];
    assert_eq!(
        gateway_pods
            .pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["mcp-hangar.io/gateway"],
        "edge"
    );
    let edge = get("edge").await;
    assert!(
        edge.ingress.unwrap()[0].from.is_none(),
        "clients from anywhere"
    );
    // Redis: Egress isolated with no rule (the API server stores no empty list): nowhere.
    let redis = get("edge-redis").await;
    assert!(redis.egress.unwrap_or_default().is_empty());
    assert!(redis.policy_types.unwrap().contains(&"Egress".to_string()));
    assert!(
        policies.get_opt("saas").await.unwrap().is_none(),
        "remote: no pods"
    );

    // Turning policies off removes the server's.
    Api::<MCPServer>::namespaced(client.clone(), &ns)
        .patch(
            "db-tools",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"network": {"policies": false}}})),
        )
        .await
        .unwrap();
    eventually("db-tools' NetworkPolicy to go", || async {
        policies
            .get_opt("db-tools")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}
