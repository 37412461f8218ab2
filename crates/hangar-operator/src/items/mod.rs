//! Status of MCPTool, MCPPrompt and MCPResource: whether the backend resolves
//! (the Service and its port exist, the URL parses), and which gateways serve them.

mod resolve;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hangar_api::{
    CatalogItemStatus, HttpBackend, MCPGateway, MCPPrompt, MCPResource, MCPTool, condition,
};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use resolve::{Resolution, resolve};

use crate::api::scoped;
use crate::children::trimmed_controller;
use crate::conditions::{self, Desired};
use crate::context::{Context, correlated};
use crate::outcome::{self, Failure};
use hangar_compile::{Kind, selects};

/// A kind gateways serve from `toolSelector`.
pub trait CatalogItem:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    const KIND: Kind;
    /// The kind's name, for metrics.
    const NAME: &'static str;
    /// The HTTP service behind it, if any (prompts and inline resources have none).
    fn backend(&self) -> Option<&HttpBackend>;
    fn item_status(&self) -> Option<&CatalogItemStatus>;
}

impl CatalogItem for MCPTool {
    const KIND: Kind = Kind::Tool;
    const NAME: &'static str = "MCPTool";
    fn backend(&self) -> Option<&HttpBackend> {
        Some(&self.spec.backend)
    }
    fn item_status(&self) -> Option<&CatalogItemStatus> {
        self.status.as_ref()
    }
}

impl CatalogItem for MCPPrompt {
    const KIND: Kind = Kind::Prompt;
    const NAME: &'static str = "MCPPrompt";
    fn backend(&self) -> Option<&HttpBackend> {
        None
    }
    fn item_status(&self) -> Option<&CatalogItemStatus> {
        self.status.as_ref()
    }
}

impl CatalogItem for MCPResource {
    const KIND: Kind = Kind::Resource;
    const NAME: &'static str = "MCPResource";
    fn backend(&self) -> Option<&HttpBackend> {
        self.spec.http.as_ref()
    }
    fn item_status(&self) -> Option<&CatalogItemStatus> {
        self.status.as_ref()
    }
}

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

/// Runs the status controller of one kind until `shutdown` resolves.
pub async fn run<K: CatalogItem>(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let controller = trimmed_controller(scoped::<K>(&client, namespace)).with_config(config);
    let items = controller.store();
    controller
        // A Service appearing, changing ports or going away changes whether backends resolve.
        .watches(
            scoped::<Service>(&client, namespace),
            watcher::Config::default(),
            {
                let items = items.clone();
                move |service: Service| {
                    let name = service.name_any();
                    in_namespace(&items, &service)
                        .filter(|item| {
                            item.backend()
                                .and_then(|b| b.service.as_ref())
                                .is_some_and(|s| s.name == name)
                        })
                        .map(|item| ObjectRef::from_obj(&*item))
                        .collect::<Vec<_>>()
                }
            },
        )
        // Gateways come, go and change selectors: every item in the namespace may change hands.
        .watches(
            scoped::<MCPGateway>(&client, namespace),
            watcher::Config::default(),
            move |gateway: MCPGateway| {
                in_namespace(&items, &gateway)
                    .map(|item| ObjectRef::from_obj(&*item))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile::<K>),
            |_, _, _| Action::requeue(Duration::from_secs(5)),
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

fn in_namespace<'a, K: CatalogItem, O: Resource>(
    items: &'a Store<K>,
    other: &'a O,
) -> impl Iterator<Item = Arc<K>> + 'a {
    items
        .state()
        .into_iter()
        .filter(move |item| item.namespace() == other.namespace())
}

async fn reconcile<K: CatalogItem>(item: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_item(&*item, &ctx).await;
    outcome::record(&ctx, K::NAME, &*item, started, &result).await;
    result
}

async fn reconcile_item<K: CatalogItem>(item: &K, ctx: &Context) -> Result<Action, Error> {
    let namespace = item.namespace().unwrap_or_default();
    let resolution = match item.backend() {
        None => None,
        Some(backend) => {
            let service = match &backend.service {
                None => None,
                Some(reference) => {
                    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
                    services
                        .get_opt(&reference.name)
                        .await
                        .map_err(|source| Error::Read {
                            what: format!("Service {}", reference.name),
                            source,
                        })?
                }
            };
            Some(resolve(backend, &namespace, service.as_ref()))
        }
    };
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
        .filter(|gateway| selects(K::KIND.selector(gateway), item.labels()))
        .map(|gateway| gateway.name_any())
        .collect();
    serving.sort();

    let mut wanted = Vec::new();
    let ready = match &resolution {
        None => Desired::new(
            condition::READY,
            true,
            "NoBackend",
            "served from the object itself",
        ),
        Some(Ok(url)) => {
            wanted.push(Desired::new(
                condition::BACKEND_RESOLVED,
                true,
                "Resolved",
                format!("calls go to {url}"),
            ));
            Desired::new(
                condition::READY,
                true,
                "BackendResolved",
                format!("calls go to {url}"),
            )
        }
        Some(Err(problem)) => {
            wanted.push(Desired::new(
                condition::BACKEND_RESOLVED,
                false,
                problem.reason(),
                problem.to_string(),
            ));
            Desired::new(
                condition::READY,
                false,
                problem.reason(),
                problem.to_string(),
            )
        }
    };
    wanted.insert(0, ready);
    let previous = item.item_status().cloned().unwrap_or_default();
    let was_resolved = previous
        .conditions
        .iter()
        .any(|c| c.type_ == condition::BACKEND_RESOLVED && c.status == "True");
    if let Some(Err(problem)) = &resolution
        && (was_resolved || item.item_status().is_none())
    {
        ctx.event(
            item,
            EventType::Warning,
            problem.reason(),
            "Resolve",
            problem.to_string(),
        )
        .await;
    }
    let status = CatalogItemStatus {
        resolved_url: resolution.and_then(Result::ok),
        gateways: serving,
        conditions: conditions::merge(&previous.conditions, wanted, item.meta().generation),
        observed_generation: item.meta().generation,
    };
    crate::api::apply_status(&ctx.client, item, &status)
        .await
        .map_err(Error::Status)?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Read { .. } => "ReadFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}
