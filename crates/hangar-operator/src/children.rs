//! The objects a custom resource owns: apply the ones its spec wants, delete
//! (only if owned) the ones it no longer wants.

use kube::{Resource, ResourceExt};

use crate::apply::{Managed, apply, delete_if_owned};
use crate::context::Context;

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
            delete_owned::<K, O>(ctx, owner, name).await?;
            Ok(None)
        }
    }
}

/// Deletes `name` if `owner` owns it; `true` while it still exists.
pub async fn delete_owned<K: Managed, O: Resource>(
    ctx: &Context,
    owner: &O,
    name: &str,
) -> Result<bool, ChildError> {
    let namespace = owner.namespace().unwrap_or_default();
    let uid = owner.uid().unwrap_or_default();
    delete_if_owned::<K>(ctx, &namespace, name, &uid)
        .await
        .map_err(|source| ChildError::Delete {
            kind: K::kind(&()).to_string(),
            name: name.to_string(),
            source,
        })
}
