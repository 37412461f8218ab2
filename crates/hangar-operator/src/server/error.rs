//! What can go wrong reconciling an MCPServer, in words a user can act on.

use super::build::InvalidSpec;
use crate::outcome::Failure;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the spec cannot be run: {0}")]
    InvalidSpec(#[from] InvalidSpec),
    #[error(transparent)]
    Child(#[from] crate::children::ChildError),
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
    #[error("could not list the server's pods: {0}")]
    ListPods(#[source] kube::Error),
    #[error("could not list the gateways' activity Leases of the server: {0}")]
    ListLeases(#[source] kube::Error),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("waiting for {0} to be deleted")]
    CleanupPending(crate::children::Remaining),
    #[error("could not add or remove the finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Failure for Error {
    /// A CamelCase reason for Events, conditions and metric labels.
    fn reason(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Child(child) => child.reason(),
            Error::Status(_) => "StatusUpdateFailed",
            Error::ListPods(_) => "ListPodsFailed",
            Error::ListLeases(_) => "ListLeasesFailed",
            Error::Secret(header) => header.reason(),
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
