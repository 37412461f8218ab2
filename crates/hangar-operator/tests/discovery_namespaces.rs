//! Namespace discovery across namespaces: the controller watches the whole
//! cluster, as the operator does by default. Its own test binary (and so its
//! own control plane): a cluster-wide controller would also reconcile the
//! sources of other tests.

mod operator_support;

use hangar_api::{MCPDiscoverySource, MCPServer};
use hangar_operator::discovery;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, Patch, PatchParams};
use operator_support::{context, create, eventually, namespace};
use serde_json::json;

#[tokio::test]
async fn services_in_selected_namespaces_become_servers_in_the_source_namespace() {
    let (client, home) = namespace(&[]).await;
    let (_, team_a) = namespace(&[("mcp-hangar.io/team", "tools")]).await;
    let (_, team_b) = namespace(&[("mcp-hangar.io/team", "tools")]).await;
    let (_, later) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    tokio::spawn(async move { discovery::run(ctx, None, std::future::pending()).await });

    for ns in [&team_a, &team_b, &later] {
        create::<Service>(
            &client,
            ns,
            "apiVersion: v1\nkind: Service\nmetadata: {name: tools}\nspec: {ports: [{name: mcp, port: 8080}]}",
        )
        .await;
    }
    create::<MCPDiscoverySource>(
        &client,
        &home,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: teams}\n\
         spec: {type: Namespace, mode: Authoritative, refreshInterval: 1h, \
         namespaceSelector: {matchLabels: {mcp-hangar.io/team: tools}}}",
    )
    .await;

    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &home);
    for ns in [&team_a, &team_b] {
        let name = format!("tools-{ns}");
        let server = eventually("a server for each selected namespace", || async {
            servers.get_opt(&name).await.unwrap()
        })
        .await;
        assert_eq!(
            server.spec.endpoint.as_deref(),
            Some(format!("http://tools.{ns}.svc:8080/mcp").as_str())
        );
    }
    let sources: Api<MCPDiscoverySource> = Api::namespaced(client.clone(), &home);
    let ready = eventually("Ready naming both namespaces", || async {
        sources
            .get("teams")
            .await
            .ok()?
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "True")
    })
    .await;
    assert!(
        ready.message.contains(&team_a) && ready.message.contains(&team_b),
        "{}",
        ready.message
    );
    assert!(
        servers
            .get_opt(&format!("tools-{later}"))
            .await
            .unwrap()
            .is_none()
    );

    // A namespace labelled later joins the selection at once.
    Api::<Namespace>::all(client.clone())
        .patch(
            &later,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"mcp-hangar.io/team": "tools"}}})),
        )
        .await
        .unwrap();
    eventually("the newly selected namespace's server", || async {
        servers.get_opt(&format!("tools-{later}")).await.unwrap()
    })
    .await;
}
