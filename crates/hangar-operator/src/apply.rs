//! Server-side apply with the operator's one field manager, and deletion of
//! objects only when this operator owns them.

use std::fmt::Debug;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::labels::FIELD_MANAGER;

/// A namespaced built-in or custom object the operator manages.
pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> Managed for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// Applies `object` (server-side apply, forcing ownership of the fields it sets)
/// and returns what the API server stored, status included.
pub async fn apply<K: Managed>(client: &Client, object: &K) -> Result<K, kube::Error> {
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    api.patch(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
}

/// Deletes `name` if it exists and `owner_uid` controls it. Returns whether it
/// still exists afterwards (true while a deletion is in progress). An object of
/// that name that someone else owns is left alone.
pub async fn delete_if_owned<K: Managed>(
    client: &Client,
    namespace: &str,
    name: &str,
    owner_uid: &str,
) -> Result<bool, kube::Error> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let Some(existing) = api.get_opt(name).await? else {
        return Ok(false);
    };
    let owned = existing
        .owner_references()
        .iter()
        .any(|owner| owner.uid == owner_uid && owner.controller == Some(true));
    if !owned {
        return Ok(false);
    }
    if existing.meta().deletion_timestamp.is_none() {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(false),
            Err(error) => return Err(error),
        }
    }
    Ok(api.get_opt(name).await?.is_some())
}
