//! The MCPServer controller with many objects at once, against a real
//! kube-apiserver: deleting many servers reports no false failures, and no
//! more reconciles run at once than the concurrency allows.

mod operator_support;

use std::sync::Arc;
use std::time::Duration;

use hangar_api::MCPServer;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};

use operator_support::{context, eventually, from_yaml, namespace, settings};

/// Enough servers that reconciles of one object overlap (its owned objects'
/// deletions queue reconciles while the finalizer is being removed).
const SERVERS: usize = 40;

async fn create_servers(client: &Client, ns: &str, count: usize) {
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), ns);
    for n in 0..count {
        let server: MCPServer = from_yaml(&format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n\
             metadata: {{name: s{n}}}\nspec: {{image: ghcr.io/acme/tools}}"
        ));
        servers
            .create(&PostParams::default(), &server)
            .await
            .unwrap();
    }
}

/// How many servers carry the operator's finalizer and a reconciled status.
async fn reconciled(servers: &Api<MCPServer>) -> usize {
    servers
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| {
            !s.finalizers().is_empty()
                && s.status
                    .as_ref()
                    .is_some_and(|st| st.observed_generation == s.metadata.generation)
        })
        .count()
}

async fn events_with_reason(client: &Client, ns: &str, reason: &str) -> usize {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .count()
}

#[tokio::test]
async fn deleting_many_servers_reports_no_finalizer_failure() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, metrics) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_servers(&client, &ns, SERVERS).await;
    eventually("every server reconciled", || async {
        (reconciled(&servers).await == SERVERS).then_some(())
    })
    .await;

    servers
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    eventually("every server deleted", || async {
        servers
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    // Reconciles of cached copies still queued when the last object went away.
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(
        events_with_reason(&client, &ns, "Deleted").await >= SERVERS,
        "every cleanup is reported"
    );
    assert_eq!(
        events_with_reason(&client, &ns, "FinalizerFailed").await,
        0,
        "a finalizer removed from an object already gone is no failure"
    );
    let exposed = metrics.encode();
    assert!(
        !exposed.contains("FinalizerFailed"),
        "no FinalizerFailed error in the metrics:\n{exposed}"
    );
}

/// The value of `metric` with `labels` in the text exposition `exposed`.
fn sample(exposed: &str, metric: &str, labels: &str) -> Option<i64> {
    let prefix = format!("{metric}{{{labels}}} ");
    exposed
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test]
async fn no_more_reconciles_run_at_once_than_the_concurrency_allows() {
    const CONCURRENCY: u16 = 3;
    const MANY: usize = 30;
    let (client, ns) = namespace(&[]).await;
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(
        Context::new(client.clone(), metrics.clone(), settings())
            .with_reconcile_concurrency(CONCURRENCY),
    );
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_servers(&client, &ns, MANY).await;
    eventually("every server reconciled", || async {
        (reconciled(&servers).await == MANY).then_some(())
    })
    .await;

    let exposed = metrics.encode();
    let most = sample(
        &exposed,
        "mcp_operator_reconciles_in_flight_max",
        r#"kind="MCPServer""#,
    );
    // 30 servers created at once queue far more reconciles than 3 slots:
    // all of them fill, none beyond.
    assert_eq!(
        most,
        Some(i64::from(CONCURRENCY)),
        "the most MCPServer reconciles at once:\n{exposed}"
    );
    eventually("no reconcile running", || async {
        let now = sample(
            &metrics.encode(),
            "mcp_operator_reconciles_in_flight",
            r#"kind="MCPServer""#,
        );
        (now == Some(0)).then_some(())
    })
    .await;
}
