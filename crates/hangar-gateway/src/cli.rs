//! The `hangar gateway` and `hangar bridge` subcommands: arguments and behaviour.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::listen::{Listen, allowed_hosts};
use crate::metrics::Metrics;
use hangar_config::{
    CircuitBreakerSettings, DurationSpec, Environment, GatewayConfig, NameValue,
    ProtocolPreference, ServerSpec, Transport,
};

/// The log filter of `hangar gateway` and `hangar bridge` unless `HANGAR_LOG`
/// sets one: rmcp logs every stateless request at info and every error
/// response at warn; the gateway logs both itself, with the request id.
/// rmcp's service loop logs a client that went away mid-request as an error
/// ("failed to send pending response during drain"); the gateway reports
/// failed calls and lost upstream connections itself, so that loop is quiet.
pub const DEFAULT_LOG_FILTER: &str = "info,rmcp=error,rmcp::service=off";

/// `hangar gateway`: serve a gateway config file.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Gateway config file (YAML or JSON, `kind: GatewayConfig`); reloaded when it changes.
    #[arg(long, short = 'c', env = "HANGAR_GATEWAY_CONFIG")]
    pub config: PathBuf,
    /// Address to serve on (HOST:PORT, HOST a name or an IP); MCP is at /mcp.
    #[arg(long, default_value = "127.0.0.1:8080", env = "HANGAR_GATEWAY_LISTEN")]
    pub listen: Listen,
}

/// `hangar bridge`: serve one stdio MCP server over Streamable HTTP.
#[derive(Debug, Clone, clap::Args)]
pub struct BridgeArgs {
    /// Address to serve on (HOST:PORT).
    #[arg(long, default_value = "0.0.0.0:8080", env = "HANGAR_BRIDGE_LISTEN")]
    pub listen: Listen,
    /// HTTP path of the MCP endpoint (an MCPServer's `spec.path`).
    #[arg(long, default_value = "/mcp")]
    pub path: String,
    /// Accepted `Host` header (repeatable). Default: any host, unless listening on loopback.
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// Longest a single request to the server may take.
    #[arg(long, default_value = "5m", value_parser = DurationSpec::parse)]
    pub timeout: DurationSpec,
    /// The server's command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// The address a listener got (with the real port when 0 was asked for).
pub fn local_address(listener: &tokio::net::TcpListener) -> String {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("(unknown: {e})"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail at startup");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// How long a stopping gateway or bridge lets the calls in flight finish:
/// well within a pod's default termination grace period (30 s) after the
/// operator's 5 s preStop drain.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Serves `gateway` on `listener` until a shutdown signal, then drains (new
/// connections refused, calls in flight answered, for up to [`DRAIN_GRACE`];
/// a second signal ends it) and stops upstreams: a bridge's child only once
/// its calls are answered.
pub async fn serve_until_signal(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let stop = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(grace = %DurationSpec(DRAIN_GRACE), "shutting down: refusing new connections, answering the calls in flight (a second signal stops at once)");
        stop.cancel();
    });
    let again = cancel.clone();
    let result = tokio::select! {
        result = crate::http::serve(gateway.clone(), listener, cancel, DRAIN_GRACE) => result,
        () = async {
            again.cancelled().await;
            shutdown_signal().await;
        } => Ok(()),
    };
    gateway.shutdown();
    result.context("the HTTP server failed")
}

pub fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let config = GatewayConfig::load(&args.config)?;
    runtime()?.block_on(async move {
        let listener = args.listen.bind().await?;
        // Wakes MCPServers with replicas: 0 through the Kubernetes API when a config selects one.
        let activity = Arc::new(crate::activity::KubernetesActivity::new());
        let gateway =
            Gateway::start_with(config, Arc::new(Metrics::new()), Some(activity), Environment::Process)?;
        let cancel = CancellationToken::new();
        tokio::spawn(crate::reload::watch(gateway.clone(), args.config.clone(), cancel.clone()));
        tracing::info!(listen = %local_address(&listener), config = %args.config.display(), "gateway serving MCP at /mcp");
        serve_until_signal(gateway, listener, cancel).await
    })
}

/// The gateway config `hangar bridge` serves: the one server, names unchanged.
pub fn bridge_config(args: &BridgeArgs) -> GatewayConfig {
    let (program, rest) = args.command.split_first().expect("clap requires a command");
    let mut config = GatewayConfig::empty();
    config.naming.prefix = false;
    config.gateway.default_timeout = args.timeout;
    config.gateway.path = args.path.clone();
    // In a pod the bridge is reached by Pod IP and Service names: any host.
    config.gateway.allowed_hosts = allowed_hosts(
        &args.listen,
        &args.allow_hosts,
        &config.gateway.allowed_hosts,
    );
    config.servers.push(ServerSpec {
        name: "server".into(),
        transport: Transport::Stdio,
        url: None,
        headers: vec![],
        auth: None,
        command: Some(program.clone()),
        args: rest.to_vec(),
        // In a pod the container's environment is what the manifest declares
        // for the server: the child gets all of it.
        env: std::env::vars_os()
            .filter_map(|(name, value)| {
                Some(NameValue::literal(
                    name.into_string().ok()?,
                    value.into_string().ok()?,
                ))
            })
            .collect(),
        cwd: None,
        prefix: Some(String::new()),
        timeout: None,
        connect_timeout: DurationSpec(Duration::from_secs(120)),
        protocol: ProtocolPreference::Auto,
        expose: true,
        // One child behind its own bridge: nothing to fail over to, so no breaker.
        circuit_breaker: CircuitBreakerSettings {
            enabled: false,
            ..CircuitBreakerSettings::default()
        },
        scale_to_zero: None,
        client_sessions: 0,
    });
    config
}

pub fn run_bridge(args: BridgeArgs) -> anyhow::Result<()> {
    let config = match bridge_config(&args).validate() {
        Ok(config) => config,
        Err(problems) => anyhow::bail!("hangar bridge: {} (set it with --path)", problems[0]),
    };
    runtime()?.block_on(async move {
        let gateway = Gateway::start(config, Arc::new(Metrics::new()))?.mirroring_single_upstream();
        // Listen only once the child has answered: before, a health check or
        // a client would meet the bridge's own identity and no tools, and in
        // a pod the TCP probes would send the Service's traffic here already.
        // A child that never answers keeps the port closed, so its pod fails
        // its startup probe and shows the crash loop.
        tracing::info!(command = ?args.command, "bridge waiting for its server to answer initialize");
        tokio::select! {
            () = gateway.mirrored_ready() => {}
            () = shutdown_signal() => {
                gateway.shutdown();
                return Ok(());
            }
        }
        let listener = args.listen.bind().await?;
        tracing::info!(listen = %local_address(&listener), path = %args.path, command = ?args.command, "bridge serving MCP");
        serve_until_signal(gateway, listener, CancellationToken::new()).await
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Bridge {
        #[command(flatten)]
        args: BridgeArgs,
    }

    #[test]
    fn bridge_takes_the_arguments_the_operator_renders() {
        let parsed = Bridge::try_parse_from([
            "bridge",
            "--listen",
            "0.0.0.0:9000",
            "--path",
            "/time/mcp",
            "--",
            "uvx",
            "mcp-server-time",
        ])
        .unwrap();
        let config = bridge_config(&parsed.args);
        assert_eq!(config.gateway.path, "/time/mcp");
        assert_eq!(config.servers[0].command.as_deref(), Some("uvx"));
        assert_eq!(config.servers[0].args, ["mcp-server-time"]);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let default = Bridge::try_parse_from(["bridge", "--", "x"]).unwrap();
        assert_eq!(default.args.path, "/mcp");
        let relative = Bridge::try_parse_from(["bridge", "--path", "mcp", "--", "x"]).unwrap();
        assert!(!bridge_config(&relative.args).problems().is_empty());
    }
}
