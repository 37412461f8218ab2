//! What every reconciler shares.

use std::sync::Arc;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Resource, ResourceExt};

use crate::metrics::Metrics;
use crate::server::build::BuildSettings;

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: BuildSettings,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, settings: BuildSettings) -> Self {
        let reporter = Reporter {
            controller: "hangar-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
        }
    }

    /// Publishes an Event on `object`. Events are best effort: failing to record
    /// one is logged, never a reconcile failure.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(object = %object.name_any(), %reason, %error, "could not record event");
        }
    }
}
