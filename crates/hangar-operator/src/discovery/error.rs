//! What can go wrong scanning a discovery source, in words a user can act on.
//! A scan that fails changes no MCPServer: a source that cannot be read is not
//! a source whose servers are gone.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not list {what}: {source}")]
    List {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{field} is not a valid label selector: {reason}")]
    InvalidSelector { field: &'static str, reason: String },
    #[error("spec.configMapRef is required when spec.type is ConfigMap")]
    MissingConfigMapRef,
    #[error("ConfigMap {name} (spec.configMapRef) does not exist in this namespace")]
    ConfigMapNotFound { name: String },
    #[error("ConfigMap {name} has no key {key} (spec.configMapRef.key)")]
    KeyNotFound { name: String, key: String },
    #[error("key {key} of ConfigMap {name} is {reason}")]
    InvalidList {
        name: String,
        key: String,
        reason: String,
    },
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
}

use crate::outcome::Failure;

impl Failure for Error {
    /// A CamelCase reason for conditions, Events and metric labels.
    fn reason(&self) -> &'static str {
        match self {
            Error::List { .. } => "ListFailed",
            Error::InvalidSelector { .. } => "InvalidSelector",
            Error::MissingConfigMapRef => "MissingConfigMapRef",
            Error::ConfigMapNotFound { .. } => "ConfigMapNotFound",
            Error::KeyNotFound { .. } => "ConfigMapKeyNotFound",
            Error::InvalidList { .. } => "InvalidServerList",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}
