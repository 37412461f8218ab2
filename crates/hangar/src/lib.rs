//! The `hangar` command line. Each subcommand's arguments and behaviour live in
//! the crate that implements it; this crate only wires them together.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hangar",
    version,
    about = "Run MCP servers as Kubernetes resources, federated behind one gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions of the mcp-hangar.io API as YAML.
    Crds(crds::CrdsArgs),
    /// Print the operator's ClusterRole: exactly the rights its controllers use.
    Rbac(hangar_operator::rbac::RbacArgs),
    /// Serve MCP at /mcp from a gateway config file: declared tools, prompts, resources and federated servers.
    Gateway(InPod<hangar_gateway::GatewayArgs>),
    /// Serve one stdio MCP server over Streamable HTTP.
    Bridge(InPod<hangar_gateway::BridgeArgs>),
    /// Run Hangar manifests on this machine: local processes, remote servers, one gateway.
    Up(UpCommand),
    /// Run the operator against the cluster in KUBECONFIG (or the in-cluster config).
    Operator(InPod<hangar_operator::OperatorArgs>),
    /// Print the Kubernetes objects the operator would create for the manifests in PATH.
    Render(hangar_operator::render::RenderArgs),
    /// Convert the resources of other MCP operators (MCP-Hangar's MCPProvider, mcp.io, mcp.example.com, ToolHive, kmcp, mcp-lifecycle-operator) into Hangar's.
    Convert(convert::ConvertArgs),
    /// Copy this binary to DEST (how stdio pods get the bridge without a shell).
    #[command(hide = true)]
    CopySelf { dest: std::path::PathBuf },
}

/// A subcommand that runs in pods, and its log format (JSON lines for collectors by default).
#[derive(Debug, clap::Args)]
pub struct InPod<A: clap::Args> {
    #[command(flatten)]
    pub args: A,
    #[arg(long, value_enum, default_value_t = logging::Format::Json, env = "HANGAR_LOG_FORMAT")]
    pub log_format: logging::Format,
}

/// `hangar up`, and its log format (text for people by default).
#[derive(Debug, clap::Args)]
pub struct UpCommand {
    #[command(flatten)]
    pub args: hangar_gateway::UpArgs,
    #[arg(long, value_enum, default_value_t = logging::Format::Text, env = "HANGAR_LOG_FORMAT")]
    pub log_format: logging::Format,
}

/// Runs one subcommand to completion and maps its outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let outcome: anyhow::Result<()> = match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Rbac(args) => hangar_operator::rbac::run(args),
        Command::Gateway(command) => logging::init(
            command.log_format,
            "hangar-gateway",
            hangar_gateway::cli::DEFAULT_LOG_FILTER,
        )
        .and_then(|_telemetry| hangar_gateway::cli::run_gateway(command.args)),
        Command::Bridge(command) => logging::init(
            command.log_format,
            "hangar-bridge",
            hangar_gateway::cli::DEFAULT_LOG_FILTER,
        )
        .and_then(|_telemetry| hangar_gateway::cli::run_bridge(command.args)),
        Command::Up(command) => logging::init(
            command.log_format,
            "hangar-up",
            hangar_gateway::up::DEFAULT_LOG_FILTER,
        )
        .and_then(|_telemetry| hangar_gateway::up::run_up(command.args)),
        Command::Operator(command) => logging::init(
            command.log_format,
            "hangar-operator",
            hangar_operator::DEFAULT_LOG_FILTER,
        )
        .and_then(|_telemetry| block_on(hangar_operator::run(command.args))),
        Command::Render(args) => hangar_operator::render::run(args),
        Command::Convert(args) => convert::run(args),
        Command::CopySelf { dest } => copy_self(&dest),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hangar: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, `: `-separated, leaving out a cause whose text
/// the message already holds (an I/O error quoted by its context would
/// otherwise be printed twice).
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

pub mod convert;
pub mod crds;
pub mod logging;
mod span_fields;

fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(future)
}

fn copy_self(dest: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::PermissionsExt;
    let me = std::env::current_exe().context("cannot find this binary")?;
    std::fs::copy(&me, dest)
        .with_context(|| format!("cannot copy {} to {}", me.display(), dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", dest.display()))?;
    Ok(())
}
