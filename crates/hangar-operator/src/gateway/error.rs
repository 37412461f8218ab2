//! What can go wrong reconciling an MCPGateway.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not list {kind} in the gateway's namespace: {source}")]
    List {
        kind: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not read Secret {name}, which a header comes from: {source}")]
    ReadSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "Secret {name} exists and is not this gateway's: its managed Redis keeps its password in a Secret of that name; rename or delete the other one"
    )]
    ForeignRedisSecret { name: String },
    #[error("could not create Secret {name} with the managed Redis's password: {source}")]
    CreateRedisSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Child(#[from] crate::children::ChildError),
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
    #[error("waiting for {0} to be deleted")]
    CleanupPending(crate::children::Remaining),
    #[error("could not add or remove the finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

use crate::outcome::Failure;

impl Failure for Error {
    /// A CamelCase reason for Events, conditions and metric labels.
    fn reason(&self) -> &'static str {
        match self {
            Error::List { .. } => "ListFailed",
            Error::ReadSecret { .. } => "ReadSecretFailed",
            Error::ForeignRedisSecret { .. } => "SecretNameTaken",
            Error::CreateRedisSecret { .. } => "CreateSecretFailed",
            Error::Child(child) => child.reason(),
            Error::Status(_) => "StatusUpdateFailed",
            Error::CleanupPending(_) => "CleanupPending",
            Error::Finalizer(_) => "FinalizerFailed",
        }
    }
    fn is_waiting(&self) -> bool {
        matches!(self, Error::CleanupPending(_))
    }
}

impl crate::outcome::FinalizerFailure for Error {
    fn finalizer(error: kube::runtime::finalizer::Error<Self>) -> Self {
        Error::Finalizer(Box::new(error))
    }
}
