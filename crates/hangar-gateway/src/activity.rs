//! Telling whatever runs a scale-to-zero server (`scaleToZero` in the config)
//! that the gateway needs it: in a cluster, renewing the gateway's activity
//! Lease of its MCPServer, which the operator turns into replicas; under
//! `hangar up`, starting and stopping a local process.
//!
//! The gateway calls [`ActivitySink::report`] on the first call after the
//! server was idle and then at most once per activity interval while calls
//! keep coming (see [`crate::upstream`]), so a busy gateway costs the API
//! server one PATCH per server per interval, whatever its request rate. The
//! gateway writes only its Leases: it may read the MCPServer, never change it.

use futures::future::BoxFuture;
use hangar_api::MCPServer;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::OnceCell;

use hangar_config::{ObjectName, ServerSpec};
use hangar_mcp_client::error_chain;

/// Starts, keeps running and lets go of scale-to-zero servers.
pub trait ActivitySink: Send + Sync + 'static {
    /// The gateway is sending calls to `server`: start it, or keep it running.
    fn report<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>>;

    /// `server` had no calls for its `idleTTL`: what was started for it may stop.
    fn idle<'a>(&'a self, _server: &'a ServerSpec) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// What the platform knows about a server that did not answer in time,
    /// to put in the caller's error.
    fn explain<'a>(&'a self, _server: &'a ServerSpec) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// Records activity on Leases through the Kubernetes API, with the gateway
/// pod's service account (or the local kubeconfig).
#[derive(Default)]
pub struct KubernetesActivity {
    client: OnceCell<kube::Client>,
}

impl KubernetesActivity {
    pub fn new() -> Self {
        Self::default()
    }

    async fn api<K>(&self, object: &ObjectName) -> Result<Api<K>, String>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        let client = self
            .client
            .get_or_try_init(|| async {
                kube::Client::try_default().await.map_err(|e| {
                    format!(
                        "the gateway has no Kubernetes API access ({}); it needs it to wake \
                         MCPServers with replicas: 0 (the operator mounts a service account token \
                         into gateway pods that select one)",
                        error_chain(&e)
                    )
                })
            })
            .await?;
        Ok(Api::namespaced(client.clone(), &object.namespace))
    }
}

fn mcp_server(server: &ServerSpec) -> Option<&ObjectName> {
    server.scale_to_zero.as_ref()?.mcp_server.as_ref()
}

fn activity_lease(server: &ServerSpec) -> Option<&ObjectName> {
    server.scale_to_zero.as_ref()?.activity_lease.as_ref()
}

/// This replica's name in the Leases it renews (the operator sets `POD_NAME`).
fn holder() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| "hangar-gateway".into())
}

impl ActivitySink for KubernetesActivity {
    fn report<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(lease) = activity_lease(server) else {
                return Ok(());
            };
            let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
            let patch = serde_json::json!({
                "spec": {"holderIdentity": holder(), "renewTime": now}
            });
            self.api::<Lease>(lease)
                .await?
                .patch(&lease.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
                .map_err(|e| {
                    let hint = match &e {
                        kube::Error::Api(status) if status.code == 403 => {
                            "; the gateway's service account may not renew it (the operator grants \
                             that to gateways selecting MCPServers with replicas: 0)"
                        }
                        kube::Error::Api(status) if status.code == 404 => {
                            "; it does not exist (yet): the operator creates it with the gateway's config"
                        }
                        _ => "",
                    };
                    format!(
                        "recording activity on Lease {lease} failed: {}{hint}",
                        error_chain(&e)
                    )
                })
        })
    }

    fn explain<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let object = mcp_server(server)?;
            let found = self
                .api::<MCPServer>(object)
                .await
                .ok()?
                .get(&object.name)
                .await
                .ok()?;
            let status = found.status.unwrap_or_default();
            let state = status
                .state
                .map_or_else(|| "unknown".to_string(), |s| s.to_string());
            let mut text = format!(
                "MCPServer {object} is {state} with {}/{} replicas ready",
                status.ready_replicas.unwrap_or(0),
                status.replicas.unwrap_or(0)
            );
            if let Some(ready) = status
                .conditions
                .iter()
                .find(|c| c.type_ == hangar_api::condition::READY && c.status != "True")
            {
                text.push_str(&format!(" ({}: {})", ready.reason, ready.message));
            }
            Some(text)
        })
    }
}
