//! `spec.registry` of an MCPServer: find the entry in the synced catalog and
//! resolve it into the spec the MCPServer reconciler builds from. What cannot
//! be resolved becomes a `RegistryResolved=False` condition.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use hangar_api::{MCPRegistry, MCPServer, MCPServerSpec, MCPServerStatus, condition};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::catalog::{self, NotInCatalog};
use super::resolve;
use super::schema::EntryStatus;
use crate::conditions::{self, Desired};
use crate::context::Context;

/// How often an unresolved reference is looked at again, on top of the
/// MCPServer and MCPRegistry watches that wake it when something changes.
const RECHECK: Duration = Duration::from_secs(300);
/// How soon to look again while this process fetches a catalog it synced before a restart.
const LOADING: Duration = Duration::from_secs(2);

/// What the MCPServer reconciler does next.
pub enum Resolution<'a> {
    /// Build from `server`; `condition` reports the reference (none without `spec.registry`).
    Ready {
        server: Box<Cow<'a, MCPServer>>,
        condition: Option<Desired>,
    },
    /// Stop this reconcile: status says why (or the catalog is loading).
    Stop(Action),
}

/// What a server's `spec.registry` resolves to now. Nothing is written: the
/// MCPServer reconciler records it in status, gateways federate what it says.
pub enum Lookup {
    /// The server has no `spec.registry`.
    NoReference,
    /// The spec the server runs with, and where it came from.
    Resolved {
        spec: Box<MCPServerSpec>,
        message: String,
    },
    /// It does not resolve: a condition reason and what to do about it.
    Unresolved {
        reason: &'static str,
        message: String,
    },
    /// The MCPRegistry could not be read, or this process is fetching a
    /// catalog synced before it started: look again soon.
    Loading,
}

/// Resolves `spec.registry`, if the server has one.
pub async fn resolve_reference<'a>(server: &'a MCPServer, ctx: &Context) -> Resolution<'a> {
    match look_up(server, ctx).await {
        Lookup::NoReference => Resolution::Ready {
            server: Box::new(Cow::Borrowed(server)),
            condition: None,
        },
        Lookup::Resolved { spec, message } => {
            let mut effective = server.clone();
            effective.spec = *spec;
            Resolution::Ready {
                server: Box::new(Cow::Owned(effective)),
                condition: Some(Desired::new(
                    condition::REGISTRY_RESOLVED,
                    true,
                    "Resolved",
                    message,
                )),
            }
        }
        Lookup::Unresolved { reason, message } => unresolved(server, ctx, reason, message).await,
        Lookup::Loading => Resolution::Stop(Action::requeue(LOADING)),
    }
}

/// What `server.spec.registry` resolves to against the catalogs this process synced.
pub async fn look_up(server: &MCPServer, ctx: &Context) -> Lookup {
    let Some(reference) = &server.spec.registry else {
        return Lookup::NoReference;
    };
    let namespace = server.namespace().unwrap_or_default();
    let registries: Api<MCPRegistry> = Api::namespaced(ctx.client.clone(), &namespace);
    let registry = match registries.get_opt(&reference.name).await {
        Ok(Some(registry)) => registry,
        Ok(None) => {
            return Lookup::Unresolved {
                reason: "RegistryNotFound",
                message: format!(
                    "MCPRegistry {} (spec.registry.name) does not exist in namespace {namespace}: create it, or name an existing one",
                    reference.name
                ),
            };
        }
        Err(error) => {
            tracing::warn!(server = %server.name_any(), %error, "could not read the MCPRegistry");
            return Lookup::Loading;
        }
    };
    let Some(catalog) = catalog::published(&registry.uid().unwrap_or_default()) else {
        let ready = registry.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == condition::READY)
                .cloned()
        });
        let message = match ready {
            // Synced before this process started: it is being fetched again.
            Some(ready) if ready.status == "True" => return Lookup::Loading,
            Some(ready) => format!(
                "MCPRegistry {} has no catalog: {}",
                reference.name, ready.message
            ),
            None => format!("MCPRegistry {} has not synced yet", reference.name),
        };
        return Lookup::Unresolved {
            reason: "RegistryNotSynced",
            message,
        };
    };
    let entry = match catalog.find(&reference.server, &reference.version) {
        Ok(entry) => entry,
        Err(missing) => {
            let reason = match &missing {
                NotInCatalog::UnknownServer { .. } => "ServerNotFound",
                NotInCatalog::UnknownVersion { .. } => "VersionNotFound",
                NotInCatalog::Withdrawn {
                    status: EntryStatus::Deprecated,
                    ..
                } => "EntryDeprecated",
                NotInCatalog::Withdrawn { .. } => "EntryDeleted",
            };
            return Lookup::Unresolved {
                reason,
                message: format!("MCPRegistry {}: {missing}", reference.name),
            };
        }
    };
    match resolve::resolve(entry, &server.spec) {
        Ok(resolved) => Lookup::Resolved {
            message: format!(
                "{} {} from MCPRegistry {}: {}",
                entry.name, entry.version, reference.name, resolved.summary
            ),
            spec: Box::new(resolved.spec),
        },
        Err(error) => Lookup::Unresolved {
            reason: error.reason(),
            message: format!(
                "{} {} from MCPRegistry {} cannot run as written: {error}",
                entry.name, entry.version, reference.name
            ),
        },
    }
}

/// Records `RegistryResolved=False` (and `Ready=False`) in status, keeping the
/// rest of it, and announces a change with an Event. The workload is left as
/// it is: nothing is applied or deleted while the reference does not resolve.
async fn unresolved<'a>(
    server: &'a MCPServer,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Resolution<'a> {
    let previous = server.status.clone().unwrap_or_default();
    let unchanged = previous.conditions.iter().any(|c| {
        c.type_ == condition::REGISTRY_RESOLVED
            && c.status == "False"
            && c.reason == reason
            && c.message == message
    });
    let generation = server.meta().generation;
    let mut conditions = conditions::merge(
        &previous.conditions,
        vec![
            Desired::new(condition::REGISTRY_RESOLVED, false, reason, message.clone()),
            Desired::new(
                condition::READY,
                false,
                "RegistryUnresolved",
                message.clone(),
            ),
        ],
        generation,
    );
    conditions.extend(
        previous
            .conditions
            .iter()
            .filter(|c| c.type_ != condition::REGISTRY_RESOLVED && c.type_ != condition::READY)
            .cloned(),
    );
    let status = MCPServerStatus {
        conditions,
        observed_generation: generation,
        ..previous
    };
    if let Err(error) = write_status(server, ctx, &status).await {
        tracing::warn!(server = %server.name_any(), %error, "could not record the unresolved registry reference");
        return Resolution::Stop(Action::requeue(LOADING));
    }
    if !unchanged {
        tracing::info!(server = %server.name_any(), %reason, %message, "registry reference does not resolve");
        ctx.event(
            server,
            EventType::Warning,
            reason,
            "ResolveRegistry",
            message,
        )
        .await;
    }
    Resolution::Stop(Action::requeue(RECHECK))
}

async fn write_status(
    server: &MCPServer,
    ctx: &Context,
    status: &MCPServerStatus,
) -> Result<(), kube::Error> {
    crate::api::apply_status(&ctx.client, server, status).await
}

/// The MCPServers in `servers` that reference `registry`: they reconcile again when it syncs.
pub fn servers_referencing(
    servers: &Store<MCPServer>,
    registry: &MCPRegistry,
) -> Vec<ObjectRef<MCPServer>> {
    let namespace = registry.namespace();
    let name = registry.name_any();
    servers
        .state()
        .iter()
        .filter(|server: &&Arc<MCPServer>| {
            server.namespace() == namespace
                && server
                    .spec
                    .registry
                    .as_ref()
                    .is_some_and(|reference| reference.name == name)
        })
        .map(|server| ObjectRef::from_obj(&**server))
        .collect()
}
