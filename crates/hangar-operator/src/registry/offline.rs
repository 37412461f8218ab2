//! `spec.registry` without a cluster (`hangar render`): resolved against an
//! MCPRegistry of the same manifests whose catalog is a ConfigMap there too,
//! with the catalog and resolution code the controller uses.

use hangar_api::{MCPRegistry, MCPServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::catalog::Catalog;
use super::reconcile::from_config_map;
use super::resolve::resolve;

/// What an MCPServer with `spec.registry` renders as.
#[derive(Debug)]
pub enum Offline {
    /// The server as the operator would run it, and where that came from.
    Resolved {
        server: Box<MCPServer>,
        summary: String,
    },
    /// The catalog exists only once the operator syncs it (a registry URL).
    NeedsSync { registry: String, url: String },
}

/// Resolves `server.spec.registry` against `registries` and `config_maps` of
/// its namespace; `Err` says why it does not resolve, as the condition would.
pub fn resolve_offline(
    server: &MCPServer,
    registries: &[MCPRegistry],
    config_maps: &[ConfigMap],
) -> Result<Offline, String> {
    let Some(reference) = &server.spec.registry else {
        return Ok(Offline::Resolved {
            server: Box::new(server.clone()),
            summary: String::new(),
        });
    };
    let namespace = server.namespace().unwrap_or_else(|| "default".into());
    let in_namespace =
        |other: Option<String>| other.unwrap_or_else(|| "default".into()) == namespace;
    let registry = registries
        .iter()
        .find(|r| r.name_any() == reference.name && in_namespace(r.namespace()))
        .ok_or_else(|| {
            format!(
                "MCPRegistry {} (spec.registry.name) is not in these manifests (namespace {namespace})",
                reference.name
            )
        })?;
    if let Some(url) = &registry.spec.url {
        return Ok(Offline::NeedsSync {
            registry: reference.name.clone(),
            url: url.clone(),
        });
    }
    let wanted = registry
        .spec
        .config_map_ref
        .as_ref()
        .map(|r| r.name.as_str());
    let config_map = config_maps
        .iter()
        .find(|c| Some(c.name_any().as_str()) == wanted && in_namespace(c.namespace()))
        .cloned();
    let (catalog, _): (Catalog, String) = from_config_map(registry, config_map)
        .map_err(|error| format!("MCPRegistry {}: {error}", reference.name))?;
    let entry = catalog
        .find(&reference.server, &reference.version)
        .map_err(|missing| format!("MCPRegistry {}: {missing}", reference.name))?;
    let resolved = resolve(entry, &server.spec).map_err(|error| {
        format!(
            "{} {} from MCPRegistry {} cannot run as written: {error}",
            entry.name, entry.version, reference.name
        )
    })?;
    let mut effective = server.clone();
    effective.spec = resolved.spec;
    Ok(Offline::Resolved {
        server: Box::new(effective),
        summary: format!(
            "{} {} from MCPRegistry {}: {}",
            entry.name, entry.version, reference.name, resolved.summary
        ),
    })
}
