//! `hangar render`: the objects the operator would create for a set of
//! manifests, without a cluster, from the same pure builders.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hangar_api::{ALLOWED_DESTINATIONS_ANNOTATION, MCPGateway};
use hangar_compile::{
    Candidates, Compiled, SecretDestinations, Target, compile, header_secrets, local_documents,
    managed_redis_name,
};
use hangar_manifests::{ManifestArgs, Manifests};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use crate::gateway::build as gateway_build;
use crate::registry::{Offline, resolve_offline};
use crate::server::build::{self, BuildSettings, default_hangar_image};

#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Image with the `hangar` binary, used for stdio bridges and gateways.
    #[arg(long, env = "HANGAR_IMAGE", default_value_t = default_hangar_image())]
    pub hangar_image: String,
    /// The namespace the operator runs in: MCPServers' NetworkPolicies admit
    /// its health checks from there.
    #[arg(long, value_name = "NAMESPACE", default_value = "hangar-system")]
    pub operator_namespace: String,
}

/// Prints what renders, then fails naming every file or object that did not.
pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let loaded = args.manifests.load();
    loaded.print_warnings();
    let settings = BuildSettings {
        hangar_image: args.hangar_image,
        operator_namespace: Some(args.operator_namespace),
    };
    let rendered = render(&loaded.manifests, &settings);
    print!("{}", rendered.text);
    let problems: Vec<String> = loaded
        .problems
        .iter()
        .map(ToString::to_string)
        .chain(rendered.problems)
        .collect();
    match problems.as_slice() {
        [] => Ok(()),
        [one] => anyhow::bail!("{one}"),
        several => anyhow::bail!(
            "{} manifest problems (everything else was rendered):\n  {}",
            several.len(),
            several.join("\n  ")
        ),
    }
}

/// Multi-document YAML of every object the manifests turn into, and why
/// objects that cannot be built were left out.
#[derive(Debug, Default)]
pub struct Rendered {
    pub text: String,
    pub problems: Vec<String>,
}

/// Renders every MCPServer and MCPGateway that can be built.
pub fn render(manifests: &Manifests, settings: &BuildSettings) -> Rendered {
    let mut rendered = Rendered::default();
    let config_maps = config_maps(manifests);
    // Gateways federate what the servers run: their catalog entries resolved
    // (those that do not resolve are left out of configs, saying why).
    let mut resolved = manifests.clone();
    let mut unresolved = BTreeMap::new();
    resolved.servers.clear();
    for server in &manifests.servers {
        let name = server.name_any();
        let server = match resolve_offline(server, &manifests.registries, &config_maps) {
            Ok(Offline::Resolved { server, summary }) => {
                if !summary.is_empty() {
                    let _ = writeln!(rendered.text, "# MCPServer {name}: {summary}");
                }
                server
            }
            Ok(Offline::NeedsSync { registry, url }) => {
                let _ = writeln!(
                    rendered.text,
                    "# MCPServer {name}: its workload comes from MCPRegistry {registry} ({url}) once the operator syncs it; not rendered"
                );
                unresolved.insert(
                    (namespace_of(server), name),
                    format!("MCPRegistry {registry} ({url}) is synced only by the operator; hangar render reads catalogs from ConfigMaps in the manifests"),
                );
                resolved.servers.push(server.clone());
                continue;
            }
            Err(why) => {
                rendered.problems.push(format!("MCPServer {name:?}: {why}"));
                unresolved.insert((namespace_of(server), name), why);
                resolved.servers.push(server.clone());
                continue;
            }
        };
        resolved.servers.push((*server).clone());
        let runnable = match build::validate(&server) {
            Ok(runnable) => runnable,
            Err(invalid) => {
                rendered
                    .problems
                    .push(format!("MCPServer {name:?}: {invalid}"));
                continue;
            }
        };
        let objects = build::build(runnable, server.spec.replicas, settings);
        let _ = writeln!(
            rendered.text,
            "# MCPServer {name} ({})",
            server.spec.mode.as_str()
        );
        if objects == build::ServerObjects::default() {
            let _ = writeln!(
                rendered.text,
                "# remote: no workload; the operator probes and federates {}",
                server.spec.endpoint.as_deref().unwrap_or("its endpoint")
            );
        }
        documents(&mut rendered.text, objects.documents());
    }
    for gateway in &manifests.gateways {
        render_gateway(
            &mut rendered.text,
            gateway,
            &resolved,
            &unresolved,
            settings,
        );
    }
    rendered
}

fn namespace_of(object: &impl ResourceExt) -> String {
    object.namespace().unwrap_or_else(|| "default".into())
}

/// The ConfigMaps among the manifests (offline registry catalogs).
fn config_maps(manifests: &Manifests) -> Vec<ConfigMap> {
    manifests
        .foreign
        .iter()
        .filter(|o| o.api_version == "v1" && o.kind == "ConfigMap")
        .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
        .collect()
}

/// A gateway's objects, with the config compiled from what it selects among the
/// manifests of its namespace.
fn render_gateway(
    out: &mut String,
    gateway: &MCPGateway,
    manifests: &Manifests,
    unresolved: &BTreeMap<(String, String), String>,
    settings: &BuildSettings,
) {
    let namespace = namespace_of(gateway);
    let mut candidates = Candidates::in_namespace(manifests, &namespace);
    candidates.unresolved = unresolved
        .iter()
        .filter(|((server_namespace, _), _)| *server_namespace == namespace)
        .map(|((_, name), why)| (name.clone(), why.clone()))
        .collect();
    // Rendering reads no network: documents at URLs the operator reads in the cluster.
    candidates.documents = local_documents(manifests, Some(&namespace), |url| {
        Err(format!(
            "hangar render does not read {url}; the operator reads it in the cluster (inline and ConfigMap documents are rendered)"
        ))
    });
    let selection = candidates.select(Some(gateway));
    let compiled = compile(
        &selection,
        Target::Cluster {
            namespace: &namespace,
            // No cluster to read Secrets from: every header is rendered.
            secrets: &SecretDestinations::Unchecked,
        },
    );
    let _ = writeln!(
        out,
        "# MCPGateway {} serves {}",
        gateway.name_any(),
        summary(&compiled)
    );
    let secrets = header_secrets(&selection);
    if !secrets.is_empty() {
        let _ = writeln!(
            out,
            "# in a cluster, headers from Secrets ({}) are served only to the URLs each Secret's \
             {ALLOWED_DESTINATIONS_ANNOTATION} annotation allows",
            secrets.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    for skipped in &compiled.skipped {
        let _ = writeln!(
            out,
            "# not served: {} {}: {}",
            skipped.kind, skipped.name, skipped.reason
        );
    }
    for line in compiled.config.curation.describe() {
        let _ = writeln!(out, "# curation of {line}");
    }
    if let Some(search) = &compiled.config.tool_search {
        let _ = writeln!(out, "# tool search: {}", search.describe());
    }
    for uncurated in &compiled.uncurated {
        let _ = writeln!(out, "# curation not applied as written: {uncurated}");
    }
    let objects = gateway_build::build(gateway, &compiled, settings);
    if objects.redis_deployment.is_some() {
        let _ = writeln!(
            out,
            "# Secret {}: the managed Redis's password, generated by the operator on its first reconcile (not rendered)",
            managed_redis_name(&gateway.name_any())
        );
    }
    documents(out, objects.documents());
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
