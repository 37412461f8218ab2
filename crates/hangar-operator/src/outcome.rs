//! What every reconcile does with its outcome: a failure becomes a Warning
//! Event on the object, a log line and a metric label, in words the error
//! itself chooses. Kinds that own objects also reconcile behind a finalizer,
//! so that deletion waits for their cleanup.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use kube::api::Api;
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Error as FinalizerError, Event, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::labels::FINALIZER;

/// A reconcile error.
pub trait Failure: std::error::Error + Send + Sync + Sized + 'static {
    /// A CamelCase reason for Events and metric labels.
    fn reason(&self) -> &'static str;
    /// Waiting rather than failing (owned objects still being deleted): no Warning.
    fn is_waiting(&self) -> bool {
        false
    }
}

/// A reconcile error of a kind with a finalizer.
pub trait FinalizerFailure: Failure {
    /// Adding or removing the finalizer itself failed.
    fn finalizer(error: FinalizerError<Self>) -> Self;
}

/// Records the outcome of one reconcile of `object` that began at `started`.
pub async fn record<K, E>(
    ctx: &Context,
    kind: &'static str,
    object: &K,
    started: Instant,
    result: &Result<Action, E>,
) where
    K: Resource<DynamicType = ()>,
    E: Failure,
{
    if let Err(error) = result
        && !error.is_waiting()
    {
        let namespace = object.namespace().unwrap_or_default();
        tracing::warn!(kind, object = %object.name_any(), %namespace, reason = error.reason(), %error, "reconcile failed");
        ctx.event(
            object,
            EventType::Warning,
            error.reason(),
            "Reconcile",
            error.to_string(),
        )
        .await;
    }
    ctx.metrics.reconciled(
        kind,
        started.elapsed(),
        result.as_ref().err().map(E::reason),
    );
}

/// Runs `apply` while `object` lives and `cleanup` once it is being deleted.
pub async fn with_finalizer<K, E, Apply, ApplyFut, Cleanup, CleanupFut>(
    ctx: &Context,
    kind: &'static str,
    object: Arc<K>,
    apply: Apply,
    cleanup: Cleanup,
) -> Result<Action, E>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
    E: FinalizerFailure,
    Apply: FnOnce(Arc<K>) -> ApplyFut,
    ApplyFut: Future<Output = Result<Action, E>>,
    Cleanup: FnOnce(Arc<K>) -> CleanupFut,
    CleanupFut: Future<Output = Result<Action, E>>,
{
    let started = Instant::now();
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, object.clone(), |event| async move {
        match event {
            Event::Apply(object) => apply(object).await,
            Event::Cleanup(object) => cleanup(object).await,
        }
    })
    .await
    .or_else(|error| match error {
        FinalizerError::ApplyFailed(error) | FinalizerError::CleanupFailed(error) => Err(error),
        // A reconcile of a cached copy after the finalizer was already removed
        // and the object deleted: the deletion this cleanup waited for is done.
        FinalizerError::RemoveFinalizer(kube::Error::Api(status)) if status.code == 404 => {
            Ok(Action::await_change())
        }
        other => Err(E::finalizer(other)),
    });
    record(ctx, kind, &*object, started, &result).await;
    result
}
