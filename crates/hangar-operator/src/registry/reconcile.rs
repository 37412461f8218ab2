//! One reconcile of an MCPRegistry: when a sync is due, fetch the catalog (the
//! registry API, or the ConfigMap), keep what the filter selects, publish it
//! for MCPServers, and write status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar_api::{MCPRegistry, MCPRegistryStatus, Time, condition};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use reqwest::header::HeaderMap;

use super::catalog::{self, Catalog};
use super::client::{self, Limits};
use super::error::Error;
use super::metrics::RegistryMetrics;
use super::schema::read_document;
use crate::conditions::{self, Desired};
use crate::context::Context;
use crate::outcome::{self, Failure};

/// How soon a failed sync is tried again (or the sync interval, if shorter).
const RETRY: Duration = Duration::from_secs(30);

/// What the MCPRegistry controller shares between reconciles.
pub struct Registries {
    pub ctx: Arc<Context>,
    pub http: reqwest::Client,
    pub metrics: RegistryMetrics,
    /// The registries this controller watches, to forget catalogs of deleted ones.
    pub store: Store<MCPRegistry>,
    /// The namespace this controller is limited to, if any.
    pub scope: Option<String>,
    attempts: Mutex<HashMap<String, Attempt>>,
}

/// The last sync attempt of one registry (by UID).
#[derive(Clone, Debug)]
struct Attempt {
    at: Instant,
    succeeded: bool,
    generation: Option<i64>,
    /// `resourceVersion` of the ConfigMap read, for ConfigMap catalogs.
    source_version: Option<String>,
}

impl Registries {
    pub fn new(
        ctx: Arc<Context>,
        metrics: RegistryMetrics,
        store: Store<MCPRegistry>,
        scope: Option<String>,
    ) -> Self {
        let http = hangar_mcp_client::http_client(|| {
            reqwest::Client::builder()
                .user_agent(concat!("hangar-operator/", env!("CARGO_PKG_VERSION")))
        });
        Self {
            ctx,
            http,
            metrics,
            store,
            scope,
            attempts: Mutex::default(),
        }
    }

    /// `None` when a sync is due now, else how long until it is. Syncs are due
    /// on a spec change, a ConfigMap change, after `interval` (after `RETRY`
    /// when the last attempt failed), and when this process has not synced yet.
    fn wait(
        &self,
        uid: &str,
        generation: Option<i64>,
        source_version: Option<&str>,
        interval: Duration,
    ) -> Option<Duration> {
        let attempts = self.attempts.lock().expect("sync attempts lock");
        let last = attempts.get(uid)?;
        if last.generation != generation || last.source_version.as_deref() != source_version {
            return None;
        }
        let period = if last.succeeded {
            interval
        } else {
            interval.min(RETRY)
        };
        period.checked_sub(last.at.elapsed())
    }

    fn attempted(&self, uid: &str, attempt: Attempt) {
        self.attempts
            .lock()
            .expect("sync attempts lock")
            .insert(uid.to_string(), attempt);
    }
}

pub async fn reconcile(registry: Arc<MCPRegistry>, reg: Arc<Registries>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = sync_if_due(&registry, &reg).await;
    outcome::record(&reg.ctx, "MCPRegistry", &*registry, started, &result).await;
    result
}

async fn sync_if_due(registry: &MCPRegistry, reg: &Registries) -> Result<Action, Error> {
    forget_deleted(reg);
    let uid = registry.uid().unwrap_or_default();
    let namespace = registry.namespace().unwrap_or_default();
    let name = registry.name_any();
    let generation = registry.meta().generation;
    let interval = registry
        .spec
        .sync_interval
        .to_std()
        .unwrap_or(Duration::from_secs(3600));

    // A ConfigMap catalog is read every time, to notice edits at once.
    let config_map = match &registry.spec.config_map_ref {
        Some(reference) => Some(
            Api::<ConfigMap>::namespaced(reg.ctx.client.clone(), &namespace)
                .get_opt(&reference.name)
                .await
                .map_err(|source| Error::Read {
                    what: format!("ConfigMap {}", reference.name),
                    source,
                }),
        ),
        None => None,
    };
    let source_version = match &config_map {
        Some(Ok(Some(cm))) => cm.resource_version(),
        _ => None,
    };
    if let Some(wait) = reg.wait(&uid, generation, source_version.as_deref(), interval) {
        return Ok(Action::requeue(wait));
    }

    let started = Instant::now();
    let result = match config_map {
        Some(read) => read.and_then(|cm| from_config_map(registry, cm)),
        None => from_api(registry, reg).await,
    };
    let took = started.elapsed();
    reg.metrics.synced(
        &namespace,
        &name,
        took,
        result
            .as_ref()
            .map(|(catalog, _)| catalog.entries())
            .map_err(Error::reason),
    );
    reg.attempted(
        &uid,
        Attempt {
            at: Instant::now(),
            succeeded: result.is_ok(),
            generation,
            source_version,
        },
    );

    let previous = registry.status.clone().unwrap_or_default();
    let was_ready = is_ready(&previous);
    let (status, requeue) = match result {
        Ok((catalog, origin)) => {
            let catalog = Arc::new(catalog);
            let message = synced_message(&catalog, &origin, took);
            tracing::info!(registry = %name, %namespace, entries = catalog.entries(), took_ms = took.as_millis() as u64, "catalog synced");
            if !was_ready || previous.entries != count(catalog.entries()) {
                reg.ctx
                    .event(
                        registry,
                        EventType::Normal,
                        "Synced",
                        "Sync",
                        message.clone(),
                    )
                    .await;
            }
            let status = MCPRegistryStatus {
                entries: count(catalog.entries()),
                servers: count(catalog.servers()),
                last_sync: Some(Time(Timestamp::now())),
                conditions: conditions::merge(
                    &previous.conditions,
                    vec![Desired::new(condition::READY, true, "Synced", message)],
                    generation,
                ),
                observed_generation: generation,
            };
            // Published before the status write: the write is what wakes the
            // MCPServers that reference this registry.
            catalog::publish(&uid, &namespace, catalog);
            (status, interval)
        }
        Err(error) => {
            let mut message = error.to_string();
            if catalog::published(&uid).is_some() {
                message
                    .push_str("; MCPServers keep resolving against the catalog of the last sync");
            }
            tracing::warn!(registry = %name, %namespace, reason = error.reason(), %error, "catalog sync failed");
            reg.ctx
                .event(
                    registry,
                    EventType::Warning,
                    error.reason(),
                    "Sync",
                    message.clone(),
                )
                .await;
            let status = MCPRegistryStatus {
                conditions: conditions::merge(
                    &previous.conditions,
                    vec![Desired::new(
                        condition::READY,
                        false,
                        error.reason(),
                        message,
                    )],
                    generation,
                ),
                observed_generation: generation,
                ..previous
            };
            (status, interval.min(RETRY))
        }
    };
    write_status(registry, reg, status).await?;
    Ok(Action::requeue(requeue))
}

/// Drops catalogs of registries in this controller's scope that are gone.
fn forget_deleted(reg: &Registries) {
    let live: Vec<String> = reg.store.state().iter().filter_map(|r| r.uid()).collect();
    catalog::retain(|uid, namespace| {
        reg.scope.as_deref().is_some_and(|scope| scope != namespace)
            || live.iter().any(|l| l == uid)
    });
}

fn is_ready(status: &MCPRegistryStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == condition::READY && c.status == "True")
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn synced_message(catalog: &Catalog, origin: &str, took: Duration) -> String {
    let took = if took < Duration::from_secs(1) {
        format!("{} ms", took.as_millis())
    } else {
        format!("{:.1} s", took.as_secs_f64())
    };
    let mut message = format!(
        "{} entries of {} servers from {origin} in {took}",
        catalog.entries(),
        catalog.servers(),
    );
    if catalog.withdrawn() > 0 {
        message.push_str(&format!(
            "; {} deprecated or deleted entries left out",
            catalog.withdrawn()
        ));
    }
    if let Some(first) = catalog.invalid.first() {
        message.push_str(&format!(
            "; {} entries are not valid server.json and were skipped (first: {first})",
            catalog.invalid.len()
        ));
    }
    message
}

async fn from_api(registry: &MCPRegistry, reg: &Registries) -> Result<(Catalog, String), Error> {
    let url = registry.spec.url.clone().unwrap_or_default();
    let filter = registry.spec.filter.clone().unwrap_or_default();
    let headers = headers(registry, reg, &client::servers_endpoint(&url)?).await?;
    let listing =
        client::list_servers(&reg.http, &url, headers, &filter, Limits::default()).await?;
    let origin = format!("{url} ({} pages)", listing.pages);
    Ok((
        Catalog::build(listing.entries, &filter, listing.invalid),
        origin,
    ))
}

/// Every value of the ConfigMap is a catalog document (JSON or YAML): a
/// server.json, a registry `ServerResponse`, a `ServerList` page, or a list.
pub(super) fn from_config_map(
    registry: &MCPRegistry,
    config_map: Option<ConfigMap>,
) -> Result<(Catalog, String), Error> {
    let name = registry
        .spec
        .config_map_ref
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let config_map = config_map.ok_or_else(|| Error::ConfigMapNotFound { name: name.clone() })?;
    let mut entries = Vec::new();
    let mut invalid = Vec::new();
    for (key, text) in config_map.data.unwrap_or_default() {
        let document = serde_json::from_str::<serde_json::Value>(&text)
            .or_else(|_| serde_saphyr::from_str::<serde_json::Value>(&text));
        match document {
            Ok(document) => {
                let (found, bad) = read_document(document);
                entries.extend(found);
                invalid.extend(bad.into_iter().map(|why| format!("key {key}: {why}")));
            }
            Err(error) => invalid.push(format!("key {key}: neither JSON nor YAML: {error}")),
        }
    }
    let filter = registry.spec.filter.clone().unwrap_or_default();
    Ok((
        Catalog::build(entries, &filter, invalid),
        format!("ConfigMap {name}"),
    ))
}

/// `spec.headers` for requests to `endpoint`, with values from Secrets read now.
async fn headers(
    registry: &MCPRegistry,
    reg: &Registries,
    endpoint: &url::Url,
) -> Result<HeaderMap, Error> {
    let namespace = registry.namespace().unwrap_or_default();
    let values = crate::secrets::header_values(
        &reg.ctx.client,
        &namespace,
        &registry.spec.headers,
        endpoint.as_str(),
    )
    .await?;
    hangar_mcp_client::header_map(values.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(Error::InvalidHeader)
}

async fn write_status(
    registry: &MCPRegistry,
    reg: &Registries,
    status: MCPRegistryStatus,
) -> Result<(), Error> {
    crate::api::apply_status(&reg.ctx.client, registry, &status)
        .await
        .map_err(Error::Status)?;
    Ok(())
}
