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
    /// Serve MCP at /mcp from a gateway config file: declared tools, prompts, resources and federated servers.
    Gateway(hangar_gateway::GatewayArgs),
    /// Serve one stdio MCP server over Streamable HTTP.
    Bridge(hangar_gateway::BridgeArgs),
}

/// Runs one subcommand to completion and maps its outcome to an exit code.
pub fn run(cli: Cli) -> ExitCode {
    let outcome: anyhow::Result<()> = match cli.command {
        Command::Crds(args) => crds::run(args),
        Command::Gateway(args) => hangar_gateway::cli::run_gateway(args),
        Command::Bridge(args) => hangar_gateway::cli::run_bridge(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hangar: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub mod crds;
