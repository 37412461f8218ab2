//! The MCPDiscoverySource controller: finds MCP servers already running
//! (Services, Deployments behind Services, a ConfigMap list) and keeps one
//! MCPServer per server in the source's namespace.
//!
//! Changes are seen through watches, each mapped to the sources that look at
//! the changed object; every source also rescans every `refreshInterval`.

mod error;
mod plan;
mod reconcile;
mod scan;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hangar_api::MCPDiscoverySource;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Api;
use kube::runtime::controller::Action;
use kube::runtime::watcher;

pub use error::Error;

use crate::api::scoped;
use crate::children::trimmed_controller;
use crate::context::{Context, correlated};
use reconcile::Discovery;

/// Runs the MCPDiscoverySource controller until `shutdown` resolves. With a
/// `namespace`, sources there look only there (namespace selectors included).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let controller =
        trimmed_controller(scoped::<MCPDiscoverySource>(&client, namespace)).with_config(config);
    let discovery = Arc::new(Discovery::new(
        ctx,
        namespace.map(str::to_string),
        controller.store(),
    ));
    let (services, deployments, config_maps) =
        (discovery.clone(), discovery.clone(), discovery.clone());
    let mut controller = controller
        .watches(
            scoped::<Service>(&client, namespace),
            watcher::Config::default(),
            move |service| services.for_service(&service),
        )
        .watches(
            scoped::<Deployment>(&client, namespace),
            watcher::Config::default(),
            move |deployment| deployments.for_deployment(&deployment),
        )
        .watches(
            scoped::<ConfigMap>(&client, namespace),
            watcher::Config::default(),
            move |config_map| config_maps.for_config_map(&config_map),
        );
    if namespace.is_none() {
        let namespaces = discovery.clone();
        controller = controller.watches(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default(),
            move |_| namespaces.for_namespace(),
        );
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile::reconcile),
            error_policy,
            discovery,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "MCPDiscoverySource reconcile did not complete");
            }
        })
        .await;
}

fn error_policy(_source: Arc<MCPDiscoverySource>, _error: &Error, _ctx: Arc<Discovery>) -> Action {
    // Scan failures are reported in status and requeued by the reconcile;
    // what reaches here (writing status, listing MCPServers) is worth a quick retry.
    Action::requeue(Duration::from_secs(5))
}
