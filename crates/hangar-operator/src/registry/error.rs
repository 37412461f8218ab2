//! What can go wrong syncing an MCPRegistry, in words a user can act on.

use super::client::FetchError;
use crate::outcome::Failure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("ConfigMap {name} (spec.configMapRef) does not exist in this namespace")]
    ConfigMapNotFound { name: String },
    #[error("could not read {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Header(#[from] crate::secrets::SecretError),
    #[error("spec.headers: {0}")]
    InvalidHeader(String),
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
}

impl Failure for Error {
    /// A CamelCase reason for conditions, Events and metric labels.
    fn reason(&self) -> &'static str {
        match self {
            Error::Fetch(FetchError::BadUrl(..)) => "InvalidURL",
            Error::Fetch(FetchError::Unreachable { .. }) => "RegistryUnreachable",
            Error::Fetch(FetchError::Status { .. }) => "RegistryError",
            Error::Fetch(FetchError::NotAList { .. }) => "InvalidResponse",
            Error::Fetch(FetchError::CursorLoop { .. } | FetchError::TooManyPages { .. }) => {
                "PagingFailed"
            }
            Error::Fetch(FetchError::TooLarge { .. }) => "ResponseTooLarge",
            Error::Fetch(FetchError::Deadline { .. }) => "SyncDeadlineExceeded",
            Error::ConfigMapNotFound { .. } => "ConfigMapNotFound",
            Error::Read { .. } => "ReadFailed",
            Error::Header(header) => header.reason(),
            Error::InvalidHeader(_) => "HeaderUnavailable",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}
