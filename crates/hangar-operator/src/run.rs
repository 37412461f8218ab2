//! `hangar operator`: runs the controllers against a cluster.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use hangar_api::{
    MCPDiscoverySource, MCPGateway, MCPPrompt, MCPRegistry, MCPResource, MCPServer, MCPServerGroup,
    MCPTool,
};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};

use crate::context::Context;
use crate::metrics::Metrics;
use crate::server;
use crate::server::build::{BuildSettings, default_hangar_image};

#[derive(Debug, Clone, clap::Args)]
pub struct OperatorArgs {
    /// Watch only this namespace (all namespaces when absent).
    #[arg(long, env = "HANGAR_WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the metrics and health endpoints (/metrics, /healthz, /readyz).
    #[arg(long, env = "HANGAR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Image with the `hangar` binary, used for stdio bridges and gateways.
    #[arg(long, env = "HANGAR_IMAGE", default_value_t = default_hangar_image())]
    pub hangar_image: String,
}

/// Connects to the cluster in KUBECONFIG (or the in-cluster config) and runs
/// until SIGTERM or Ctrl-C.
pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("cannot connect to Kubernetes: set KUBECONFIG, or run inside a cluster")?;
    ensure_crds_installed(&client).await?;

    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(Context::new(
        client,
        metrics.clone(),
        BuildSettings {
            hangar_image: args.hangar_image,
        },
    ));
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", args.metrics_addr))?;
    tracing::info!(addr = %args.metrics_addr, namespace = args.namespace.as_deref().unwrap_or("(all)"), "operator starting");
    let http = tokio::spawn(async move {
        let app = Router::new()
            .route("/metrics", get(move || async move { metrics.encode() }))
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(|| async { "ok" }));
        axum::serve(listener, app).await
    });
    server::run(ctx, args.namespace.as_deref(), shutdown_signal()).await;
    http.abort();
    tracing::info!("operator stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Fails with instructions when the cluster does not serve every Hangar kind.
async fn ensure_crds_installed(client: &Client) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for (kind, plural, check) in [
        kind_check::<MCPServer>(client),
        kind_check::<MCPServerGroup>(client),
        kind_check::<MCPDiscoverySource>(client),
        kind_check::<MCPTool>(client),
        kind_check::<MCPPrompt>(client),
        kind_check::<MCPResource>(client),
        kind_check::<MCPGateway>(client),
        kind_check::<MCPRegistry>(client),
    ] {
        match check.await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                missing.push(format!("{kind} ({plural})"))
            }
            Err(error) => return Err(error).with_context(|| format!("cannot list {plural}")),
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "the mcp-hangar.io CRDs are not installed in this cluster (missing: {}). Install them with \
             `kubectl apply --server-side -f deploy/crds/` (or `make install`), then start the operator again",
            missing.join(", ")
        );
    }
    Ok(())
}

type KindCheck = (
    String,
    String,
    futures::future::BoxFuture<'static, Result<(), kube::Error>>,
);

fn kind_check<K>(client: &Client) -> KindCheck
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let check =
        Box::pin(async move { api.list(&ListParams::default().limit(1)).await.map(|_| ()) });
    (K::kind(&()).to_string(), K::plural(&()).to_string(), check)
}
