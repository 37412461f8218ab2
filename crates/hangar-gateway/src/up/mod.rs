//! `hangar up`: runs Hangar manifests on this machine, without a cluster.
//! Container servers with a `command` become child processes, remote ones are
//! reached by URL, and everything is served by an in-process gateway.

use std::sync::Arc;

use anyhow::Context;
use hangar_compile::LocalProcess;
use hangar_config::{Environment, GatewayConfig};
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::listen::{Listen, allowed_hosts};
use crate::metrics::Metrics;

/// The log filter of `hangar up` unless `HANGAR_LOG` sets one: what it
/// prints is the report, with a line per server whenever its state changes;
/// the gateway's and rmcp's own lines about upstream connections would say
/// the same again.
pub const DEFAULT_LOG_FILTER: &str =
    "warn,hangar_gateway::upstream=error,rmcp=error,rmcp::service=off,rmcp::transport=off";

/// `hangar up`: serve manifests locally.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub manifests: hangar_manifests::ManifestArgs,
    /// Address to serve on, HOST:PORT (a name such as localhost, or an IP; port 0 takes a free one); MCP is at /mcp.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: Listen,
    /// Accept requests whose Host header is HOST (repeatable; `*` accepts any). Default: the loopback names on a loopback address, any host otherwise.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// The MCPGateway to run when the manifests define several.
    #[arg(long)]
    pub gateway: Option<String>,
}

mod plan;
mod processes;
mod report;

pub use plan::{FetchedDocuments, avoid_port, plan};
pub use processes::OnDemandProcesses;
pub use report::{describe, server_report};

/// Reads the documents at URLs of the manifests' MCPToolSets, as the operator would.
async fn fetch_documents(manifests: &hangar_manifests::Manifests) -> FetchedDocuments {
    let http = hangar_mcp_client::http_client(|| {
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(30))
    });
    let mut fetched = FetchedDocuments::new();
    for url in manifests
        .toolsets
        .iter()
        .filter_map(|t| t.spec.openapi.url.clone())
    {
        if let std::collections::btree_map::Entry::Vacant(slot) = fetched.entry(url) {
            let text = hangar_mcp_client::documents::read_text(
                &http,
                slot.key(),
                hangar_openapi::MAX_DOCUMENT_BYTES,
            )
            .await;
            slot.insert(text);
        }
    }
    fetched
}

pub fn run_up(args: UpArgs) -> anyhow::Result<()> {
    let loaded = args.manifests.load();
    loaded.print_warnings();
    let manifests = loaded.complete()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let fetched = runtime.block_on(fetch_documents(&manifests));
    let mut compiled = plan(&manifests, args.gateway.as_deref(), &fetched)?;
    runtime.block_on(async move {
        // Bound before anything starts: a taken port stops here, and
        // port 0 is known before the summary prints it.
        let listener = args.listen.bind().await?;
        let bound = listener.local_addr()?;
        avoid_port(&mut compiled, bound.port());
        let hosts = &mut compiled.config.gateway.allowed_hosts;
        let from_manifests = *hosts != GatewayConfig::empty().gateway.allowed_hosts;
        if !args.allow_hosts.is_empty() || !from_manifests {
            *hosts = allowed_hosts(&args.listen, &args.allow_hosts, hosts);
        }
        let endpoint = endpoint(bound);
        print!(
            "{}",
            describe(&compiled, &args.manifests.describe(), &endpoint)
        );
        if bound.ip().is_unspecified() {
            println!(
                "  (listening on every interface, {bound}; Host headers accepted: {})",
                compiled.config.gateway.allowed_hosts.join(", ")
            );
        }
        let config = compiled.config.clone().validate().map_err(|problems| {
            anyhow::anyhow!(
                "the manifests compile to a config the gateway cannot serve:\n  - {}",
                problems.join("\n  - ")
            )
        })?;
        // Scale-to-zero servers start on their first call; the rest now.
        let (on_demand, eager): (Vec<LocalProcess>, Vec<LocalProcess>) =
            compiled.processes.iter().cloned().partition(|process| {
                config
                    .servers
                    .iter()
                    .any(|s| s.name == process.server && s.scale_to_zero.is_some())
            });
        let mut children = Vec::new();
        for process in &eager {
            match processes::spawn_process(process) {
                Ok(child) => children.push(child),
                Err(e) => eprintln!("hangar up: {e:#}"),
            }
        }
        let on_demand = Arc::new(OnDemandProcesses::new(on_demand));
        let gateway = Gateway::start_with(
            config,
            Arc::new(Metrics::new()),
            Some(on_demand.clone()),
            Environment::Process,
        )?;
        let cancel = CancellationToken::new();
        let mut serving = tokio::spawn(crate::cli::serve_until_signal(
            gateway.clone(),
            listener,
            cancel.clone(),
        ));
        if !gateway.runtime().upstreams.is_empty() {
            println!("starting servers (packages fetched on first use can take a minute)…");
        }
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        tokio::spawn(report::follow_servers(
            gateway.clone(),
            report::STARTUP_PATIENCE,
            ready_tx,
            cancel.clone(),
        ));
        let waiting = tokio::select! {
            waiting = ready => waiting.unwrap_or_default(),
            result = &mut serving => return result.context("the gateway stopped")?,
        };
        let (serves, detail) = gateway.readiness();
        let mut line = format!("ready: connect an MCP client to {endpoint} (Ctrl-C stops)");
        if !waiting.is_empty() {
            line.push_str(&format!(
                "; still starting: {} (a line follows when each is up)",
                waiting.join(", ")
            ));
        }
        let problems: Vec<&str> = detail["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str())
            .collect();
        if !serves && !problems.is_empty() {
            line.push_str(&format!("; NOT READY: {}", problems.join("; ")));
        }
        println!("{line}");
        // Ends on Ctrl-C or SIGTERM; the children are killed when dropped.
        let result = serving.await.context("the gateway stopped")?;
        drop(children);
        on_demand.stop_all().await;
        result
    })
}

/// The URL to give clients: on every interface, this machine's loopback address works.
fn endpoint(bound: std::net::SocketAddr) -> String {
    let mut address = bound;
    if bound.ip().is_unspecified() {
        address.set_ip(if bound.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{address}/mcp")
}
