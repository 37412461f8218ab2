//! Namespace discovery across namespaces: the controller watches the whole
//! cluster, as the operator does by default. Its own test binary (and so its
//! own control plane): a cluster-wide controller would also reconcile the
//! sources of other tests.

mod operator_support;

use hangar_api::{DISCOVERABLE_LABEL, MCPDiscoverySource, MCPDiscoverySourceStatus, MCPServer};
use hangar_operator::discovery;
use hangar_operator::server::build::BuildSettings;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use operator_support::{context_with, create, eventually, namespace, settings};
use serde_json::json;

const TEAM: (&str, &str) = ("mcp-hangar.io/team", "tools");
const OPEN: (&str, &str) = (DISCOVERABLE_LABEL, "true");

async fn service_in(client: &Client, ns: &str) {
    create::<Service>(
        client,
        ns,
        "apiVersion: v1\nkind: Service\nmetadata: {name: tools}\nspec: {ports: [{name: mcp, port: 8080}]}",
    )
    .await;
}

async fn source_in(client: &Client, ns: &str) {
    create::<MCPDiscoverySource>(
        client,
        ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: teams}\n\
         spec: {type: Namespace, mode: Authoritative, refreshInterval: 1h, \
         namespaceSelector: {matchLabels: {mcp-hangar.io/team: tools}}}",
    )
    .await;
}

async fn status(client: &Client, ns: &str) -> Option<MCPDiscoverySourceStatus> {
    Api::<MCPDiscoverySource>::namespaced(client.clone(), ns)
        .get("teams")
        .await
        .ok()?
        .status
}

async fn label(client: &Client, ns: &str, (key, value): (&str, &str)) {
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn services_in_selected_namespaces_that_opt_in_become_servers_in_the_source_namespace() {
    // One controller for the cluster, as the operator runs: sources in a team's
    // namespace and in the operator's own.
    let (client, home) = namespace(&[]).await;
    let (_, platform) = namespace(&[]).await;
    let (_, team_a) = namespace(&[TEAM, OPEN]).await;
    let (_, team_b) = namespace(&[TEAM, OPEN]).await;
    let (_, closed) = namespace(&[TEAM]).await;
    let (_, later) = namespace(&[OPEN]).await;
    let (ctx, _) = context_with(
        &client,
        BuildSettings {
            operator_namespace: Some(platform.clone()),
            ..settings()
        },
    );
    tokio::spawn(async move { discovery::run(ctx, None, std::future::pending()).await });

    for ns in [&team_a, &team_b, &closed, &later] {
        service_in(&client, ns).await;
    }
    source_in(&client, &home).await;

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
    let home_status = eventually("Ready naming both namespaces", || async {
        let status = status(&client, &home).await?;
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(status)
    })
    .await;
    let ready = home_status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        ready.message.contains(&team_a) && ready.message.contains(&team_b),
        "{}",
        ready.message
    );
    // A selected namespace that did not opt in is not imported, and status says why.
    assert!(
        servers
            .get_opt(&format!("tools-{closed}"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(home_status.excluded_namespaces.len(), 1, "{home_status:?}");
    let excluded = &home_status.excluded_namespaces[0];
    assert_eq!(excluded.name, closed);
    assert!(
        excluded.reason.contains(DISCOVERABLE_LABEL),
        "{}",
        excluded.reason
    );
    assert!(ready.message.contains("not scanned"), "{}", ready.message);
    assert!(
        servers
            .get_opt(&format!("tools-{later}"))
            .await
            .unwrap()
            .is_none()
    );

    // The same selection from a source in the operator's namespace imports
    // the namespace that did not opt in.
    source_in(&client, &platform).await;
    let platform_servers: Api<MCPServer> = Api::namespaced(client.clone(), &platform);
    eventually(
        "the operator namespace's source to import every selected namespace",
        || async {
            platform_servers
                .get_opt(&format!("tools-{closed}"))
                .await
                .unwrap()
        },
    )
    .await;

    // A namespace labelled later joins the selection at once; one that opts in is imported.
    label(&client, &later, TEAM).await;
    eventually("the newly selected namespace's server", || async {
        servers.get_opt(&format!("tools-{later}")).await.unwrap()
    })
    .await;
    label(&client, &closed, OPEN).await;
    eventually("the namespace that opted in to be imported", || async {
        servers.get_opt(&format!("tools-{closed}")).await.unwrap()
    })
    .await;
    eventually("no namespace excluded any more", || async {
        status(&client, &home)
            .await?
            .excluded_namespaces
            .is_empty()
            .then_some(())
    })
    .await;
}
