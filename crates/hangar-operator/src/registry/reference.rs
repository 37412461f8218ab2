//! `spec.registry` of an MCPServer: find the entry in the synced catalog and
//! resolve it into the spec the MCPServer reconciler builds from. What cannot
//! be resolved becomes a `RegistryResolved=False` condition.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use hangar_api::{MCPRegistry, MCPServer, MCPServerStatus, condition};
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

/// Resolves `spec.registry`, if the server has one.
pub async fn resolve_reference<'a>(server: &'a MCPServer, ctx: &Context) -> Resolution<'a> {
    let Some(reference) = &server.spec.registry else {
        return Resolution::Ready {
            server: Box::new(Cow::Borrowed(server)),
            condition: None,
        };
    };
    let namespace = server.namespace().unwrap_or_default();
    let registries: Api<MCPRegistry> = Api::namespaced(ctx.client.clone(), &namespace);
    let registry = match registries.get_opt(&reference.name).await {
        Ok(Some(registry)) => registry,
        Ok(None) => {
            let message = format!(
                "MCPRegistry {} (spec.registry.name) does not exist in namespace {namespace}: create it, or name an existing one",
                reference.name
            );
            return unresolved(server, ctx, "RegistryNotFound", message).await;
        }
        Err(error) => {
            tracing::warn!(server = %server.name_any(), %error, "could not read the MCPRegistry");
            return Resolution::Stop(Action::requeue(LOADING));
        }
    };
    let Some(catalog) = catalog::published(&registry.uid().unwrap_or_default()) else {
        let ready = registry.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == condition::READY)
                .cloned()
        });
        return match ready {
            // Synced before this process started: it is being fetched again.
            Some(ready) if ready.status == "True" => Resolution::Stop(Action::requeue(LOADING)),
            Some(ready) => {
                let message = format!(
                    "MCPRegistry {} has no catalog: {}",
                    reference.name, ready.message
                );
                unresolved(server, ctx, "RegistryNotSynced", message).await
            }
            None => {
                let message = format!("MCPRegistry {} has not synced yet", reference.name);
                unresolved(server, ctx, "RegistryNotSynced", message).await
            }
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
            let message = format!("MCPRegistry {}: {missing}", reference.name);
            return unresolved(server, ctx, reason, message).await;
        }
    };
    match resolve::resolve(entry, &server.spec) {
        Ok(resolved) => {
            let mut effective = server.clone();
            effective.spec = resolved.spec;
            let message = format!(
                "{} {} from MCPRegistry {}: {}",
                entry.name, entry.version, reference.name, resolved.summary
            );
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
        Err(error) => {
            let message = format!(
                "{} {} from MCPRegistry {} cannot run as written: {error}",
                entry.name, entry.version, reference.name
            );
            unresolved(server, ctx, error.reason(), message).await
        }
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
