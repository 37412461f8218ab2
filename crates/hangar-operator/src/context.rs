//! What every reconciler shares, and the correlation ID of each reconcile.
//!
//! A controller wraps its reconcile function in [`correlated`]: every call then
//! runs in a `reconcile` span with a fresh `correlation_id`, so each log line
//! and trace span of that reconcile carries it, and [`Context::event`] writes it
//! on every Event the reconcile publishes (annotation [`CORRELATION_ANNOTATION`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::Instrument;

use crate::cache::Caches;
use crate::metrics::Metrics;
use crate::server::build::BuildSettings;

/// Annotation on every Event naming the reconcile that published it.
pub const CORRELATION_ANNOTATION: &str = "mcp-hangar.io/correlation-id";
/// Reconciles of one kind running at once unless `--reconcile-concurrency` says otherwise.
pub const DEFAULT_RECONCILE_CONCURRENCY: u16 = 16;
/// The `reportingController` of every Event.
const CONTROLLER: &str = "hangar-operator";
/// Repeats of one Event within this window update its series instead of
/// creating a new Event (the window kube-runtime and client-go use).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// The API server's limit on an Event's note.
const NOTE_LIMIT: usize = 1024;

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation ID of the reconcile running on this task, if any.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Wraps a reconcile function for `Controller::run`: each call gets a fresh
/// correlation ID, a `reconcile` span carrying it (with the kind, namespace and
/// name), and the ID on every Event it publishes through [`Context::event`].
pub fn correlated<K, C, E, F, Fut>(
    metrics: &Arc<Metrics>,
    mut reconcile: F,
) -> impl FnMut(Arc<K>, Arc<C>) -> BoxFuture<'static, Fut::Output>
where
    K: Resource<DynamicType = ()>,
    F: FnMut(Arc<K>, Arc<C>) -> Fut,
    Fut: Future<Output = Result<kube::runtime::controller::Action, E>> + Send + 'static,
{
    let metrics = metrics.clone();
    move |object, ctx| {
        let running = metrics.reconcile_started(&K::kind(&()));
        let id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!(
            "reconcile",
            kind = %K::kind(&()),
            namespace = object.namespace().as_deref().unwrap_or_default(),
            object = %object.name_any(),
            correlation_id = %id,
        );
        let reconciling = reconcile(object, ctx);
        Box::pin(
            CORRELATION_ID
                .scope(id, async move {
                    let output = reconciling.await;
                    drop(running);
                    output
                })
                .instrument(span),
        )
    }
}

pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub settings: BuildSettings,
    /// How many reconciles of one kind run at once.
    pub reconcile_concurrency: u16,
    /// Watched copies of owned objects, and what was applied last.
    pub caches: Caches,
    /// MCPToolSets' documents as last read, for their status and their gateways.
    pub documents: crate::toolsets::documents::Documents,
    events: EventRecorder,
}

impl Context {
    /// `POD_NAME` (set by the chart) names this replica on its Events.
    pub fn new(client: Client, metrics: Arc<Metrics>, settings: BuildSettings) -> Self {
        let instance = std::env::var("POD_NAME").unwrap_or_else(|_| CONTROLLER.to_string());
        Self {
            events: EventRecorder::new(client.clone(), instance),
            client,
            metrics,
            settings,
            reconcile_concurrency: DEFAULT_RECONCILE_CONCURRENCY,
            caches: Caches::default(),
            documents: Default::default(),
        }
    }

    /// Runs at most `limit` reconciles of each kind at once (at least one).
    pub fn with_reconcile_concurrency(mut self, limit: u16) -> Self {
        self.reconcile_concurrency = limit.max(1);
        self
    }

    /// The settings every controller runs with: bounded concurrency, so a
    /// burst of objects queues here instead of at the API server.
    pub fn controller_config(&self) -> kube::runtime::controller::Config {
        kube::runtime::controller::Config::default().concurrency(self.reconcile_concurrency)
    }

    /// Names this replica `instance` on its Events (its leader-election identity).
    pub fn reporting_as(mut self, instance: &str) -> Self {
        self.events = EventRecorder::new(self.client.clone(), instance.to_string());
        self
    }

    /// Publishes an Event on `object`, stamped with the running reconcile's
    /// correlation ID, and logs it. Events are best effort: failing to record
    /// one is logged, never a reconcile failure.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let correlation = correlation_id();
        tracing::info!(object = %object.name_any(), %reason, %action, %note, "event");
        let published = self
            .events
            .publish(
                object.object_ref(&()),
                type_,
                reason,
                action,
                &note,
                correlation.as_deref(),
            )
            .await;
        if let Err(error) = published {
            tracing::warn!(object = %object.name_any(), %reason, %error, "could not record event");
        }
    }
}

/// Publishes `events.k8s.io/v1` Events, folding repeats into a series.
///
/// kube-runtime's `Recorder` keeps the first occurrence's note when it folds a
/// repeat into a series; here each repeat also updates the note and the
/// correlation ID, so an Event always names the latest reconcile that reported it.
struct EventRecorder {
    client: Client,
    instance: String,
    series: Mutex<HashMap<SeriesKey, Series>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    type_: &'static str,
    reason: String,
    action: String,
    regarding: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ),
}

#[derive(Clone, Debug)]
struct Series {
    name: String,
    count: i32,
    last: Timestamp,
}

impl EventRecorder {
    fn new(client: Client, instance: String) -> Self {
        Self {
            client,
            instance,
            series: Mutex::default(),
        }
    }

    async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
        correlation: Option<&str>,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let type_ = match type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let key = SeriesKey {
            type_,
            reason: reason.to_string(),
            action: action.to_string(),
            regarding: (
                regarding.kind.clone(),
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
        };
        let note = hangar_api::fit(note, NOTE_LIMIT).into_owned();
        let annotations = correlation
            .map(|id| BTreeMap::from([(CORRELATION_ANNOTATION.to_string(), id.to_string())]));
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);

        let previous = {
            let mut series = self.series.lock().expect("event series lock");
            series.retain(|_, s| s.last + SERIES_WINDOW > now);
            series.get(&key).cloned()
        };
        if let Some(previous) = previous {
            let count = previous.count + 1;
            let patch = json!({
                "metadata": {"annotations": annotations},
                "note": note,
                "series": EventSeries { count, last_observed_time: MicroTime(now) },
            });
            match api
                .patch(
                    &previous.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    self.remember(key, previous.name, count, now);
                    return Ok(());
                }
                // Expired (Events live an hour) or deleted: start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or(CONTROLLER),
            now.as_nanosecond()
        );
        let event = K8sEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                annotations,
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            action: Some(action.into()),
            note: Some(note),
            regarding: Some(regarding),
            reporting_controller: Some(CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        };
        api.create(&PostParams::default(), &event).await?;
        self.remember(key, name, 1, now);
        Ok(())
    }

    fn remember(&self, key: SeriesKey, name: String, count: i32, last: Timestamp) {
        self.series
            .lock()
            .expect("event series lock")
            .insert(key, Series { name, count, last });
    }
}
