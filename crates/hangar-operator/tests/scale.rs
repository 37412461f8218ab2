//! The MCPServer controller with many objects at once, against a real
//! kube-apiserver: deleting many servers reports no false failures, and no
//! more reconciles run at once than the concurrency allows, and a resync of
//! an unchanged server reads from the watched copies and writes nothing.

mod operator_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hangar_api::MCPServer;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::client::{Body, ClientBuilder};
use kube::{Client, ResourceExt};
use tower::util::MapRequestLayer;

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

/// The requests a client sent, watches aside (they stream for minutes).
#[derive(Clone, Default)]
struct Requests(Arc<std::sync::Mutex<Vec<String>>>, Arc<AtomicUsize>);

impl Requests {
    fn count(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }
    fn since(&self, start: usize) -> Vec<String> {
        self.0.lock().unwrap()[start..].to_vec()
    }
}

/// An admin client on the shared control plane that records every request but watches.
async fn counting_client() -> (Client, Requests) {
    let plane = hangar_testenv::shared().await;
    let requests = Requests::default();
    let seen = requests.clone();
    let client = ClientBuilder::try_from(plane.config())
        .unwrap()
        .with_layer(&MapRequestLayer::new(
            move |request: http::Request<Body>| {
                let query = request.uri().query().unwrap_or_default();
                if !query.contains("watch=true") {
                    let mut log = seen.0.lock().unwrap();
                    log.push(format!("{} {}", request.method(), request.uri().path()));
                    seen.1.store(log.len(), Ordering::SeqCst);
                }
                request
            },
        ))
        .build();
    (client, requests)
}

fn successful_reconciles(metrics: &Metrics) -> i64 {
    sample(
        &metrics.encode(),
        "mcp_operator_reconcile_total",
        r#"kind="MCPServer",result="success""#,
    )
    .unwrap_or(0)
}

#[tokio::test]
async fn a_resync_of_an_unchanged_server_sends_no_request() {
    let (admin, ns) = namespace(&[]).await;
    let (client, requests) = counting_client().await;
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), settings()));
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    let servers: Api<MCPServer> = Api::namespaced(admin.clone(), &ns);
    create_servers(&admin, &ns, 1).await;
    eventually("the server reconciled", || async {
        (reconciled(&servers).await == 1).then_some(())
    })
    .await;
    // Let the reconciles its own objects' creation queued finish.
    let mut settled = successful_reconciles(&metrics);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = successful_reconciles(&metrics);
        if now == settled {
            break;
        }
        settled = now;
    }

    // A change the reconcile does not read (an annotation) queues a reconcile
    // of an object whose children and status are as they should be.
    let before = requests.count();
    servers
        .patch(
            "s0",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"metadata": {"annotations": {"example.com/touched": "yes"}}}),
            ),
        )
        .await
        .unwrap();
    eventually("the touched server reconciled", || async {
        (successful_reconciles(&metrics) > settled).then_some(())
    })
    .await;
    assert_eq!(
        requests.since(before),
        Vec::<String>::new(),
        "the reconcile read the watched copies and found nothing to write"
    );
}
