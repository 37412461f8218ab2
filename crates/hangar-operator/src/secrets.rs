//! Header values that come from Secrets (`spec.headers[].valueFrom`), read at
//! the moment they are needed and never logged. The one place the operator
//! turns a header list into values, for health checks and registry syncs
//! alike, and so the one place that refuses to send a value where its Secret
//! does not allow (`mcp-hangar.io/allowed-destinations`, see
//! [`hangar_api::destinations`]).

use hangar_api::{AllowedDestinations, HttpHeader, NotAllowed};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};

/// Why a header cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("header {header}: could not read Secret {secret}: {source}")]
    Read {
        header: String,
        secret: String,
        #[source]
        source: kube::Error,
    },
    #[error("header {header}: Secret {secret} does not exist in this namespace")]
    MissingSecret { header: String, secret: String },
    #[error("header {header}: Secret {secret} has no key {key}")]
    MissingKey {
        header: String,
        secret: String,
        key: String,
    },
    #[error("header {header}: key {key} of Secret {secret} is not text")]
    NotText {
        header: String,
        secret: String,
        key: String,
    },
    #[error("header {header} has neither value nor valueFrom")]
    NoValue { header: String },
    #[error("header {header}: {refusal}")]
    NotAllowed { header: String, refusal: NotAllowed },
}

impl HeaderError {
    /// A CamelCase reason for conditions, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            HeaderError::NotAllowed { .. } => "SecretNotAllowed",
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
) -> Result<Vec<(String, String)>, HeaderError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut values = Vec::with_capacity(headers.len());
    for header in headers {
        let name = header.name.clone();
        let value = match (&header.value, &header.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(source)) => {
                let reference = &source.secret_key_ref;
                let secret = secrets
                    .get_opt(&reference.name)
                    .await
                    .map_err(|source| HeaderError::Read {
                        header: name.clone(),
                        secret: reference.name.clone(),
                        source,
                    })?
                    .ok_or_else(|| HeaderError::MissingSecret {
                        header: name.clone(),
                        secret: reference.name.clone(),
                    })?;
                AllowedDestinations::of(secret.annotations())
                    .check(&reference.name, destination)
                    .map_err(|refusal| HeaderError::NotAllowed {
                        header: name.clone(),
                        refusal,
                    })?;
                let bytes = secret
                    .data
                    .and_then(|mut data| data.remove(&reference.key))
                    .ok_or_else(|| HeaderError::MissingKey {
                        header: name.clone(),
                        secret: reference.name.clone(),
                        key: reference.key.clone(),
                    })?;
                String::from_utf8(bytes.0).map_err(|_| HeaderError::NotText {
                    header: name.clone(),
                    secret: reference.name.clone(),
                    key: reference.key.clone(),
                })?
            }
            (None, None) => return Err(HeaderError::NoValue { header: name }),
        };
        values.push((name, value.trim().to_string()));
    }
    Ok(values)
}
