//! `hangar up`: runs Hangar manifests on this machine, without a cluster.
//! Container servers with a `command` become child processes, remote ones are
//! reached by URL, and everything is served by an in-process gateway.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures::future::BoxFuture;
use hangar_manifests::Manifests;
use tokio_util::sync::CancellationToken;

use crate::activity::ActivitySink;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::upstream::Status;
use hangar_compile::{Candidates, Compiled, LocalProcess, Skipped, Target, compile};
use hangar_config::{NameValue, ServerSpec, Transport};

/// The log filter of `hangar up` unless `HANGAR_LOG` sets one: what it prints is the report.
pub const DEFAULT_LOG_FILTER: &str = "warn,rmcp=error,rmcp::service=off";

/// `hangar up`: serve manifests locally.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub manifests: hangar_manifests::ManifestArgs,
    /// Address to serve on; MCP is at /mcp.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The MCPGateway to run when the manifests define several.
    #[arg(long)]
    pub gateway: Option<String>,
}

fn namespace_of(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    metadata.namespace.as_deref().unwrap_or("default")
}

/// What `hangar up` will run for these manifests.
pub fn plan(manifests: &Manifests, gateway: Option<&str>) -> anyhow::Result<Compiled> {
    let chosen = match (gateway, manifests.gateways.as_slice()) {
        (Some(name), gateways) => Some(
            gateways
                .iter()
                .find(|g| g.metadata.name.as_deref() == Some(name))
                .with_context(|| format!("the manifests define no MCPGateway named {name}"))?,
        ),
        (None, []) => None,
        (None, [only]) => Some(only),
        (None, several) => bail!(
            "the manifests define several MCPGateways ({}); choose one with --gateway",
            several
                .iter()
                .filter_map(|g| g.metadata.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    // A gateway serves what its selectors pick in its own namespace (as in
    // the cluster); without a gateway, everything.
    let candidates = match chosen {
        Some(gateway) => Candidates::in_namespace(manifests, namespace_of(&gateway.metadata)),
        None => Candidates::all(manifests),
    };
    let selection = candidates.select(chosen);
    let mut compiled = compile(&selection, Target::Local);
    for foreign in &manifests.foreign {
        compiled.skipped.push(Skipped {
            kind: "object",
            name: format!("{} {}", foreign.kind, foreign.name),
            reason: format!(
                "{} is not a Hangar kind; hangar up ignores it",
                foreign.api_version
            ),
        });
    }
    for kind_count in [
        ("MCPDiscoverySource", manifests.discovery_sources.len()),
        ("MCPRegistry", manifests.registries.len()),
    ] {
        if kind_count.1 > 0 {
            compiled.skipped.push(Skipped {
                kind: kind_count.0,
                name: format!("{} object(s)", kind_count.1),
                reason: "discovery and registries need a cluster; hangar up ignores them".into(),
            });
        }
    }
    drop_missing_secrets(&mut compiled);
    Ok(compiled)
}

/// Secrets do not exist locally: items whose values come from one are kept
/// only when the matching environment variable is set.
fn drop_missing_secrets(compiled: &mut Compiled) {
    let missing: Vec<_> = compiled
        .secret_env
        .iter()
        .filter(|s| std::env::var_os(&s.env).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return;
    }
    let why = |values: &[NameValue]| {
        values.iter().find_map(|v| {
            let env = v.value_from_env.as_ref()?;
            let secret = missing.iter().find(|s| &s.env == env)?;
            Some(format!(
                "{} comes from Secret {} key {}; export {} to run it locally",
                v.name, secret.secret, secret.key, secret.env
            ))
        })
    };
    let config = &mut compiled.config;
    let skipped = &mut compiled.skipped;
    config.tools.retain(|t| match why(&t.backend.headers) {
        Some(reason) => {
            skipped.push(Skipped {
                kind: "MCPTool",
                name: t.name.clone(),
                reason,
            });
            false
        }
        None => true,
    });
    config
        .resources
        .retain(|r| match r.http.as_ref().and_then(|h| why(&h.headers)) {
            Some(reason) => {
                skipped.push(Skipped {
                    kind: "MCPResource",
                    name: r.uri.clone(),
                    reason,
                });
                false
            }
            None => true,
        });
    config
        .servers
        .retain(|s| match why(&s.headers).or_else(|| why(&s.env)) {
            Some(reason) => {
                skipped.push(Skipped {
                    kind: "MCPServer",
                    name: s.name.clone(),
                    reason,
                });
                false
            }
            None => true,
        });
    prune(compiled);
}

/// Drops what only served servers that were left out: their local processes,
/// their places in groups, and groups left without members.
fn prune(compiled: &mut Compiled) {
    let config = &mut compiled.config;
    let servers: Vec<String> = config.servers.iter().map(|s| s.name.clone()).collect();
    let skipped = &mut compiled.skipped;
    config.groups.retain_mut(|group| {
        group.members.retain(|m| servers.contains(m));
        if group.members.is_empty() {
            skipped.push(Skipped {
                kind: "MCPServerGroup",
                name: group.name.clone(),
                reason: "none of its members can run here (see their entries)".into(),
            });
        }
        !group.members.is_empty()
    });
    // A hidden member whose every group went away is reached by nothing.
    let grouped: Vec<String> = config
        .groups
        .iter()
        .flat_map(|g| g.members.iter().cloned())
        .collect();
    config
        .servers
        .retain(|s| s.expose || grouped.contains(&s.name));
    compiled
        .processes
        .retain(|p| config.servers.iter().any(|s| s.name == p.server));
}

/// Leaves out HTTP servers that would listen on the gateway's own port.
pub fn avoid_port(compiled: &mut Compiled, port: u16) {
    let clashing: Vec<String> = compiled
        .processes
        .iter()
        .filter(|p| p.port == port)
        .map(|p| p.server.clone())
        .collect();
    for server in clashing {
        compiled.processes.retain(|p| p.server != server);
        compiled.config.servers.retain(|s| s.name != server);
        compiled.skipped.push(Skipped {
            kind: "MCPServer",
            name: server,
            reason: format!(
                "it would listen on port {port}, which the gateway uses; change its spec.port or run hangar up with --listen on another port"
            ),
        });
    }
    prune(compiled);
}

/// The summary printed before serving.
pub fn describe(compiled: &Compiled, source: &str, endpoint: &str) -> String {
    let config = &compiled.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hangar up: {} server(s), {} tool(s), {} prompt(s), {} resource(s) from {source}",
        config.servers.len(),
        config.tools.len(),
        config.prompts.len(),
        config.resources.len()
    );
    for server in &config.servers {
        let how = match (&server.command, &server.url) {
            (Some(command), _) => format!("{} {}", command, server.args.join(" ")),
            (None, Some(url)) => {
                match compiled.processes.iter().find(|p| p.server == server.name) {
                    Some(process) => format!(
                        "{url} (started here: {} {})",
                        process.command,
                        process.args.join(" ")
                    ),
                    None => url.clone(),
                }
            }
            (None, None) => String::new(),
        };
        let mut how = how.trim_end().to_string();
        if let Some(scale) = &server.scale_to_zero {
            how.push_str(&format!(
                " [replicas 0: started by the first call, stopped after {} idle]",
                scale.idle_ttl
            ));
        }
        let _ = writeln!(
            out,
            "  server    {:<24} {:<15} {how}",
            server.name,
            server.transport.to_string(),
        );
    }
    for tool in &config.tools {
        let method = format!("{:?}", tool.backend.method).to_uppercase();
        let _ = writeln!(
            out,
            "  tool      {:<24} {method} {}",
            tool.name, tool.backend.url
        );
    }
    for prompt in &config.prompts {
        let args: Vec<&str> = prompt.arguments.iter().map(|a| a.name.as_str()).collect();
        let _ = writeln!(out, "  prompt    {:<24} ({})", prompt.name, args.join(", "));
    }
    for resource in &config.resources {
        let source = if resource.http.is_some() {
            "http"
        } else {
            "inline"
        };
        let mime = resource.mime_type.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "  resource  {:<24} {source} {mime}",
            resource.uri.as_str()
        );
    }
    if !compiled.skipped.is_empty() {
        let _ = writeln!(out, "not run locally:");
        for skipped in &compiled.skipped {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                skipped.kind, skipped.name, skipped.reason
            );
        }
    }
    let _ = writeln!(out, "MCP endpoint: {endpoint}");
    out
}

/// Starts the local processes of scale-to-zero HTTP servers when calls need
/// them and stops them when they go idle.
pub struct OnDemandProcesses {
    processes: Vec<LocalProcess>,
    running: tokio::sync::Mutex<HashMap<String, tokio::process::Child>>,
}

impl OnDemandProcesses {
    pub fn new(processes: Vec<LocalProcess>) -> Self {
        Self {
            processes,
            running: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Whether the process of `server` runs now.
    pub async fn is_running(&self, server: &str) -> bool {
        let mut running = self.running.lock().await;
        running
            .get_mut(server)
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops every process (on shutdown).
    pub async fn stop_all(&self) {
        for (_, mut child) in self.running.lock().await.drain() {
            let _ = child.kill().await;
        }
    }
}

impl ActivitySink for OnDemandProcesses {
    fn report<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(process) = self.processes.iter().find(|p| p.server == server.name) else {
                return Ok(());
            };
            let mut running = self.running.lock().await;
            let alive = running
                .get_mut(&server.name)
                .is_some_and(|child| matches!(child.try_wait(), Ok(None)));
            if !alive {
                let child = spawn_process(process).map_err(|e| format!("{e:#}"))?;
                println!("started {} (first call after idle)", server.name);
                running.insert(server.name.clone(), child);
            }
            Ok(())
        })
    }

    fn idle<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(mut child) = self.running.lock().await.remove(&server.name) {
                let _ = child.kill().await;
                println!("stopped {} (idle)", server.name);
            }
        })
    }
}

fn spawn_process(process: &LocalProcess) -> anyhow::Result<tokio::process::Child> {
    let mut command = crate::child::command(&process.command, &process.args, &process.env)
        .map_err(anyhow::Error::msg)?;
    command.stdin(std::process::Stdio::null());
    command.spawn().with_context(|| {
        format!(
            "cannot start `{}` for MCPServer {}",
            process.command, process.server
        )
    })
}

pub fn run_up(args: UpArgs) -> anyhow::Result<()> {
    let loaded = args.manifests.load();
    loaded.print_warnings();
    let manifests = loaded.complete()?;
    let mut compiled = plan(&manifests, args.gateway.as_deref())?;
    avoid_port(&mut compiled, args.listen.port());
    let endpoint = format!("http://{}/mcp", args.listen);
    print!(
        "{}",
        describe(&compiled, &args.manifests.describe(), &endpoint)
    );
    let config = compiled.config.clone().validate().map_err(|problems| {
        anyhow::anyhow!(
            "the manifests compile to a config the gateway cannot serve:\n  - {}",
            problems.join("\n  - ")
        )
    })?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
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
                match spawn_process(process) {
                    Ok(child) => children.push(child),
                    Err(e) => eprintln!("hangar up: {e:#}"),
                }
            }
            let on_demand = Arc::new(OnDemandProcesses::new(on_demand));
            let gateway = Gateway::start_with_activity(
                config,
                Arc::new(Metrics::new()),
                Some(on_demand.clone()),
            )?;
            let mut serving = tokio::spawn(crate::cli::serve_until_signal(
                gateway.clone(),
                args.listen,
                CancellationToken::new(),
            ));
            if !gateway.runtime().upstreams.is_empty() {
                println!("starting servers (packages fetched on first use can take a minute)…");
            }
            tokio::select! {
                _ = gateway.settled() => print!("{}", server_report(&gateway)),
                result = &mut serving => return result.context("the gateway stopped")?,
            }
            println!("ready: connect an MCP client to {endpoint} (Ctrl-C stops)");
            // Ends on Ctrl-C or SIGTERM; the children are killed when dropped.
            let result = serving.await.context("the gateway stopped")?;
            drop(children);
            on_demand.stop_all().await;
            result
        })
}

/// One line per server: connected (with what it offers) or why not.
pub fn server_report(gateway: &Gateway) -> String {
    let mut out = String::new();
    for upstream in &gateway.runtime().upstreams {
        let line = match upstream.status() {
            Status::Ready { protocol, .. } => {
                let listing = upstream.listing().unwrap_or_default();
                format!(
                    "ready ({} tools, {} prompts, {} resources; protocol {protocol})",
                    listing.tools.len(),
                    listing.prompts.len(),
                    listing.resources.len()
                )
            }
            Status::Down { error, .. } => format!("not available: {error}"),
            Status::Starting => "still starting".into(),
            Status::Idle { .. } => "scaled to zero: started on the first call".into(),
            Status::Stopped => "stopped".into(),
        };
        let transport = match upstream.spec().transport {
            Transport::Stdio => "stdio",
            Transport::StreamableHttp => "http",
            Transport::Sse => "sse",
        };
        let _ = writeln!(out, "  {:<24} {transport:<6} {line}", upstream.name());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_without_a_selector_selects_nothing_as_in_the_cluster() {
        let manifests = hangar_manifests::parse(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: edge}
spec: {serverSelector: {}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: remote}
spec: {mode: remote, endpoint: "http://127.0.0.1:9/mcp"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: weather}
spec: {backend: {url: "http://127.0.0.1:9/weather"}}
"#,
            "manifests",
        )
        .unwrap();
        let compiled = plan(&manifests, None).unwrap();
        let servers: Vec<&str> = compiled
            .config
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            servers,
            ["remote"],
            "serverSelector {{}} selects every server"
        );
        assert!(
            compiled.config.tools.is_empty(),
            "no toolSelector selects no tool"
        );
    }
}
