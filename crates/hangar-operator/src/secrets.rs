//! Values that come from Secrets (`spec.headers[].valueFrom`, the client
//! secrets of `spec.auth`), read at the moment they are needed and never
//! logged. The one place the operator reads them, for health checks and
//! registry syncs alike, and so the one place that refuses to send a value
//! where its Secret does not allow (`mcp-hangar.io/allowed-destinations`,
//! see [`hangar_api::destinations`]).

use hangar_api::{AllowedDestinations, HttpHeader, NotAllowed};
use k8s_openapi::api::core::v1::{Secret, SecretKeySelector};
use kube::{Api, Client, ResourceExt};

/// Why a value from a Secret cannot be sent; `what` names the field, e.g.
/// "spec.headers: header X-Api-Key".
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{what}: could not read Secret {secret}: {source}")]
    Read {
        what: String,
        secret: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what}: Secret {secret} does not exist in this namespace")]
    MissingSecret { what: String, secret: String },
    #[error("{what}: Secret {secret} has no key {key}")]
    MissingKey {
        what: String,
        secret: String,
        key: String,
    },
    #[error("{what}: key {key} of Secret {secret} is not text")]
    NotText {
        what: String,
        secret: String,
        key: String,
    },
    #[error("{what} has neither value nor valueFrom")]
    NoValue { what: String },
    #[error("{what}: {refusal}")]
    NotAllowed { what: String, refusal: NotAllowed },
}

impl SecretError {
    /// A CamelCase reason for conditions, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            SecretError::NotAllowed { .. } => "SecretNotAllowed",
            _ => "SecretUnavailable",
        }
    }
}

/// Each header's name and value for requests to `destination`, values from
/// Secrets of `namespace` read now, each only if its Secret allows sending it
/// there. Values are trimmed: a Secret written with `echo` ends in a newline
/// that no server expects in a header.
pub async fn header_values(
    client: &Client,
    namespace: &str,
    headers: &[HttpHeader],
    destination: &str,
) -> Result<Vec<(String, String)>, SecretError> {
    let mut values = Vec::with_capacity(headers.len());
    for header in headers {
        let what = format!("spec.headers: header {}", header.name);
        let value = match (&header.value, &header.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(source)) => {
                secret_value(client, namespace, &source.secret_key_ref, destination, what).await?
            }
            (None, None) => return Err(SecretError::NoValue { what }),
        };
        values.push((header.name.clone(), value.trim().to_string()));
    }
    Ok(values)
}

/// The text of a Secret key of `namespace` for sending to `destination`, if
/// its Secret allows that; `what` names the field that refers to it.
pub async fn secret_value(
    client: &Client,
    namespace: &str,
    reference: &SecretKeySelector,
    destination: &str,
    what: String,
) -> Result<String, SecretError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = match secrets.get_opt(&reference.name).await {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return Err(SecretError::MissingSecret {
                what,
                secret: reference.name.clone(),
            });
        }
        Err(source) => {
            return Err(SecretError::Read {
                what,
                secret: reference.name.clone(),
                source,
            });
        }
    };
    if let Err(refusal) =
        AllowedDestinations::of(secret.annotations()).check(&reference.name, destination)
    {
        return Err(SecretError::NotAllowed { what, refusal });
    }
    let Some(bytes) = secret.data.and_then(|mut data| data.remove(&reference.key)) else {
        return Err(SecretError::MissingKey {
            what,
            secret: reference.name.clone(),
            key: reference.key.clone(),
        });
    };
    String::from_utf8(bytes.0)
        .map(|text| text.trim().to_string())
        .map_err(|_| SecretError::NotText {
            what,
            secret: reference.name.clone(),
            key: reference.key.clone(),
        })
}
