//! Helpers shared by the discovery and registry tests: a namespace on the
//! shared real control plane, objects from YAML, and waiting for a condition.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use hangar_api::crds;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
pub use hangar_testenv::eventually;
use kube::api::{Api, PostParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An upper bound on waiting, so a broken controller fails the test instead
/// of hanging it; not a performance expectation.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A fresh namespace (with `labels`) on the shared control plane, the CRDs
/// installed, and an admin client.
pub async fn namespace(labels: &[(&str, &str)]) -> (Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace_with_labels(labels).await;
    (plane.client(), ns)
}

/// The operator's shared context on `client`, and its metrics.
pub fn context(client: &Client) -> (Arc<Context>, Arc<Metrics>) {
    context_with(client, settings())
}

/// The settings of [`context`]: the test image, no operator namespace.
pub fn settings() -> BuildSettings {
    BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
        ..BuildSettings::default()
    }
}

/// The operator's shared context on `client` with `settings`, and its metrics.
pub fn context_with(client: &Client, settings: BuildSettings) -> (Arc<Context>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    (
        Arc::new(Context::new(client.clone(), metrics.clone(), settings)),
        metrics,
    )
}

/// An object from YAML (with `apiVersion` and `kind`).
pub fn from_yaml<K: DeserializeOwned>(yaml: &str) -> K {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("test YAML parses");
    serde_json::from_value(value).expect("test YAML is the right kind")
}

/// Creates the object described by `yaml` in `ns`.
pub async fn create<K>(client: &Client, ns: &str, yaml: &str) -> K
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let object: K = from_yaml(yaml);
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {} in {ns}: {e}", K::kind(&())))
}
