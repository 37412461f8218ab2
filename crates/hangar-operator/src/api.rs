//! API handles and status writes every controller shares.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::labels::FIELD_MANAGER;

/// An `Api` over one namespace, or all namespaces when `namespace` is `None`
/// (the operator's `--namespace` flag).
pub fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Writes `status` to `object`'s status subresource with server-side apply,
/// under the operator's one field manager.
pub async fn apply_status<K>(
    client: &Client,
    object: &K,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(())
}

/// The last status this replica wrote to each object, for as long as its
/// watched copy is the one the write was based on. The watch reports a write
/// a moment later; a reconcile in between (its children's own watch events
/// trigger one) would otherwise write the same status again.
#[derive(Default)]
pub struct StatusWrites {
    /// By object UID: the resourceVersion written over, and the status's hash.
    last: Mutex<HashMap<String, (String, u64)>>,
}

impl StatusWrites {
    /// Whether `status` is what was last written over `object` as cached now.
    pub fn already_written(&self, object: &impl Resource, status: &impl Serialize) -> bool {
        written_over(object).is_some_and(|(uid, version)| {
            self.table().get(&uid) == Some(&(version, fingerprint(status)))
        })
    }

    /// Notes that `status` was written over `object` as cached now.
    pub fn remember(&self, object: &impl Resource, status: &impl Serialize) {
        if let Some((uid, version)) = written_over(object) {
            self.table().insert(uid, (version, fingerprint(status)));
        }
    }

    /// Forgets a deleted object.
    pub fn forget(&self, object: &impl Resource) {
        if let Some(uid) = object.meta().uid.as_ref() {
            self.table().remove(uid);
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, u64)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An object's UID and the resourceVersion of this copy of it.
fn written_over(object: &impl Resource) -> Option<(String, String)> {
    Some((object.meta().uid.clone()?, object.resource_version()?))
}

fn fingerprint(status: &impl Serialize) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_vec(status)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    fn cached(version: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                uid: Some("u1".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn a_write_counts_until_the_cached_copy_moves_on() {
        let writes = StatusWrites::default();
        let status = serde_json::json!({"state": "Initializing"});
        assert!(!writes.already_written(&cached("7"), &status));
        writes.remember(&cached("7"), &status);
        assert!(writes.already_written(&cached("7"), &status));
        // Another status, or a newer copy (someone else may have written it): write.
        assert!(!writes.already_written(&cached("7"), &serde_json::json!({"state": "Ready"})));
        assert!(!writes.already_written(&cached("9"), &status));
        writes.forget(&cached("9"));
        assert!(!writes.already_written(&cached("7"), &status));
    }
}
