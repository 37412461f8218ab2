//! The MCPRegistry controller, and resolution of MCPServer `spec.registry`
//! references against the catalogs it syncs.

mod catalog;
mod client;
mod error;
mod metrics;
mod offline;
mod reconcile;
mod reference;
mod resolve;
mod schema;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hangar_api::MCPRegistry;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

pub use error::Error;
pub use offline::{Offline, resolve_offline};
pub use reference::{Lookup, Resolution, look_up, resolve_reference, servers_referencing};

use crate::api::scoped;
use crate::children::trimmed_controller;
use crate::context::{Context, correlated};
use reconcile::Registries;

/// Runs the MCPRegistry controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let controller =
        trimmed_controller(scoped::<MCPRegistry>(&client, namespace)).with_config(config);
    let registries = controller.store();
    let mapped = registries.clone();
    let metrics = metrics::RegistryMetrics::register(&ctx.metrics);
    let shared = Arc::new(Registries::new(
        ctx,
        metrics,
        registries,
        namespace.map(str::to_string),
    ));
    controller
        // An edit of a ConfigMap catalog syncs the registries reading it at once.
        .watches(
            scoped::<ConfigMap>(&client, namespace),
            watcher::Config::default(),
            move |config_map| registries_reading(&mapped, &config_map),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile::reconcile),
            error_policy,
            shared,
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "MCPRegistry reconcile did not complete");
            }
        })
        .await;
}

fn registries_reading(
    registries: &Store<MCPRegistry>,
    config_map: &ConfigMap,
) -> Vec<ObjectRef<MCPRegistry>> {
    let namespace = config_map.namespace();
    let name = config_map.name_any();
    registries
        .state()
        .iter()
        .filter(|registry| {
            registry.namespace() == namespace
                && registry
                    .spec
                    .config_map_ref
                    .as_ref()
                    .is_some_and(|reference| reference.name == name)
        })
        .map(|registry| ObjectRef::from_obj(&**registry))
        .collect()
}

fn error_policy(_registry: Arc<MCPRegistry>, _error: &Error, _ctx: Arc<Registries>) -> Action {
    // Only writing status fails a reconcile; sync failures are in status already.
    Action::requeue(Duration::from_secs(5))
}
