//! One reconcile of an MCPServer: fetch (and resolve `spec.registry`) → validate →
//! build → apply → observe → status.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hangar_api::{
    CircuitState as StatusCircuit, HealthCheckSpec, MCPServer, MCPServerStatus, ServerInfo,
    ServerMode, ServerState, ToolsStatus, Transport, condition, fit,
};
use hangar_circuit::State as CircuitState;
use hangar_mcp_client::TokenEndpoint;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::ServerContext;
use super::build::{self, ServerObjects, config_map_name};
use super::error::Error;
use super::lifecycle::{self, Inputs, Probe, Signal, Workload, WorkloadHealth};
use super::scale;
use crate::children::{self, apply_or_delete};
use crate::conditions::{self, Desired};
use crate::context::Context;
use crate::health::{HealthRecord, ProbeTarget, Schedule};
use crate::labels::{
    ACTIVITY_LABEL, MANAGED_BY, MANAGED_BY_LABEL, SERVER_LABEL, selector_string, server_selector,
};
use crate::outcome::{self, Failure};
use crate::registry::{self, Resolution};

/// Resync period: changes to the server, its objects and its health trigger reconciles sooner.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a server whose check a header's Secret blocks is looked at again.
const SECRET_RECHECK: Duration = Duration::from_secs(30);
/// Longest `serverInfo` field kept: servers choose these strings.
const SERVER_INFO_BYTES: usize = 256;

pub async fn reconcile(server: Arc<MCPServer>, ctx: Arc<ServerContext>) -> Result<Action, Error> {
    let ctx = &*ctx;
    outcome::with_finalizer(
        &ctx.base,
        "MCPServer",
        server,
        |server| async move { reconcile_server(&server, ctx).await },
        |server| async move { cleanup(&server, ctx).await },
    )
    .await
}

async fn reconcile_server(server: &MCPServer, ctx: &ServerContext) -> Result<Action, Error> {
    // A catalog entry (spec.registry) becomes the spec built below; what does not resolve is in status.
    let (server, registry_condition) = match registry::resolve_reference(server, &ctx.base).await {
        Resolution::Ready { server, condition } => (server, condition),
        Resolution::Stop(action) => return Ok(action),
    };
    let server: &MCPServer = &server;
    let key = ObjectRef::from_obj(server);
    let last_activity = match server.spec.replicas {
        0 => scale::last_activity(&activity_leases(server, ctx).await?),
        _ => None,
    };
    let scale = scale::effective_replicas(server, last_activity, Timestamp::now());
    let desired = match build::validate(server) {
        Ok(runnable) => build::build(runnable, scale.replicas, &ctx.base.settings),
        Err(invalid) => {
            // Retrying cannot help: wait for the spec to change.
            ctx.health.pause(&key);
            let message = format!("the spec cannot be run: {invalid}");
            let wanted = vec![
                Desired::new(condition::READY, false, "InvalidSpec", message.clone()),
                Desired::new(condition::RECONCILED, false, "InvalidSpec", message.clone()),
            ];
            let status = status(server, ServerState::Dead, None, None, wanted);
            write_status(server, ctx, status).await?;
            ctx.base
                .event(
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
    let deployment = match desired.apply(server, &ctx.base).await {
        Ok(deployment) => deployment,
        Err(error) => {
            record_failure(server, ctx, &error).await;
            return Err(error);
        }
    };

    // Observe what runs.
    let (workload, workload_health) = match server.spec.mode {
        ServerMode::Remote => (None, WorkloadHealth::Full),
        ServerMode::Container => {
            let workload = deployment
                .as_ref()
                .map(Workload::observe)
                .unwrap_or_default();
            let failing = lifecycle::pods_failing(&server_pods(server, ctx).await?);
            (Some(workload), WorkloadHealth::classify(&workload, failing))
        }
    };
    let desired_replicas = if server.spec.mode == ServerMode::Remote {
        1
    } else {
        scale.replicas
    };

    // Check only what can answer: a remote server, or a workload with ready replicas.
    let check = &server.spec.health_check;
    let answering = matches!(
        workload_health,
        WorkloadHealth::Full | WorkloadHealth::Partial
    );
    let mut cannot_check = None;
    if check.enabled && desired_replicas > 0 && answering {
        match schedule(server, ctx).await {
            Ok(schedule) => ctx.health.track(key.clone(), schedule),
            // Nothing is sent without its headers; status says why.
            Err(Error::Secret(header)) => {
                ctx.health.pause(&key);
                cannot_check = Some(Probe::CannotCheck {
                    reason: header.reason(),
                    message: format!("spec.headers: {header}"),
                });
            }
            Err(other) => return Err(other),
        }
    } else {
        ctx.health.pause(&key);
    }
    let record = ctx.health.record(&key);
    let inputs = Inputs {
        desired_replicas,
        workload: workload_health,
        probe: cannot_check.unwrap_or_else(|| probe_input(check, record.as_ref())),
        circuit: record
            .as_ref()
            .map_or(CircuitState::Closed, HealthRecord::circuit),
    };

    // Decide the state.
    let previous = server.status.as_ref().and_then(|s| s.state);
    let signal = Signal::classify(&inputs);
    let state = lifecycle::next(previous.unwrap_or(ServerState::Initializing), signal);
    let (reason, message) = lifecycle::explain(signal, &inputs, workload.as_ref());
    let mut wanted = vec![Desired::new(
        condition::READY,
        state == ServerState::Ready,
        reason,
        message.clone(),
    )];
    wanted.push(healthy_condition(&inputs.probe));
    if let Some(workload) = &workload {
        wanted.extend(workload_conditions(workload));
    }
    wanted.extend(registry_condition);
    wanted.push(Desired::new(
        condition::RECONCILED,
        true,
        "Applied",
        "all objects are applied",
    ));
    write_status(
        server,
        ctx,
        status(server, state, workload.as_ref(), record.as_ref(), wanted),
    )
    .await?;

    let namespace = server.namespace().unwrap_or_default();
    ctx.metrics.state(&namespace, &server.name_any(), state);
    if previous != Some(state) {
        let from = previous.map_or("(new)".to_string(), |s| s.to_string());
        tracing::info!(server = %server.name_any(), %namespace, %from, to = %state, reason, "state changed");
        let type_ = if state == ServerState::Dead {
            EventType::Warning
        } else {
            EventType::Normal
        };
        // A new server's first state is in its status already; an Event for
        // it would cost one more write per created server and tell nobody
        // anything new. Only a first state that needs attention (Dead) is
        // worth one.
        if previous.is_some() || type_ == EventType::Warning {
            let reason = lifecycle::event_reason(previous, state);
            ctx.base
                .event(
                    server,
                    type_,
                    reason,
                    "StateChanged",
                    format!("{from} → {state}: {message}"),
                )
                .await;
        }
    }
    // Secrets are not watched (that would take reading them all): a check
    // their headers block is looked at again soon, to notice a new annotation.
    let resync = if matches!(inputs.probe, Probe::CannotCheck { .. }) {
        SECRET_RECHECK
    } else {
        RESYNC
    };
    let requeue = scale
        .recheck_after
        .map_or(resync, |after| after.min(resync));
    Ok(Action::requeue(requeue))
}

/// Says in status that applying failed, if the API server lets us.
async fn record_failure(server: &MCPServer, ctx: &ServerContext, error: &Error) {
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
}

impl ServerObjects {
    /// Applies what should exist and deletes what should not. Returns the Deployment as stored.
    async fn apply(self, server: &MCPServer, ctx: &Context) -> Result<Option<Deployment>, Error> {
        let Self {
            deployment,
            service,
            config_map,
            ingress,
            autoscaler,
            network_policy,
        } = self;
        let name = server.name_any();
        let config_map_name = config_map_name(&name);
        // The config before the Deployment: new pods must find the files they
        // mount; the policy before the pods it admits traffic to. Within each
        // stage the requests go out together: a reconcile takes two round
        // trips for its children, not one per child.
        futures::try_join!(
            apply_or_delete(ctx, server, config_map, &config_map_name),
            apply_or_delete(ctx, server, network_policy, &name),
            apply_or_delete(ctx, server, service, &name),
        )?;
        let (deployment, _, _) = futures::try_join!(
            apply_or_delete(ctx, server, deployment, &name),
            apply_or_delete(ctx, server, ingress, &name),
            apply_or_delete(ctx, server, autoscaler, &name),
        )?;
        Ok(deployment)
    }
}

async fn server_pods(server: &MCPServer, ctx: &ServerContext) -> Result<Vec<Pod>, Error> {
    let namespace = server.namespace().unwrap_or_default();
    let name = server.name_any();
    // The watched pods are those managed by Hangar, as the list below.
    if let Some(store) = ctx.base.caches.store::<Pod>() {
        return Ok(store
            .state_filter(|pod| {
                pod.namespace().as_deref() == Some(namespace.as_str())
                    && pod.labels().get(SERVER_LABEL) == Some(&name)
                    && pod.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
            })
            .into_iter()
            .map(|pod| (*pod).clone())
            .collect());
    }
    let pods: Api<Pod> = Api::namespaced(ctx.base.client.clone(), &namespace);
    let selector = format!("{SERVER_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}");
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::ListPods)?
        .items)
}

/// The gateways' activity Leases of the server.
async fn activity_leases(server: &MCPServer, ctx: &ServerContext) -> Result<Vec<Lease>, Error> {
    let leases: Api<Lease> = Api::namespaced(
        ctx.base.client.clone(),
        &server.namespace().unwrap_or_default(),
    );
    let selector = format!(
        "{ACTIVITY_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}",
        server.name_any()
    );
    Ok(leases
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::ListLeases)?
        .items)
}

/// How the server is checked, with header values read from their Secrets.
async fn schedule(server: &MCPServer, ctx: &ServerContext) -> Result<Schedule, Error> {
    let spec = &server.spec;
    let namespace = server.namespace().unwrap_or_default();
    let url = hangar_compile::in_cluster_url(server).unwrap_or_default();
    let headers =
        crate::secrets::header_values(&ctx.base.client, &namespace, &spec.headers, &url).await?;
    let token = probe_token(server, ctx).await?;
    let duration = |d: &hangar_api::Duration| {
        d.to_std()
            .map_err(|e| Error::InvalidSpec(build::InvalidSpec::Duration(e.to_string())))
    };
    Ok(Schedule {
        target: ProbeTarget {
            server: server.name_any(),
            url,
            // Container stdio servers are bridged to Streamable HTTP in the pod.
            legacy_sse: spec.transport == Transport::Sse,
            headers,
            token,
            timeout: duration(&spec.health_check.timeout)?,
        },
        interval: duration(&spec.health_check.interval)?,
        breaker: spec.circuit_breaker.settings().map_err(|e| {
            Error::InvalidSpec(build::InvalidSpec::Duration(format!(
                "spec.circuitBreaker.resetTimeout: {e}"
            )))
        })?,
    })
}

/// The token endpoint the checks take a token from, as the gateway does for
/// its own requests: `spec.auth`'s client (client credentials, also for
/// token exchange), its secret read now. None without one.
async fn probe_token(
    server: &MCPServer,
    ctx: &ServerContext,
) -> Result<Option<TokenEndpoint>, Error> {
    let Some(auth) = &server.spec.auth else {
        return Ok(None);
    };
    let (field, grant) = match (&auth.oauth2_client_credentials, &auth.token_exchange) {
        (Some(grant), _) => ("oauth2ClientCredentials", grant),
        (None, Some(grant)) => ("tokenExchange", grant),
        (None, None) => return Ok(None),
    };
    let client_secret = crate::secrets::secret_value(
        &ctx.base.client,
        &server.namespace().unwrap_or_default(),
        &grant.client_secret,
        &grant.token_url,
        format!("spec.auth.{field}.clientSecret"),
    )
    .await?;
    Ok(Some(TokenEndpoint {
        url: grant.token_url.clone(),
        client_id: grant.client_id.clone(),
        client_secret,
        scopes: grant.scopes.clone(),
        audience: grant.audience.clone(),
        resource: grant.resource.clone(),
    }))
}

fn probe_input(check: &HealthCheckSpec, record: Option<&HealthRecord>) -> Probe {
    if !check.enabled {
        return Probe::Disabled;
    }
    match record.and_then(|r| r.latest.as_ref().map(|latest| (r, latest))) {
        None => Probe::NotYet,
        Some((_, Ok(_))) => Probe::Passing,
        Some((record, Err(error))) => Probe::Failing {
            consecutive: record.consecutive_failures,
            threshold: u32::try_from(check.failure_threshold).unwrap_or(1),
            error: error.to_string(),
        },
    }
}

fn healthy_condition(probe: &Probe) -> Desired {
    match probe {
        Probe::Disabled => Desired::unknown(
            condition::HEALTHY,
            "HealthChecksDisabled",
            "spec.healthCheck.enabled is false",
        ),
        Probe::NotYet => Desired::unknown(
            condition::HEALTHY,
            "NotChecked",
            "no MCP health check has finished yet",
        ),
        Probe::Passing => Desired::new(
            condition::HEALTHY,
            true,
            "HealthCheckPassed",
            "the server answered initialize/discover and tools/list",
        ),
        Probe::CannotCheck { reason, message } => {
            Desired::new(condition::HEALTHY, false, *reason, message.clone())
        }
        Probe::Failing {
            consecutive, error, ..
        } => Desired::new(
            condition::HEALTHY,
            false,
            "HealthCheckFailed",
            format!("{consecutive} consecutive failures, last: {error}"),
        ),
    }
}

fn workload_conditions(workload: &Workload) -> [Desired; 2] {
    let counts = format!("{}/{} replicas ready", workload.ready, workload.desired);
    let available = Desired::new(
        condition::AVAILABLE,
        workload.available_condition,
        if workload.available_condition {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        counts.clone(),
    );
    let progressing = if workload.progress_deadline_exceeded {
        Desired::new(
            condition::PROGRESSING,
            false,
            "ProgressDeadlineExceeded",
            "the rollout made no progress in time",
        )
    } else if workload.rolled_out() || workload.desired == 0 {
        Desired::new(condition::PROGRESSING, false, "RolloutComplete", counts)
    } else {
        Desired::new(
            condition::PROGRESSING,
            true,
            "RollingOut",
            format!("{} updated, {counts}", workload.updated),
        )
    };
    [available, progressing]
}

/// Removes everything the server owns before the finalizer lets it go.
async fn cleanup(server: &MCPServer, ctx: &ServerContext) -> Result<Action, Error> {
    let key = ObjectRef::from_obj(server);
    ctx.health.forget(&key);
    ctx.status_writes.forget(server);
    let remaining = children::sweep(&ctx.base, server, ServerObjects::KINDS).await?;
    if !remaining.is_empty() {
        return Err(Error::CleanupPending(remaining));
    }
    ctx.base
        .event(
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
    health: Option<&HealthRecord>,
    wanted: Vec<Desired>,
) -> MCPServerStatus {
    let previous = server.status.clone().unwrap_or_default();
    let generation = server.meta().generation;
    let report = health.and_then(|h| h.last_report.as_ref());
    let time = |at: SystemTime| Timestamp::try_from(at).ok().map(hangar_api::Time);
    let image = match server.spec.mode {
        ServerMode::Container => server.spec.effective_image(),
        ServerMode::Remote => None,
    };
    MCPServerStatus {
        state: Some(state),
        replicas: workload.map(|w| w.replicas),
        ready_replicas: workload.map(|w| w.ready),
        selector: workload.map(|_| selector_string(&server_selector(&server.name_any()))),
        url: hangar_compile::in_cluster_url(server),
        image: image.map(|(repository, _)| repository.to_string()),
        tag: image.map(|(_, version)| version.to_string()),
        server_info: report
            .map(|r| ServerInfo {
                name: fit(&r.server_name, SERVER_INFO_BYTES).into_owned(),
                version: r
                    .server_version
                    .as_deref()
                    .map(|v| fit(v, SERVER_INFO_BYTES).into_owned()),
                protocol_version: Some(fit(&r.protocol_version, SERVER_INFO_BYTES).into_owned()),
            })
            .or(previous.server_info),
        tools: report.map(|r| ToolsStatus::of(&r.tools)).or(previous.tools),
        last_health_check: health
            .and_then(|h| h.last_check)
            .and_then(time)
            .or(previous.last_health_check),
        consecutive_failures: health.map_or(previous.consecutive_failures, |h| {
            i32::try_from(h.consecutive_failures).unwrap_or(i32::MAX)
        }),
        circuit: Some(
            match health.map_or(CircuitState::Closed, HealthRecord::circuit) {
                CircuitState::Closed => StatusCircuit::Closed,
                CircuitState::Open => StatusCircuit::Open,
                CircuitState::HalfOpen => StatusCircuit::HalfOpen,
            },
        ),
        circuit_opened_at: health.and_then(|h| h.circuit_opened_at).and_then(time),
        conditions: conditions::merge(&previous.conditions, wanted, generation),
        observed_generation: generation,
    }
}

async fn write_status(
    server: &MCPServer,
    ctx: &ServerContext,
    status: MCPServerStatus,
) -> Result<(), Error> {
    // The watched copy already says so: a resync of an unchanged server writes nothing.
    if server.status.as_ref() == Some(&status) || ctx.status_writes.already_written(server, &status)
    {
        return Ok(());
    }
    crate::api::apply_status(&ctx.base.client, server, &status)
        .await
        .map_err(Error::Status)?;
    ctx.status_writes.remember(server, &status);
    Ok(())
}
