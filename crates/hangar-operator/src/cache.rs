//! Watched copies of the objects the controllers own or follow, so that a
//! reconcile reads them from memory instead of asking the API server, and
//! what the operator last applied, so that a resync of an unchanged object
//! writes nothing.
//!
//! Cached copies lack what no reconcile reads (managed fields, a
//! Deployment's pod template, a pod's spec, a ConfigMap's data: see
//! `children::cached`).
//!
//! A cache is consulted only once its first list is complete; before that the
//! callers ask the API server as they would without one. A stale copy is safe
//! here: every owned kind is watched, so a change the copy has not seen yet
//! queues another reconcile of its owner when it arrives.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::apply::Managed;

/// One store per kind, keyed by the kind's type; the first registered wins
/// (every controller watches its owned kinds with the same selector) until
/// [`Caches::reset`].
#[derive(Default)]
pub struct Caches {
    stores: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    applied: Mutex<HashMap<AppliedKey, Applied>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AppliedKey {
    kind: TypeId,
    namespace: String,
    name: String,
}

/// What the operator applied last and the version the API server stored.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Applied {
    desired: u64,
    resource_version: String,
}

impl Caches {
    /// Whether a store of `K` is registered.
    pub fn has<K: Managed>(&self) -> bool {
        self.lock_stores().contains_key(&TypeId::of::<K>())
    }

    pub fn register<K: Managed>(&self, store: Store<K>) {
        self.lock_stores()
            .entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(store));
    }

    /// Forgets every store and what was applied: the controllers start
    /// again (after a lost Lease) with watches of their own, and the other
    /// leader may have changed anything meanwhile.
    pub fn reset(&self) {
        self.lock_stores().clear();
        self.lock_applied().clear();
    }

    /// The store of `K`, once its first list is complete.
    pub fn store<K: Managed>(&self) -> Option<Store<K>> {
        let store = self
            .lock_stores()
            .get(&TypeId::of::<K>())?
            .downcast_ref::<Store<K>>()?
            .clone();
        matches!(store.wait_until_ready().now_or_never(), Some(Ok(()))).then_some(store)
    }

    /// The cached copy of `namespace/name`: `Some(None)` when the cache is
    /// ready and has no such object, `None` when there is no ready cache.
    pub fn lookup<K: Managed>(&self, namespace: &str, name: &str) -> Option<Option<Arc<K>>> {
        let store = self.store::<K>()?;
        Some(store.get(&ObjectRef::new(name).within(namespace)))
    }

    /// The cached copy of `desired` if it is exactly what the operator last
    /// applied from the same desired object (no one changed it since).
    pub fn unchanged<K: Managed>(&self, desired: &K) -> Option<Arc<K>> {
        let namespace = desired.namespace().unwrap_or_default();
        let current = self.lookup::<K>(&namespace, &desired.name_any())??;
        let wanted = Applied {
            desired: fingerprint(desired),
            resource_version: current.resource_version()?,
        };
        let key = key::<K>(&namespace, &desired.name_any());
        (self.lock_applied().get(&key) == Some(&wanted)).then_some(current)
    }

    /// Notes that `desired` was applied and stored as `stored`.
    pub fn applied<K: Managed>(&self, desired: &K, stored: &K) {
        let namespace = desired.namespace().unwrap_or_default();
        let Some(resource_version) = stored.resource_version() else {
            return;
        };
        self.lock_applied().insert(
            key::<K>(&namespace, &desired.name_any()),
            Applied {
                desired: fingerprint(desired),
                resource_version,
            },
        );
    }

    /// Forgets what was applied to `namespace/name` (deleted).
    pub fn forget<K: Managed>(&self, namespace: &str, name: &str) {
        self.lock_applied().remove(&key::<K>(namespace, name));
    }

    fn lock_stores(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<TypeId, Box<dyn Any + Send + Sync>>> {
        self.stores.lock().expect("cache registry lock")
    }

    fn lock_applied(&self) -> std::sync::MutexGuard<'_, HashMap<AppliedKey, Applied>> {
        self.applied.lock().expect("applied objects lock")
    }
}

fn key<K: Managed>(namespace: &str, name: &str) -> AppliedKey {
    AppliedKey {
        kind: TypeId::of::<K>(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// A hash of the object as it is sent (the same within one process).
fn fingerprint<K: Managed>(object: &K) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_vec(object)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}
