//! One reconcile of an MCPGateway: fetch what it selects → compile → build → apply → status.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hangar_api::{
    AllowedDestinations, MCPGateway, MCPGatewayStatus, MCPPrompt, MCPResource, MCPServer,
    MCPServerGroup, MCPTool, MCPToolSet, condition,
};
use hangar_compile::{
    Candidates, Compiled, Kind, SecretDestinations, Target, compile, header_secrets,
    managed_redis_name,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::GatewayContext;
use super::build::{self, GatewayObjects, config_map_name};
use super::error::Error;
use crate::children::{self, apply_or_delete};
use crate::conditions::{self, Desired};
use crate::context::Context;
use crate::metrics::Operation;
use crate::outcome;
use crate::registry::{self, Lookup};
use crate::server::lifecycle::Workload;

/// Resync period: changes to the gateway, its objects and what it selects trigger reconciles sooner.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a gateway that leaves something out is looked at again.
const SKIPPED_RECHECK: Duration = Duration::from_secs(30);
/// How soon to look again while a catalog a server references is being fetched.
const REGISTRY_LOADING: Duration = Duration::from_secs(2);

pub async fn reconcile(
    gateway: Arc<MCPGateway>,
    ctx: Arc<GatewayContext>,
) -> Result<Action, Error> {
    let ctx = &*ctx;
    outcome::with_finalizer(
        &ctx.base,
        "MCPGateway",
        gateway,
        |gateway| async move { reconcile_gateway(&gateway, ctx).await },
        |gateway| async move { cleanup(&gateway, ctx).await },
    )
    .await
}

async fn reconcile_gateway(gateway: &MCPGateway, ctx: &GatewayContext) -> Result<Action, Error> {
    let namespace = gateway.namespace().unwrap_or_default();
    let Some(candidates) = resolve_registries(fetch_candidates(ctx, &namespace).await?, ctx).await
    else {
        // Keep serving the config the gateway has rather than drop servers for a moment.
        return Ok(Action::requeue(REGISTRY_LOADING));
    };
    let selection = candidates.select(Some(gateway));
    let secrets = secret_destinations(ctx, &namespace, header_secrets(&selection)).await?;
    let compiled = compile(
        &selection,
        Target::Cluster {
            namespace: &namespace,
            secrets: &secrets,
        },
    );
    let selected = &selection.selected;
    // Group members count as served, so that one leaving its group reaches the gateway too.
    let mut members = selected.members();
    members.extend(
        compiled
            .config
            .servers
            .iter()
            .map(|server| (Kind::Server, server.name.clone())),
    );
    let group_selectors = selected
        .groups
        .iter()
        .map(|group| group.spec.selector.clone())
        .collect();
    ctx.index
        .record(ObjectRef::from_obj(gateway), members, group_selectors);
    let workloads = build::build(gateway, &compiled, &ctx.base.settings)
        .apply(gateway, &ctx.base)
        .await?;
    let status = status(
        gateway,
        selected,
        &candidates.servers,
        &compiled,
        &workloads,
    );
    let previous_hash = gateway.status.as_ref().and_then(|s| s.config_hash.clone());
    write_status(gateway, ctx, status.clone()).await?;
    if previous_hash != status.config_hash {
        let summary = format!(
            "config {}: {} tools, {} prompts, {} resources, {} servers",
            status.config_hash.as_deref().unwrap_or_default(),
            compiled.config.tools.len(),
            status.prompts,
            status.resources,
            status.servers
        );
        ctx.base
            .event(
                gateway,
                EventType::Normal,
                "ConfigUpdated",
                "Compile",
                summary,
            )
            .await;
    }
    // Secrets are not watched (that would take reading them all): what a
    // Secret's annotation may have left out is looked at again soon.
    Ok(Action::requeue(if compiled.skipped.is_empty() {
        RESYNC
    } else {
        SKIPPED_RECHECK
    }))
}

async fn list<K>(ctx: &GatewayContext, namespace: &str) -> Result<Vec<K>, Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.base.client.clone(), namespace);
    let listed = api.list(&ListParams::default()).await;
    Ok(listed
        .map_err(|source| Error::List {
            kind: K::plural(&()).to_string(),
            source,
        })?
        .items)
}

/// Where each Secret that headers come from allows its values to go, read
/// now (metadata only: the values stay in the Secrets, the pods read them).
async fn secret_destinations(
    ctx: &GatewayContext,
    namespace: &str,
    names: BTreeSet<String>,
) -> Result<SecretDestinations, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.base.client.clone(), namespace);
    let mut known = BTreeMap::new();
    for name in names {
        let found = api
            .get_metadata_opt(&name)
            .await
            .map_err(|source| Error::ReadSecret {
                name: name.clone(),
                source,
            })?;
        let allowed = found.map(|secret| AllowedDestinations::of(secret.annotations()));
        known.insert(name, allowed);
    }
    Ok(SecretDestinations::Checked(known))
}

/// The candidates with every `spec.registry` resolved as the MCPServer
/// reconciler resolves it, so that the gateway federates what the servers
/// run (a remote-only entry at its endpoint, an image on the port its entry
/// names); `None` while a catalog is still being fetched.
async fn resolve_registries(
    mut candidates: Candidates,
    ctx: &GatewayContext,
) -> Option<Candidates> {
    for server in &mut candidates.servers {
        match registry::look_up(server, &ctx.base).await {
            Lookup::NoReference => {}
            Lookup::Resolved { spec, .. } => server.spec = *spec,
            Lookup::Unresolved { message, .. } => {
                candidates.unresolved.insert(server.name_any(), message);
            }
            Lookup::Loading => return None,
        }
    }
    Some(candidates)
}

async fn fetch_candidates(ctx: &GatewayContext, namespace: &str) -> Result<Candidates, Error> {
    let toolsets = list::<MCPToolSet>(ctx, namespace).await?;
    let mut documents = BTreeMap::new();
    for toolset in &toolsets {
        let read = ctx.base.documents.read(toolset, &ctx.base).await;
        documents.insert(toolset.name_any(), read.document);
    }
    Ok(Candidates {
        tools: list::<MCPTool>(ctx, namespace).await?,
        toolsets,
        documents,
        prompts: list::<MCPPrompt>(ctx, namespace).await?,
        resources: list::<MCPResource>(ctx, namespace).await?,
        servers: list::<MCPServer>(ctx, namespace).await?,
        groups: list::<MCPServerGroup>(ctx, namespace).await?,
        unresolved: BTreeMap::new(),
    })
}

/// The Deployments of a gateway as stored after an apply.
#[derive(Default)]
struct Workloads {
    gateway: Option<Deployment>,
    /// The managed Redis, when the gateway has one.
    redis: Option<Deployment>,
}

impl GatewayObjects {
    /// Applies what should exist and deletes what should not.
    async fn apply(self, gateway: &MCPGateway, ctx: &Context) -> Result<Workloads, Error> {
        let Self {
            config_map,
            deployment,
            service,
            ingress,
            disruption_budget,
            redis_deployment,
            redis_service,
            service_account,
            role,
            role_binding,
            activity_leases,
            network_policy,
            servers_network_policy,
            redis_network_policy,
        } = self;
        let name = gateway.name_any();
        // The config first: new pods must find the config they are meant to serve.
        apply_or_delete(ctx, gateway, config_map, &config_map_name(&name)).await?;
        if redis_deployment.is_some() {
            ensure_redis_secret(ctx, gateway).await?;
        }
        // Policies before the pods they admit traffic to.
        apply_or_delete(
            ctx,
            gateway,
            redis_network_policy,
            &managed_redis_name(&name),
        )
        .await?;
        apply_or_delete(ctx, gateway, network_policy, &name).await?;
        apply_or_delete(
            ctx,
            gateway,
            servers_network_policy,
            &build::servers_policy_name(&name),
        )
        .await?;
        apply_or_delete(ctx, gateway, redis_service, &managed_redis_name(&name)).await?;
        let redis =
            apply_or_delete(ctx, gateway, redis_deployment, &managed_redis_name(&name)).await?;
        apply_or_delete(ctx, gateway, service, &name).await?;
        // The account before the pods that run as it.
        apply_or_delete(ctx, gateway, service_account, &name).await?;
        apply_or_delete(ctx, gateway, role, &name).await?;
        apply_or_delete(ctx, gateway, role_binding, &name).await?;
        children::apply_set(ctx, gateway, activity_leases).await?;
        let deployment = apply_or_delete(ctx, gateway, deployment, &name).await?;
        apply_or_delete(ctx, gateway, ingress, &name).await?;
        apply_or_delete(ctx, gateway, disruption_budget, &name).await?;
        Ok(Workloads {
            gateway: deployment,
            redis,
        })
    }
}

/// Creates the managed Redis's Secret with a generated password unless it
/// exists: never rewritten, so the password holds for the gateway's life.
/// A Secret of that name that this gateway does not control is an error,
/// not a password to trust.
async fn ensure_redis_secret(ctx: &Context, gateway: &MCPGateway) -> Result<(), Error> {
    let name = managed_redis_name(&gateway.name_any());
    let api: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &gateway.namespace().unwrap_or_default());
    let read_failed = |source| Error::ReadSecret {
        name: name.clone(),
        source,
    };
    if let Some(existing) = api.get_metadata_opt(&name).await.map_err(read_failed)? {
        let uid = gateway.uid().unwrap_or_default();
        let ours = existing
            .owner_references()
            .iter()
            .any(|owner| owner.uid == uid && owner.controller == Some(true));
        return if ours {
            Ok(())
        } else {
            Err(Error::ForeignRedisSecret { name })
        };
    }
    let secret = build::redis_secret(gateway, &generate_password());
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            ctx.metrics.operation("Secret", Operation::Create, true);
            Ok(())
        }
        // Created meanwhile by another reconcile of this gateway.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => {
            ctx.metrics.operation("Secret", Operation::Create, false);
            Err(Error::CreateRedisSecret { name, source })
        }
    }
}

/// 244 random bits (two version-4 UUIDs, from the operating system's
/// generator) as 64 hex digits: safe in a URL, a header and a config file.
fn generate_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Removes everything the gateway owns before the finalizer lets it go.
async fn cleanup(gateway: &MCPGateway, ctx: &GatewayContext) -> Result<Action, Error> {
    ctx.index.forget(&ObjectRef::from_obj(gateway));
    let remaining = children::sweep(&ctx.base, gateway, GatewayObjects::KINDS).await?;
    if !remaining.is_empty() {
        return Err(Error::CleanupPending(remaining));
    }
    Ok(Action::await_change())
}

fn status(
    gateway: &MCPGateway,
    selected: &Candidates,
    namespace_servers: &[MCPServer],
    compiled: &Compiled,
    workloads: &Workloads,
) -> MCPGatewayStatus {
    let previous = gateway.status.clone().unwrap_or_default();
    let generation = gateway.meta().generation;
    let config = &compiled.config;
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let tools_of = |name: &str| {
        let server = namespace_servers.iter().find(|s| s.name_any() == name)?;
        Some(server.status.as_ref()?.tools.as_ref()?.count)
    };
    // Declared tools, plus what each server served on its own last listed,
    // plus each group's tools once (its members serve the same ones).
    let federated: i32 = config
        .servers
        .iter()
        .filter(|server| server.expose)
        .filter_map(|server| tools_of(&server.name))
        .sum::<i32>()
        + config
            .groups
            .iter()
            .map(|group| {
                group
                    .members
                    .iter()
                    .filter_map(|member| tools_of(member))
                    .max()
                    .unwrap_or(0)
            })
            .sum::<i32>();
    let workload = workloads
        .gateway
        .as_ref()
        .map(Workload::observe)
        .unwrap_or_default();
    // Session-based clients need the shared sessions: a gateway whose
    // managed Redis is not available refuses them (503), so it is not Ready.
    let redis_missing = workloads
        .redis
        .as_ref()
        .map(Workload::observe)
        .filter(|redis| !(redis.ready > 0 && redis.available_condition));

    let mut wanted = Vec::new();
    wanted.push(if compiled.skipped.is_empty() {
        Desired::new(
            condition::CONFIG_VALID,
            true,
            "Compiled",
            "everything selected is served",
        )
    } else {
        let reasons: Vec<String> = compiled
            .skipped
            .iter()
            .map(|skip| format!("{} {}: {}", skip.kind, skip.name, skip.reason))
            .collect();
        Desired::new(
            condition::CONFIG_VALID,
            false,
            "ItemsSkipped",
            format!("not served: {}", reasons.join("; ")),
        )
    });
    let serving = workload.ready > 0 && workload.available_condition;
    let counts = format!("{}/{} replicas ready", workload.ready, workload.desired);
    wanted.push(if gateway.spec.replicas == 0 {
        Desired::new(
            condition::READY,
            false,
            "ScaledToZero",
            "spec.replicas is 0",
        )
    } else if let Some(redis) = redis_missing.filter(|_| serving) {
        Desired::new(
            condition::READY,
            false,
            "RedisNotAvailable",
            format!(
                "{counts}, but its managed Redis is not available yet ({}/{} replicas ready)",
                redis.ready, redis.desired
            ),
        )
    } else if serving {
        Desired::new(condition::READY, true, "Serving", counts)
    } else {
        Desired::new(condition::READY, false, "NotAvailable", counts)
    });
    wanted.push(Desired::new(
        condition::RECONCILED,
        true,
        "Applied",
        "all objects are applied",
    ));
    wanted.extend(curated(compiled, namespace_servers));

    MCPGatewayStatus {
        url: Some(build::gateway_url(gateway)),
        tools: count(config.tools.len()) + federated,
        prompts: count(config.prompts.len()),
        resources: count(config.resources.len()),
        servers: count(config.servers.len()),
        groups: count(selected.groups.len()),
        replicas: Some(workload.replicas),
        ready_replicas: Some(workload.ready),
        config_hash: Some(config.digest()),
        conditions: conditions::merge(&previous.conditions, wanted, generation),
        observed_generation: generation,
    }
}

/// Whether every curation override and `spec.servers` entry names
/// something served, judged by what each server last listed (its status);
/// no condition for a gateway without curation.
fn curated(compiled: &Compiled, namespace_servers: &[MCPServer]) -> Option<Desired> {
    let config = &compiled.config;
    if config.curation.is_empty() && compiled.uncurated.is_empty() {
        return None;
    }
    let check = hangar_compile::curation::check_overrides(config, |name| {
        let server = namespace_servers.iter().find(|s| s.name_any() == name)?;
        let tools = server.status.as_ref()?.tools.as_ref()?;
        // Status keeps the first names only: a longer list is not known in full.
        let complete = usize::try_from(tools.count).is_ok_and(|n| n == tools.names.len());
        complete.then(|| tools.names.clone())
    });
    let mut unmatched = compiled.uncurated.clone();
    unmatched.extend(check.unmatched);
    Some(if !unmatched.is_empty() {
        Desired::new(
            condition::CURATED,
            false,
            "OverrideUnmatched",
            unmatched.join("; "),
        )
    } else if !check.unknown.is_empty() {
        Desired::unknown(
            condition::CURATED,
            "ToolsNotListed",
            format!(
                "overrides are judged once these have listed all their tools: {}",
                check.unknown.join(", ")
            ),
        )
    } else {
        Desired::new(
            condition::CURATED,
            true,
            "Matched",
            "every override names a served tool",
        )
    })
}

async fn write_status(
    gateway: &MCPGateway,
    ctx: &GatewayContext,
    status: MCPGatewayStatus,
) -> Result<(), Error> {
    crate::api::apply_status(&ctx.base.client, gateway, &status)
        .await
        .map_err(Error::Status)
}
