//! Server-side apply with the operator's one field manager, and deletion of
//! objects only when this operator owns them. Every write is counted in
//! `mcp_operator_resource_operations_total` by kind, operation and result.

use std::fmt::Debug;

use http::StatusCode;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::client::Body;
use kube::core::{NamespaceResourceScope, Status};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::labels::FIELD_MANAGER;
use crate::metrics::Operation;

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
pub async fn apply<K: Managed>(ctx: &Context, object: &K) -> Result<K, kube::Error> {
    // Applying what was applied last, to an object no one changed since, would change nothing.
    if let Some(current) = ctx.caches.unchanged(object) {
        return Ok((*current).clone());
    }
    let outcome = apply_counting(ctx, object).await;
    if let Ok((stored, _)) = &outcome {
        ctx.caches.applied(object, stored);
    }
    let operation = match &outcome {
        Ok((_, operation)) => *operation,
        // A failed apply created nothing; call it what it tried to do to an
        // object that may or may not exist.
        Err(_) => Operation::Update,
    };
    ctx.metrics
        .operation(&K::kind(&()), operation, outcome.is_ok());
    outcome.map(|(stored, _)| stored)
}

/// The apply request, sent raw: the status code (201 Created or 200 OK) is the
/// only way to tell a create from an update without a read before every write.
async fn apply_counting<K: Managed>(
    ctx: &Context,
    object: &K,
) -> Result<(K, Operation), kube::Error> {
    let namespace = object.namespace().unwrap_or_default();
    let request = kube::core::Request::new(K::url_path(&(), Some(&namespace)))
        .patch(
            &object.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .map_err(kube::Error::BuildRequest)?;
    let response = ctx.client.send(request.map(Body::from)).await?;
    let code = response.status();
    let body = response.into_body().collect_bytes().await?;
    if !code.is_success() {
        let status = serde_json::from_slice::<Status>(&body).unwrap_or_else(|_| {
            Status::failure(&String::from_utf8_lossy(&body), "UnparsableError")
                .with_code(code.as_u16())
        });
        return Err(kube::Error::Api(status.boxed()));
    }
    let stored = serde_json::from_slice(&body).map_err(kube::Error::SerdeError)?;
    let operation = if code == StatusCode::CREATED {
        Operation::Create
    } else {
        Operation::Update
    };
    Ok((stored, operation))
}

/// Deletes `name` if it exists and `owner_uid` controls it. Returns whether it
/// still exists afterwards (true while a deletion is in progress). An object of
/// that name that someone else owns is left alone.
pub async fn delete_if_owned<K: Managed>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    owner_uid: &str,
) -> Result<bool, kube::Error> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let existing = match ctx.caches.lookup::<K>(namespace, name) {
        Some(cached) => cached.map(|object| (*object).clone()),
        None => api.get_opt(name).await?,
    };
    let Some(existing) = existing else {
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
        let deleted = api.delete(name, &DeleteParams::background()).await;
        let gone = matches!(&deleted, Err(kube::Error::Api(status)) if status.code == 404);
        // Someone else deleting it first is not a failed delete of ours.
        if !gone {
            ctx.metrics
                .operation(&K::kind(&()), Operation::Delete, deleted.is_ok());
        }
        ctx.caches.forget::<K>(namespace, name);
        match deleted {
            Ok(_) => {}
            Err(_) if gone => return Ok(false),
            Err(error) => return Err(error),
        }
    }
    Ok(api.get_opt(name).await?.is_some())
}
