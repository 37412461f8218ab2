//! Telling whatever runs a scale-to-zero server (`scaleToZero` in the config)
//! that the gateway needs it: in a cluster, the `mcp-hangar.io/last-activity`
//! annotation on its MCPServer, which the operator turns into replicas; under
//! `hangar up`, starting and stopping a local process.
//!
//! The gateway calls [`ActivitySink::report`] on the first call after the
//! server was idle and then at most once per activity interval while calls
//! keep coming (see [`crate::upstream`]), so a busy gateway costs the API
//! server one PATCH per server per interval, whatever its request rate.

use futures::future::BoxFuture;
use hangar_api::{LAST_ACTIVITY_ANNOTATION, MCPServer};
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

/// Records activity on MCPServers through the Kubernetes API, with the
/// gateway pod's service account (or the local kubeconfig).
#[derive(Default)]
pub struct KubernetesActivity {
    client: OnceCell<kube::Client>,
}

impl KubernetesActivity {
    pub fn new() -> Self {
        Self::default()
    }

    async fn api(&self, object: &ObjectName) -> Result<Api<MCPServer>, String> {
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

impl ActivitySink for KubernetesActivity {
    fn report<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(object) = mcp_server(server) else {
                return Ok(());
            };
            let now = k8s_openapi::jiff::Timestamp::now().to_string();
            let patch = serde_json::json!({
                "metadata": {"annotations": {LAST_ACTIVITY_ANNOTATION: now}}
            });
            self.api(object)
                .await?
                .patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
                .map_err(|e| {
                    let hint = match &e {
                        kube::Error::Api(status) if status.code == 403 => {
                            "; the gateway's service account may not patch it (the operator grants \
                             that to gateways selecting MCPServers with replicas: 0)"
                        }
                        kube::Error::Api(status) if status.code == 404 => {
                            "; it does not exist (any more)"
                        }
                        _ => "",
                    };
                    format!(
                        "recording activity on MCPServer {object} failed: {}{hint}",
                        error_chain(&e)
                    )
                })
        })
    }

    fn explain<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let object = mcp_server(server)?;
            let found = self.api(object).await.ok()?.get(&object.name).await.ok()?;
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
