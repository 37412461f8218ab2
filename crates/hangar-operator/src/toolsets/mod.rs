//! Status of MCPToolSet: its OpenAPI document read (from a URL, a ConfigMap
//! or inline) and what became of it: operations found, tools, operations
//! skipped with why, where calls go, and which gateways serve it.

pub mod documents;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hangar_api::{MCPGateway, MCPToolSet, MCPToolSetStatus, SkippedOperationStatus, condition};
use hangar_compile::{Kind, ToolSetDocument, selects, toolsets::server_url};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::api::scoped;
use crate::children::trimmed_controller;
use crate::conditions::{self, Desired};
use crate::context::{Context, correlated};
use crate::items::{Resolution, resolve};

use crate::outcome::{self, Failure};

/// Skipped operations listed in status; the count says how many there were.
const MAX_SKIPPED_LISTED: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Read { .. } => "ReadFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}

/// Runs the MCPToolSet controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let controller =
        trimmed_controller(scoped::<MCPToolSet>(&client, namespace)).with_config(config);
    let sets = controller.store();
    controller
        // A document's ConfigMap changing changes the set's tools.
        .watches(
            scoped::<ConfigMap>(&client, namespace),
            watcher::Config::default(),
            {
                let sets = sets.clone();
                move |config_map: ConfigMap| {
                    let name = config_map.name_any();
                    sets.state()
                        .into_iter()
                        .filter(|set| {
                            set.namespace() == config_map.namespace()
                                && set
                                    .spec
                                    .openapi
                                    .config_map_key_ref
                                    .as_ref()
                                    .is_some_and(|r| r.name == name)
                        })
                        .map(|set| ObjectRef::from_obj(&*set))
                        .collect::<Vec<_>>()
                }
            },
        )
        .watches(
            scoped::<MCPGateway>(&client, namespace),
            watcher::Config::default(),
            move |gateway: MCPGateway| {
                sets.state()
                    .into_iter()
                    .filter(|set| set.namespace() == gateway.namespace())
                    .map(|set| ObjectRef::from_obj(&*set))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile),
            |_, _, _| Action::requeue(Duration::from_secs(5)),
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

async fn reconcile(toolset: Arc<MCPToolSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_toolset(&toolset, &ctx).await;
    outcome::record(&ctx, "MCPToolSet", &*toolset, started, &result).await;
    result
}

async fn reconcile_toolset(toolset: &MCPToolSet, ctx: &Context) -> Result<Action, Error> {
    let namespace = toolset.namespace().unwrap_or_default();
    if toolset.meta().deletion_timestamp.is_some() {
        ctx.documents.forget(&namespace, &toolset.name_any());
        return Ok(Action::await_change());
    }
    let read = ctx.documents.read(toolset, ctx).await;
    let gateways: Api<MCPGateway> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut serving: Vec<String> = gateways
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::Read {
            what: "MCPGateways".into(),
            source,
        })?
        .items
        .into_iter()
        .filter(|gateway| selects(Kind::ToolSet.selector(gateway), toolset.labels()))
        .map(|gateway| gateway.name_any())
        .collect();
    serving.sort();

    let previous = toolset.status.clone().unwrap_or_default();
    let mut status = MCPToolSetStatus {
        gateways: serving,
        observed_generation: toolset.meta().generation,
        ..MCPToolSetStatus::default()
    };
    let loaded = match &read.document {
        ToolSetDocument::Unusable(why) => Desired::new(
            condition::DOCUMENT_LOADED,
            false,
            "DocumentUnusable",
            why.clone(),
        ),
        ToolSetDocument::Read {
            conversion,
            from_url,
        } => {
            status.operations = Some(count(conversion.operations));
            status.tools = Some(count(conversion.tools.len()));
            status.skipped = conversion
                .skipped
                .iter()
                .take(MAX_SKIPPED_LISTED)
                .map(|s| SkippedOperationStatus {
                    operation: s.operation.clone(),
                    reason: s.reason.clone(),
                })
                .collect();
            let mut summary = format!(
                "{} of {} operations are tools, {} skipped (document {})",
                conversion.tools.len(),
                conversion.operations,
                conversion.skipped.len(),
                read.digest,
            );
            match resolved_url(toolset, conversion, from_url.as_deref(), ctx).await? {
                Ok(url) => status.resolved_url = Some(url),
                Err(why) => summary.push_str(&format!("; calls have nowhere to go: {why}")),
            }
            match &read.refresh_failed {
                Some(why) => Desired::new(
                    condition::DOCUMENT_LOADED,
                    true,
                    "RefreshFailed",
                    format!("{summary}; served as last read, the latest read failed: {why}"),
                ),
                None => Desired::new(condition::DOCUMENT_LOADED, true, "Loaded", summary),
            }
        }
    };
    let usable = loaded.status == Some(true) && status.resolved_url.is_some();
    let ready = Desired::new(
        condition::READY,
        usable,
        if usable {
            "Loaded"
        } else if loaded.status == Some(true) {
            "NoServer"
        } else {
            "DocumentUnusable"
        },
        loaded.message.clone(),
    );
    let was_usable = previous
        .conditions
        .iter()
        .any(|c| c.type_ == condition::READY && c.status == "True");
    if !usable && (was_usable || toolset.status.is_none()) {
        ctx.event(
            toolset,
            EventType::Warning,
            &ready.reason,
            "Read",
            ready.message.clone(),
        )
        .await;
    }
    status.conditions = conditions::merge(
        &previous.conditions,
        vec![ready, loaded],
        toolset.meta().generation,
    );
    crate::api::apply_status(&ctx.client, toolset, &status)
        .await
        .map_err(Error::Status)?;
    let again = match &toolset.spec.openapi.url {
        Some(_) => toolset
            .spec
            .refresh_interval
            .to_std()
            .unwrap_or(Duration::from_secs(600)),
        None => Duration::from_secs(300),
    };
    Ok(Action::requeue(again))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Where calls go, or why they cannot: the set's backend (a Service must
/// exist with the port) or the document's server.
async fn resolved_url(
    toolset: &MCPToolSet,
    conversion: &hangar_openapi::Conversion,
    from_url: Option<&str>,
    ctx: &Context,
) -> Result<Result<String, String>, Error> {
    let namespace = toolset.namespace().unwrap_or_default();
    let service = match toolset
        .spec
        .backend
        .as_ref()
        .and_then(|b| b.service.as_ref())
    {
        None => None,
        Some(reference) => {
            let services: Api<k8s_openapi::api::core::v1::Service> =
                Api::namespaced(ctx.client.clone(), &namespace);
            services
                .get_opt(&reference.name)
                .await
                .map_err(|source| Error::Read {
                    what: format!("Service {}", reference.name),
                    source,
                })?
        }
    };
    Ok(server_url(
        |backend| {
            let resolution: Resolution = resolve(backend, &namespace, service.as_ref());
            resolution.map_err(|problem| problem.to_string())
        },
        toolset,
        conversion,
        from_url,
    ))
}
