//! The objects a custom resource owns. Each kind's children are one typed set
//! (`ServerObjects`, `GatewayObjects`) that names the [`ChildKind`]s it may
//! hold: the controller watches exactly those kinds, `hangar rbac` grants
//! exactly them, and cleanup sweeps them by label and owner — so a child kind
//! added to a set cannot be forgotten in any of the three.

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::reflector::{self, reflector};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use crate::api::scoped;
use crate::apply::{Managed, apply, delete_if_owned};
use crate::context::Context;
use crate::controllers::{OWNED, Rule};
use crate::labels::{INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL};
use crate::metrics::Operation;

/// Applying or deleting an owned object failed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("could not apply {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not delete {kind} {name}: {source}")]
    Delete {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ChildError {
    pub fn reason(&self) -> &'static str {
        match self {
            ChildError::Apply { .. } => "ApplyFailed",
            ChildError::Delete { .. } => "DeleteFailed",
        }
    }
}

/// A kind of object a Hangar resource may own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChildKind {
    ConfigMap,
    Service,
    Deployment,
    Ingress,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    ServiceAccount,
    Role,
    RoleBinding,
    Lease,
    NetworkPolicy,
}

impl ChildKind {
    /// The rights to own objects of this kind: watch, apply, read, delete.
    pub const fn rule(self) -> Rule {
        let (group, resources): (&str, &[&str]) = match self {
            ChildKind::ConfigMap => ("", &["configmaps"]),
            ChildKind::Service => ("", &["services"]),
            ChildKind::ServiceAccount => ("", &["serviceaccounts"]),
            ChildKind::Deployment => ("apps", &["deployments"]),
            ChildKind::Ingress => ("networking.k8s.io", &["ingresses"]),
            ChildKind::HorizontalPodAutoscaler => ("autoscaling", &["horizontalpodautoscalers"]),
            ChildKind::PodDisruptionBudget => ("policy", &["poddisruptionbudgets"]),
            ChildKind::Role => ("rbac.authorization.k8s.io", &["roles"]),
            ChildKind::RoleBinding => ("rbac.authorization.k8s.io", &["rolebindings"]),
            ChildKind::Lease => ("coordination.k8s.io", &["leases"]),
            ChildKind::NetworkPolicy => ("networking.k8s.io", &["networkpolicies"]),
        };
        Rule {
            group,
            resources,
            verbs: OWNED,
        }
    }

    /// Deletes every object of this kind labelled as `owner`'s and controlled
    /// by it; returns how many are still there (deletion under way).
    async fn sweep<O: Resource>(self, ctx: &Context, owner: &O) -> Result<usize, ChildError> {
        match self {
            ChildKind::ConfigMap => sweep_kind::<ConfigMap, O>(ctx, owner).await,
            ChildKind::Service => sweep_kind::<Service, O>(ctx, owner).await,
            ChildKind::Deployment => sweep_kind::<Deployment, O>(ctx, owner).await,
            ChildKind::Ingress => sweep_kind::<Ingress, O>(ctx, owner).await,
            ChildKind::HorizontalPodAutoscaler => {
                sweep_kind::<HorizontalPodAutoscaler, O>(ctx, owner).await
            }
            ChildKind::PodDisruptionBudget => {
                sweep_kind::<PodDisruptionBudget, O>(ctx, owner).await
            }
            ChildKind::ServiceAccount => sweep_kind::<ServiceAccount, O>(ctx, owner).await,
            ChildKind::Role => sweep_kind::<Role, O>(ctx, owner).await,
            ChildKind::RoleBinding => sweep_kind::<RoleBinding, O>(ctx, owner).await,
            ChildKind::Lease => sweep_kind::<Lease, O>(ctx, owner).await,
            ChildKind::NetworkPolicy => sweep_kind::<NetworkPolicy, O>(ctx, owner).await,
        }
    }
}

/// Adds a watch of every kind in `kinds` (objects labelled managed-by Hangar)
/// that maps each object to the resource controlling it, and keeps the
/// watched copies in `ctx.caches` for reconciles to read.
pub fn watch_owned<K>(
    controller: Controller<K>,
    kinds: &[ChildKind],
    ctx: &Context,
    namespace: Option<&str>,
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K: Send + Sync + 'static,
{
    kinds
        .iter()
        .fold(controller, |controller, kind| match kind {
            ChildKind::ConfigMap => own::<ConfigMap, K>(controller, ctx, namespace),
            ChildKind::Service => own::<Service, K>(controller, ctx, namespace),
            ChildKind::Deployment => own::<Deployment, K>(controller, ctx, namespace),
            ChildKind::Ingress => own::<Ingress, K>(controller, ctx, namespace),
            ChildKind::HorizontalPodAutoscaler => {
                own::<HorizontalPodAutoscaler, K>(controller, ctx, namespace)
            }
            ChildKind::PodDisruptionBudget => {
                own::<PodDisruptionBudget, K>(controller, ctx, namespace)
            }
            ChildKind::ServiceAccount => own::<ServiceAccount, K>(controller, ctx, namespace),
            ChildKind::Role => own::<Role, K>(controller, ctx, namespace),
            ChildKind::RoleBinding => own::<RoleBinding, K>(controller, ctx, namespace),
            ChildKind::Lease => own::<Lease, K>(controller, ctx, namespace),
            ChildKind::NetworkPolicy => own::<NetworkPolicy, K>(controller, ctx, namespace),
        })
}

/// Watches the `Child` objects labelled managed-by Hangar into a cache and
/// reconciles the owner of each one that changes or goes away.
fn own<Child, K>(controller: Controller<K>, ctx: &Context, namespace: Option<&str>) -> Controller<K>
where
    Child: Managed,
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K: Send + Sync + 'static,
{
    let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let changes = cached(ctx, scoped::<Child>(&ctx.client, namespace), config);
    controller.owns_stream(changes)
}

/// A watch of `api` that keeps its objects (without their managed fields,
/// which no reconcile reads) in `ctx.caches`, as a stream of the objects
/// that changed or went away. Where another controller's watch of the kind
/// keeps them already, this one only triggers: one copy per object.
pub fn cached<Child: Managed>(
    ctx: &Context,
    api: Api<Child>,
    config: watcher::Config,
) -> BoxStream<'static, Result<Child, watcher::Error>> {
    let changes = trimmed(watcher(api, config).default_backoff());
    if ctx.caches.has::<Child>() {
        return changes.touched_objects().boxed();
    }
    let (store, writer) = reflector::store();
    ctx.caches.register(store);
    reflector(writer, changes).touched_objects().boxed()
}

/// A controller of `K` whose own store keeps its objects without managed
/// fields, as the caches do.
pub fn trimmed_controller<K>(api: Api<K>) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    K: Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let objects = reflector(
        writer,
        trimmed(watcher(api, watcher::Config::default()).default_backoff()),
    )
    .applied_objects();
    Controller::for_stream(objects, store)
}

fn trimmed<K: Resource + Send + 'static>(
    events: impl futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
) -> impl futures::Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static {
    events.modify(|object| {
        object.managed_fields_mut().clear();
        drop_unread(object);
    })
}

/// Drops the bulk of a watched object that no reconcile reads: a
/// Deployment's pod template (its replicas, status and metadata are read), a
/// pod's spec (its status is), a ConfigMap's data (applies are judged by
/// resource version). With thousands of servers these are most of the
/// operator's memory.
fn drop_unread<K: 'static>(object: &mut K) {
    let object: &mut dyn std::any::Any = object;
    if let Some(deployment) = object.downcast_mut::<Deployment>() {
        if let Some(spec) = &mut deployment.spec {
            spec.template = Default::default();
        }
    } else if let Some(pod) = object.downcast_mut::<Pod>() {
        pod.spec = None;
    } else if let Some(config_map) = object.downcast_mut::<ConfigMap>() {
        config_map.data = None;
        config_map.binary_data = None;
    }
}

/// Kinds of which some owned objects are still being deleted.
#[derive(Debug, Default)]
pub struct Remaining(Vec<ChildKind>);

impl Remaining {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Remaining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(|kind| format!("{kind:?}")).collect();
        f.write_str(&names.join(", "))
    }
}

/// Removes every child of `owner` of the given kinds before its finalizer
/// lets it go, and says which kinds still have objects being deleted.
pub async fn sweep<O: Resource>(
    ctx: &Context,
    owner: &O,
    kinds: &[ChildKind],
) -> Result<Remaining, ChildError> {
    let mut remaining = Remaining::default();
    for kind in kinds {
        if kind.sweep(ctx, owner).await? > 0 {
            remaining.0.push(*kind);
        }
    }
    Ok(remaining)
}

async fn sweep_kind<K: Managed, O: Resource>(
    ctx: &Context,
    owner: &O,
) -> Result<usize, ChildError> {
    delete_controlled_except::<K, O>(ctx, owner, &[]).await
}

/// Deletes every object of kind `K` labelled as `owner`'s and controlled by
/// it, except those named in `keep`; returns how many are still there
/// (deletion under way).
async fn delete_controlled_except<K: Managed, O: Resource>(
    ctx: &Context,
    owner: &O,
    keep: &[String],
) -> Result<usize, ChildError> {
    let namespace = owner.namespace().unwrap_or_default();
    let uid = owner.uid().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let labels = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{INSTANCE_LABEL}={}",
        owner.name_any()
    );
    let failed = |name: String, source| ChildError::Delete {
        kind: K::kind(&()).to_string(),
        name,
        source,
    };
    let listed = api
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|source| failed(format!("(labels {labels})"), source))?;
    let mut remaining = 0;
    for child in listed.items {
        let controlled = child
            .owner_references()
            .iter()
            .any(|reference| reference.uid == uid && reference.controller == Some(true));
        if !controlled || keep.contains(&child.name_any()) {
            continue;
        }
        remaining += 1;
        if child.meta().deletion_timestamp.is_some() {
            continue;
        }
        let name = child.name_any();
        ctx.caches.forget::<K>(&namespace, &name);
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => ctx
                .metrics
                .operation(&K::kind(&()), Operation::Delete, true),
            // Someone else deleted it first: not a failed delete of ours.
            Err(kube::Error::Api(status)) if status.code == 404 => remaining -= 1,
            Err(source) => {
                ctx.metrics
                    .operation(&K::kind(&()), Operation::Delete, false);
                return Err(failed(name, source));
            }
        }
    }
    Ok(remaining)
}

/// Applies every object of `desired` and deletes the other objects of its
/// kind that `owner` controls: for children that come in a varying number.
pub async fn apply_set<K: Managed, O: Resource>(
    ctx: &Context,
    owner: &O,
    desired: Vec<K>,
) -> Result<(), ChildError> {
    let names: Vec<String> = desired.iter().map(ResourceExt::name_any).collect();
    for object in desired {
        apply(ctx, &object)
            .await
            .map_err(|source| ChildError::Apply {
                kind: K::kind(&()).to_string(),
                name: object.name_any(),
                source,
            })?;
    }
    delete_controlled_except::<K, O>(ctx, owner, &names).await?;
    Ok(())
}

/// Applies `desired` (returning the stored object), or, when it is `None`,
/// deletes the object called `name` if `owner` owns it.
pub async fn apply_or_delete<K: Managed, O: Resource>(
    ctx: &Context,
    owner: &O,
    desired: Option<K>,
    name: &str,
) -> Result<Option<K>, ChildError> {
    match desired {
        Some(object) => apply(ctx, &object)
            .await
            .map(Some)
            .map_err(|source| ChildError::Apply {
                kind: K::kind(&()).to_string(),
                name: name.to_string(),
                source,
            }),
        None => {
            let namespace = owner.namespace().unwrap_or_default();
            let uid = owner.uid().unwrap_or_default();
            delete_if_owned::<K>(ctx, &namespace, name, &uid)
                .await
                .map_err(|source| ChildError::Delete {
                    kind: K::kind(&()).to_string(),
                    name: name.to_string(),
                    source,
                })?;
            Ok(None)
        }
    }
}

/// One object of a set as a YAML document for `hangar render`, if present.
pub fn document<T: Serialize>(out: &mut Vec<String>, object: &Option<T>) {
    documents(out, object.as_slice());
}

/// Objects of a set as YAML documents for `hangar render`.
pub fn documents<T: Serialize>(out: &mut Vec<String>, objects: &[T]) {
    for object in objects {
        out.push(serde_saphyr::to_string(object).expect("Kubernetes objects serialise"));
    }
}
