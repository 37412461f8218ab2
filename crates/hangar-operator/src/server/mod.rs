//! The MCPServer controller.

pub mod build;
mod error;
pub mod lifecycle;
pub mod metrics;
mod reconcile;
pub mod scale;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hangar_api::{MCPRegistry, MCPServer};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

pub use error::Error;

use crate::api::scoped;
use crate::children::{cached, trimmed_controller, watch_owned};
use crate::context::{Context, correlated};
use crate::health::HealthMonitor;
use crate::labels::{ACTIVITY_LABEL, MANAGED_BY, SERVER_LABEL};
use build::ServerObjects;
use metrics::ServerMetrics;

/// Health checks running at once, across all servers.
const MAX_CONCURRENT_CHECKS: usize = 32;

/// What MCPServer reconciles share beyond the operator-wide context.
pub struct ServerContext {
    pub base: Arc<Context>,
    pub health: HealthMonitor,
    pub metrics: Arc<ServerMetrics>,
    pub status_writes: crate::api::StatusWrites,
}

/// Runs the MCPServer controller (and its health checks) until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let metrics = Arc::new(ServerMetrics::new(&ctx.metrics));
    let (health, health_changes) = HealthMonitor::new(MAX_CONCURRENT_CHECKS, metrics.clone());
    let health_changes = futures::stream::unfold(health_changes, |mut changes| async move {
        changes.recv().await.map(|key| (key, changes))
    });
    let server_ctx = Arc::new(ServerContext {
        base: ctx,
        health,
        metrics,
        status_writes: Default::default(),
    });
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    let controller =
        trimmed_controller(scoped::<MCPServer>(&client, namespace)).with_config(config);
    let servers = controller.store();
    watch_owned(
        controller,
        ServerObjects::KINDS,
        &server_ctx.base,
        namespace,
    )
    // A registry sync may change what the servers that reference it resolve to.
    .watches(
        scoped::<MCPRegistry>(&client, namespace),
        watcher::Config::default(),
        move |registry| crate::registry::servers_referencing(&servers, &registry),
    )
    // Pods belong to ReplicaSets, not to the server: map them by label, to see crash loops.
    .watches_stream(
        cached(
            &server_ctx.base,
            scoped::<Pod>(&client, namespace),
            owned.clone(),
        ),
        |pod| {
            let server = pod.labels().get(SERVER_LABEL)?;
            Some(ObjectRef::<MCPServer>::new(server).within(&pod.namespace()?))
        },
    )
    // A gateway renewing its activity Lease wakes a scale-to-zero server at once.
    .watches(scoped::<Lease>(&client, namespace), owned, |lease| {
        let server = lease.labels().get(ACTIVITY_LABEL)?;
        Some(ObjectRef::<MCPServer>::new(server).within(&lease.namespace()?))
    })
    .reconcile_on(health_changes)
    .graceful_shutdown_on(shutdown)
    .run(
        correlated(&operator_metrics, reconcile::reconcile),
        error_policy,
        server_ctx,
    )
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "MCPServer reconcile did not complete");
        }
    })
    .await;
}

fn error_policy(_server: Arc<MCPServer>, error: &Error, _ctx: Arc<ServerContext>) -> Action {
    match error {
        // Deletion of owned objects is under way; look again shortly.
        Error::CleanupPending(_) => Action::requeue(Duration::from_secs(1)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}
