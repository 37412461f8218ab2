//! The MCPServer controller.

pub mod build;
mod error;
mod reconcile;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hangar_api::MCPServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};

pub use error::Error;

use crate::context::Context;
use crate::labels::MANAGED_BY;

/// Runs the MCPServer controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let owned =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    Controller::new(
        api::<MCPServer>(&client, namespace),
        watcher::Config::default(),
    )
    .owns(api::<Deployment>(&client, namespace), owned.clone())
    .owns(api::<Service>(&client, namespace), owned.clone())
    .owns(api::<ConfigMap>(&client, namespace), owned.clone())
    .owns(api::<Ingress>(&client, namespace), owned.clone())
    .owns(api::<HorizontalPodAutoscaler>(&client, namespace), owned)
    .graceful_shutdown_on(shutdown)
    .run(reconcile::reconcile, error_policy, ctx)
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "MCPServer reconcile did not complete");
        }
    })
    .await;
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

fn error_policy(_server: Arc<MCPServer>, error: &Error, _ctx: Arc<Context>) -> Action {
    match error {
        // Deletion of owned objects is under way; look again shortly.
        Error::CleanupPending(_) => Action::requeue(Duration::from_secs(1)),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}
