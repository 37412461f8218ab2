//! What `hangar up` runs of a set of manifests: the gateway's selection
//! compiled for this machine, less what cannot run here, each with the reason.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};
use hangar_api::MCPGateway;
use hangar_compile::{
    Candidates, Compiled, Kind, Selection, Skipped, Target, compile, local_documents,
};
use hangar_config::{Environment, NameValue};
use hangar_manifests::Manifests;
use kube::ResourceExt;

fn namespace_of(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    metadata.namespace.as_deref().unwrap_or("default")
}

/// Texts of documents at URLs (MCPToolSets'), or why each could not be read.
pub type FetchedDocuments = BTreeMap<String, Result<String, String>>;

/// What `hangar up` will run for these manifests, with the URL documents
/// of its tool sets as `fetched` holds them.
pub fn plan(
    manifests: &Manifests,
    gateway: Option<&str>,
    fetched: &FetchedDocuments,
) -> anyhow::Result<Compiled> {
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
    let mut candidates = match chosen {
        Some(gateway) => Candidates::in_namespace(manifests, namespace_of(&gateway.metadata)),
        None => Candidates::all(manifests),
    };
    let mut clashes = first_of_each_name(&mut candidates.servers, "MCPServer", manifests);
    let groups = first_of_each_name(&mut candidates.groups, "MCPServerGroup", manifests);
    clashes.extend(groups);
    // Catalog entries are resolved by the operator (and `hangar render`, from
    // ConfigMap catalogs); run here without it, a server would lose its entry's
    // package, arguments and environment.
    candidates.unresolved = candidates
        .servers
        .iter()
        .filter(|server| server.spec.registry.is_some())
        .map(|server| {
            (
                server.name_any(),
                "hangar up does not resolve catalog entries; `hangar render` shows what the entry runs in a cluster, and spec.command (or mode: remote with spec.endpoint) without spec.registry runs it here".to_string(),
            )
        })
        .collect();
    candidates.documents = local_documents(
        manifests,
        chosen.map(|gateway| namespace_of(&gateway.metadata)),
        |url| {
            fetched
                .get(url)
                .cloned()
                .unwrap_or_else(|| Err(format!("{url} was not read")))
        },
    );
    let selection = candidates.select(chosen);
    let mut compiled = compile(&selection, Target::Local);
    compiled.skipped.extend(clashes);
    if let Some(gateway) = chosen {
        let unselected = not_selected(gateway, manifests, &selection, &compiled);
        compiled.skipped.extend(unselected);
    }
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

/// Two objects of a kind with one name clash: defined twice in a namespace,
/// or, without a gateway (which serves every namespace at once), in two. The
/// first read is served (as `onConflict: KeepFirst` does for tools), each
/// other one is reported with its namespace and file.
fn first_of_each_name<T: ResourceExt>(
    items: &mut Vec<T>,
    kind: &'static str,
    manifests: &Manifests,
) -> Vec<Skipped> {
    let mut first: HashMap<String, (String, usize)> = HashMap::new();
    let mut seen_in: HashMap<(String, String), usize> = HashMap::new();
    let mut skipped = Vec::new();
    items.retain(|item| {
        let name = item.name_any();
        let namespace = item.namespace().unwrap_or_else(|| "default".into());
        // The n-th object of this name in this namespace came from the n-th source.
        let occurrence = seen_in.entry((namespace.clone(), name.clone())).or_default();
        let index = *occurrence;
        *occurrence += 1;
        let source = |namespace: &str, index: usize| {
            manifests
                .sources_of(kind, namespace, &name)
                .get(index)
                .map_or_else(|| "?".to_string(), |s| s.to_string())
        };
        match first.get(&name) {
            None => {
                first.insert(name, (namespace, index));
                true
            }
            Some((kept_namespace, kept_index)) => {
                let kept = source(kept_namespace, *kept_index);
                let this = source(&namespace, index);
                let reason = if *kept_namespace == namespace {
                    format!(
                        "defined twice in namespace {namespace} ({kept} and {this}); the first is served"
                    )
                } else {
                    format!(
                        "namespace {namespace} ({this}) has one of this name, and so has namespace {kept_namespace} ({kept}), which is served: without an MCPGateway hangar up serves every namespace under one set of names; rename one, or run one namespace's MCPGateway (--gateway)"
                    )
                };
                skipped.push(Skipped {
                    kind,
                    name,
                    reason,
                });
                false
            }
        }
    });
    skipped
}

/// The objects the gateway does not serve: those of other namespaces, and
/// those of its namespace its selectors do not pick (group members are
/// served through their group).
fn not_selected(
    gateway: &MCPGateway,
    manifests: &Manifests,
    selection: &Selection<'_>,
    compiled: &Compiled,
) -> Vec<Skipped> {
    let name = gateway.name_any();
    let namespace = namespace_of(&gateway.metadata);
    let mut skipped = Vec::new();
    let served = |kind: Kind, member: &str| {
        kind == Kind::Server && compiled.config.servers.iter().any(|s| s.name == member)
    };
    let picked = selection.selected.members();
    for (kind, member) in selection.candidates.members() {
        if picked.contains(&(kind, member.clone())) || served(kind, &member) {
            continue;
        }
        let selector = match kind {
            Kind::Server | Kind::Group => "serverSelector",
            Kind::Tool | Kind::ToolSet | Kind::Prompt | Kind::Resource => "toolSelector",
        };
        let reason = if kind.selector(gateway).is_none() {
            format!("MCPGateway {name} has no {selector}, so it serves none")
        } else {
            format!("its labels do not match MCPGateway {name}'s {selector}")
        };
        skipped.push(Skipped {
            kind: kind_name(kind),
            name: member,
            reason,
        });
    }
    for origin in manifests
        .origins
        .iter()
        .filter(|o| o.namespace != namespace)
    {
        if ["MCPGateway", "MCPRegistry", "MCPDiscoverySource"].contains(&origin.kind.as_str()) {
            continue;
        }
        skipped.push(Skipped {
            kind: static_kind(&origin.kind),
            name: origin.name.clone(),
            reason: format!(
                "it is in namespace {} ({}), and MCPGateway {name} serves namespace {namespace} only",
                origin.namespace, origin.source
            ),
        });
    }
    skipped
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Tool => "MCPTool",
        Kind::ToolSet => "MCPToolSet",
        Kind::Prompt => "MCPPrompt",
        Kind::Resource => "MCPResource",
        Kind::Server => "MCPServer",
        Kind::Group => "MCPServerGroup",
    }
}

fn static_kind(kind: &str) -> &'static str {
    [
        "MCPServer",
        "MCPServerGroup",
        "MCPTool",
        "MCPToolSet",
        "MCPPrompt",
        "MCPResource",
    ]
    .into_iter()
    .find(|k| *k == kind)
    .unwrap_or("object")
}

/// Secrets do not exist locally: items whose values come from one are kept
/// only when the matching environment variable is set.
fn drop_missing_secrets(compiled: &mut Compiled) {
    let missing: Vec<_> = compiled
        .secret_env
        .iter()
        .filter(|s| !Environment::Process.contains(&s.env))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_entry_is_not_run_half_resolved() {
        let manifests = hangar_manifests::parse(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: time}
spec: {registry: {name: internal, server: io.github.acme/time}, command: [uvx, mcp-server-time], transport: stdio}
"#,
            "manifests",
        )
        .unwrap();
        let compiled = plan(&manifests, None, &FetchedDocuments::new()).unwrap();
        assert!(
            compiled.config.servers.is_empty(),
            "{:?}",
            compiled.config.servers
        );
        let skipped = compiled
            .skipped
            .iter()
            .find(|s| s.name == "time")
            .expect("the server is reported");
        assert!(
            skipped.reason.starts_with("its catalog entry (spec.registry) does not resolve: hangar up does not resolve catalog entries"),
            "{}",
            skipped.reason
        );
    }

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
        let compiled = plan(&manifests, None, &FetchedDocuments::new()).unwrap();
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
