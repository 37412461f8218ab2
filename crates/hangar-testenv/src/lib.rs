//! Real parts for Hangar's tests. Nothing here is mocked: the control plane is a
//! real kube-apiserver + etcd, the MCP peers are the official SDKs and reference
//! servers, Redis is the real `redis-server`.
//!
//! # A Kubernetes control plane
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube::api::{Api, PostParams};
//! use hangar_testenv::{Identity, shared};
//!
//! # async fn example(crds: Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>) {
//! let plane = shared().await; // one per test binary, started on first use
//! plane.install_crds(crds).await; // waits until they are Established
//! let ns = plane.namespace().await; // a fresh namespace for this test
//! let admin = plane.client(); // system:masters, on this test's runtime
//! let cms: Api<ConfigMap> = Api::namespaced(admin, &ns);
//! cms.create(&PostParams::default(), &ConfigMap::default()).await.ok();
//!
//! // Least privilege: the API server's RBAC authorizer decides.
//! let operator = plane.client_as(&Identity::service_account("hangar-system", "hangar"));
//! // A spawned process gets the same identity from a kubeconfig file.
//! let kubeconfig = plane.kubeconfig_as(&Identity::service_account("hangar-system", "hangar"));
//! # let _ = (operator, kubeconfig);
//! # }
//! ```
//!
//! The binaries come from `scripts/test-deps.sh kube`; see [`tools`].
//!
//! # Redis
//!
//! [`redis::RedisServer`] and [`redis::RedisCluster`] run real `redis-server`s
//! on free ports, which tests can stop and restart.
//!
//! # OAuth
//!
//! [`openid::OpenIdProvider`] runs the `oidc-provider` package as an
//! authorization server; [`openid::ProtectedServer`] an MCP server and an
//! HTTP endpoint that take only its tokens for their audience.
//!
//! # The MCP Registry
//!
//! [`registry::McpRegistry`] runs the official registry server with a
//! PostgreSQL of its own.

mod certs;
pub mod fuzz;
pub mod logs;
pub mod node;
pub mod openid;
mod plane;
mod process;
pub mod redis;
pub mod registry;
pub mod tools;

pub use node::{Cluster, NodeOptions, shared_cluster, shared_cluster_with};
pub use plane::{ControlPlane, Identity, shared};

pub use wait::{eventually, gone};

mod wait {
    use std::time::Duration;

    /// How long [`eventually`] waits before failing the test. Generous: it only
    /// matters when something is broken, and machines running tests are busy.
    const DEADLINE: Duration = Duration::from_secs(60);

    /// Polls `probe` every 100 ms until it returns `Some`, and returns that;
    /// fails the test, naming `what` it waited for, after a minute.
    pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {DEADLINE:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the object `name` no longer exists (finalizers done).
    pub async fn gone<K>(api: &kube::Api<K>, name: &str)
    where
        K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    {
        eventually(&format!("{name} to be deleted"), || async {
            api.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await
    }
}
