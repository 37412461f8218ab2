//! One reconcile of an MCPServer: fetch → validate → build → apply → status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_api::{MCPServer, MCPServerStatus, ServerState, condition};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Error as FinalizerError, Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::build::{self, ServerObjects, config_map_name};
use super::error::Error;
use super::state::{self, Workload};
use crate::apply::{Managed, apply, delete_if_owned};
use crate::conditions::{self, Desired};
use crate::context::Context;
use crate::labels::{FIELD_MANAGER, FINALIZER, selector_string, server_selector};

/// Resync period: changes to the server or its objects trigger reconciles sooner.
const RESYNC: Duration = Duration::from_secs(300);

pub async fn reconcile(server: Arc<MCPServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = server.namespace().unwrap_or_default();
    let api: Api<MCPServer> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, server.clone(), |event| async {
        match event {
            Finalizer::Apply(server) => apply_server(&server, &ctx).await,
            Finalizer::Cleanup(server) => cleanup(&server, &ctx).await,
        }
    })
    .await
    .map_err(|error| match error {
        FinalizerError::ApplyFailed(error) | FinalizerError::CleanupFailed(error) => error,
        other => Error::Finalizer(Box::new(other)),
    });
    if let Err(error) = &result
        && !matches!(error, Error::CleanupPending(_))
    {
        tracing::warn!(server = %server.name_any(), %namespace, reason = error.reason(), %error, "reconcile failed");
        ctx.event(
            &*server,
            EventType::Warning,
            error.reason(),
            "Reconcile",
            error.to_string(),
        )
        .await;
    }
    ctx.metrics.reconciled(
        "MCPServer",
        started.elapsed(),
        result.as_ref().err().map(Error::reason),
    );
    result
}

async fn apply_server(server: &MCPServer, ctx: &Context) -> Result<Action, Error> {
    let desired = match build::build(server, &ctx.settings) {
        Ok(objects) => objects,
        Err(invalid) => {
            // Retrying cannot help: wait for the spec to change.
            let message = format!("the spec cannot be run: {invalid}");
            let status = status(
                server,
                ServerState::Dead,
                None,
                vec![
                    Desired::new(condition::READY, false, "InvalidSpec", message.clone()),
                    Desired::new(condition::RECONCILED, false, "InvalidSpec", message.clone()),
                ],
            );
            write_status(server, ctx, status).await?;
            ctx.event(
                server,
                EventType::Warning,
                "InvalidSpec",
                "Validate",
                message,
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let deployment = match apply_objects(server, ctx, desired).await {
        Ok(deployment) => deployment,
        Err(error) => {
            // Say so in status too, if the API server lets us.
            let mut status = server.status.clone().unwrap_or_default();
            let reconciled = Desired::new(
                condition::RECONCILED,
                false,
                error.reason(),
                error.to_string(),
            );
            let others = status
                .conditions
                .iter()
                .filter(|c| c.type_ != condition::RECONCILED)
                .cloned();
            let mut merged = conditions::merge(
                &status.conditions,
                vec![reconciled],
                server.meta().generation,
            );
            merged.extend(others);
            status.conditions = merged;
            if let Err(status_error) = write_status(server, ctx, status).await {
                tracing::debug!(%status_error, "could not record the apply failure in status");
            }
            return Err(error);
        }
    };
    let workload = deployment.as_ref().map(Workload::observe);
    let (state, mut wanted) = state::derive(server.spec.mode, workload.as_ref());
    wanted.push(Desired::new(
        condition::RECONCILED,
        true,
        "Applied",
        "all objects are applied",
    ));
    let previous = server.status.as_ref().and_then(|s| s.state);
    write_status(
        server,
        ctx,
        status(server, state, workload.as_ref(), wanted),
    )
    .await?;
    if previous != Some(state) {
        let from = previous.map_or("(new)".to_string(), |s| s.to_string());
        tracing::info!(server = %server.name_any(), %from, to = %state, "state changed");
        // The reason is the new state: the event recorder folds events of one
        // reason into a series, and each state should stay visible on its own.
        let type_ = if matches!(state, ServerState::Dead) {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(
            server,
            type_,
            state.as_str(),
            "StateChanged",
            format!("{from} → {state}"),
        )
        .await;
    }
    Ok(Action::requeue(RESYNC))
}

/// Applies what should exist and deletes what should not. Returns the Deployment as stored.
async fn apply_objects(
    server: &MCPServer,
    ctx: &Context,
    desired: ServerObjects,
) -> Result<Option<Deployment>, Error> {
    let name = server.name_any();
    apply_or_delete::<ConfigMap>(server, ctx, desired.config_map, &config_map_name(&name)).await?;
    apply_or_delete::<Service>(server, ctx, desired.service, &name).await?;
    let deployment = apply_or_delete::<Deployment>(server, ctx, desired.deployment, &name).await?;
    apply_or_delete::<Ingress>(server, ctx, desired.ingress, &name).await?;
    apply_or_delete::<HorizontalPodAutoscaler>(server, ctx, desired.autoscaler, &name).await?;
    Ok(deployment)
}

async fn apply_or_delete<K: Managed>(
    server: &MCPServer,
    ctx: &Context,
    desired: Option<K>,
    name: &str,
) -> Result<Option<K>, Error> {
    match desired {
        Some(object) => apply(&ctx.client, &object)
            .await
            .map(Some)
            .map_err(|source| Error::Apply {
                kind: K::kind(&()).to_string(),
                name: name.to_string(),
                source,
            }),
        None => {
            delete_owned::<K>(server, ctx, name).await?;
            Ok(None)
        }
    }
}

/// Deletes an owned object; `true` while it still exists.
async fn delete_owned<K: Managed>(
    server: &MCPServer,
    ctx: &Context,
    name: &str,
) -> Result<bool, Error> {
    let namespace = server.namespace().unwrap_or_default();
    let uid = server.uid().unwrap_or_default();
    delete_if_owned::<K>(&ctx.client, &namespace, name, &uid)
        .await
        .map_err(|source| Error::Delete {
            kind: K::kind(&()).to_string(),
            name: name.to_string(),
            source,
        })
}

/// Removes everything the server owns before the finalizer lets it go.
async fn cleanup(server: &MCPServer, ctx: &Context) -> Result<Action, Error> {
    let name = server.name_any();
    let mut remaining = Vec::new();
    for (kind, still_there) in [
        (
            "Deployment",
            delete_owned::<Deployment>(server, ctx, &name).await?,
        ),
        (
            "Service",
            delete_owned::<Service>(server, ctx, &name).await?,
        ),
        (
            "ConfigMap",
            delete_owned::<ConfigMap>(server, ctx, &config_map_name(&name)).await?,
        ),
        (
            "Ingress",
            delete_owned::<Ingress>(server, ctx, &name).await?,
        ),
        (
            "HorizontalPodAutoscaler",
            delete_owned::<HorizontalPodAutoscaler>(server, ctx, &name).await?,
        ),
    ] {
        if still_there {
            remaining.push(kind);
        }
    }
    if !remaining.is_empty() {
        return Err(Error::CleanupPending(remaining.join(", ")));
    }
    ctx.event(
        server,
        EventType::Normal,
        "Deleted",
        "Cleanup",
        "owned objects removed".into(),
    )
    .await;
    Ok(Action::await_change())
}

fn status(
    server: &MCPServer,
    state: ServerState,
    workload: Option<&Workload>,
    wanted: Vec<Desired>,
) -> MCPServerStatus {
    let previous = server.status.clone().unwrap_or_default();
    let generation = server.meta().generation;
    MCPServerStatus {
        state: Some(state),
        replicas: workload.map(|w| w.replicas),
        ready_replicas: workload.map(|w| w.ready),
        selector: workload.map(|_| selector_string(&server_selector(&server.name_any()))),
        url: build::server_url(server),
        conditions: conditions::merge(&previous.conditions, wanted, generation),
        observed_generation: generation,
        ..previous
    }
}

async fn write_status(
    server: &MCPServer,
    ctx: &Context,
    status: MCPServerStatus,
) -> Result<(), Error> {
    let api: Api<MCPServer> =
        Api::namespaced(ctx.client.clone(), &server.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": MCPServer::api_version(&()),
        "kind": MCPServer::kind(&()),
        "status": status,
    });
    api.patch_status(
        &server.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .map_err(Error::Status)?;
    Ok(())
}
