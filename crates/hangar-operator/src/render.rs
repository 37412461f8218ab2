//! `hangar render`: the objects the operator would create for a set of
//! manifests, without a cluster, from the same pure builders.

use std::fmt::Write as _;
use std::path::PathBuf;

use hangar_api::MCPGateway;
use hangar_compile::{Candidates, Compiled, Target, compile};
use hangar_manifests::Manifests;
use kube::ResourceExt;

use crate::gateway::build as gateway_build;
use crate::server::build::{self, BuildSettings, default_hangar_image};

#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// A manifest file, or a directory of them.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub path: PathBuf,
    /// Image with the `hangar` binary, used for stdio bridges and gateways.
    #[arg(long, env = "HANGAR_IMAGE", default_value_t = default_hangar_image())]
    pub hangar_image: String,
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let manifests = hangar_manifests::load(&args.path)?;
    print!(
        "{}",
        render(
            &manifests,
            &BuildSettings {
                hangar_image: args.hangar_image,
                ..BuildSettings::default()
            }
        )?
    );
    Ok(())
}

/// Multi-document YAML of every object the manifests turn into.
pub fn render(manifests: &Manifests, settings: &BuildSettings) -> anyhow::Result<String> {
    let mut out = String::new();
    for server in &manifests.servers {
        let runnable = build::validate(server)
            .map_err(|invalid| anyhow::anyhow!("MCPServer {:?}: {invalid}", server.name_any()))?;
        let objects = build::build(runnable, server.spec.replicas, settings);
        writeln!(
            out,
            "# MCPServer {} ({})",
            server.name_any(),
            server.spec.mode.as_str()
        )?;
        if objects == build::ServerObjects::default() {
            writeln!(
                out,
                "# remote: no workload; the operator probes and federates {}",
                server.spec.endpoint.as_deref().unwrap_or("its endpoint")
            )?;
        }
        documents(&mut out, objects.documents());
    }
    for gateway in &manifests.gateways {
        render_gateway(&mut out, gateway, manifests, settings)?;
    }
    Ok(out)
}

/// A gateway's objects, with the config compiled from what it selects among the
/// manifests of its namespace.
fn render_gateway(
    out: &mut String,
    gateway: &MCPGateway,
    manifests: &Manifests,
    settings: &BuildSettings,
) -> anyhow::Result<()> {
    let namespace = gateway.namespace().unwrap_or_else(|| "default".into());
    let candidates = Candidates::in_namespace(manifests, &namespace);
    let compiled = compile(
        &candidates.select(Some(gateway)),
        Target::Cluster {
            namespace: &namespace,
        },
    );
    writeln!(
        out,
        "# MCPGateway {} serves {}",
        gateway.name_any(),
        summary(&compiled)
    )?;
    for skipped in &compiled.skipped {
        writeln!(
            out,
            "# not served: {} {}: {}",
            skipped.kind, skipped.name, skipped.reason
        )?;
    }
    documents(
        out,
        gateway_build::build(gateway, &compiled, settings).documents(),
    );
    Ok(())
}

fn summary(compiled: &Compiled) -> String {
    let config = &compiled.config;
    format!(
        "{} tools, {} prompts, {} resources, {} servers",
        config.tools.len(),
        config.prompts.len(),
        config.resources.len(),
        config.servers.len()
    )
}

fn documents(out: &mut String, documents: Vec<String>) {
    for document in documents {
        out.push_str("---\n");
        out.push_str(&document);
    }
}
