//! The `mcp-hangar.io/v1alpha1` API: the nine custom resources Hangar serves.
//!
//! Types only: no I/O and no controller logic. Validation that the API server can
//! do lives here too, as OpenAPI defaults and CEL rules (`x-kubernetes-validations`)
//! in the generated CRD schemas, so an invalid resource is rejected on `kubectl
//! apply` with a message that names the field.

// Several `printcolumn(type_ = "...")` entries in one `#[kube]` attribute look
// like duplicates to this lint; they are distinct columns.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod curation;
pub mod destinations;
pub mod discovery;
pub mod gateway;
pub mod group;
pub mod prompt;
pub mod registry;
pub mod resource;
pub mod server;
pub mod tool;
pub mod tool_search;
pub mod toolset;
pub mod upstream_auth;

pub use common::*;
pub use curation::*;
pub use destinations::{ALLOWED_DESTINATIONS_ANNOTATION, AllowedDestinations, NotAllowed};
pub use discovery::*;
pub use gateway::*;
pub use group::*;
pub use prompt::*;
pub use registry::*;
pub use resource::*;
pub use server::*;
pub use tool::*;
pub use tool_search::*;
pub use toolset::*;
pub use upstream_auth::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every Hangar resource.
pub const GROUP: &str = "mcp-hangar.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";

/// The CustomResourceDefinitions of all nine kinds, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        MCPServer::crd(),
        MCPServerGroup::crd(),
        MCPDiscoverySource::crd(),
        MCPTool::crd(),
        MCPToolSet::crd(),
        MCPPrompt::crd(),
        MCPResource::crd(),
        MCPGateway::crd(),
        MCPRegistry::crd(),
    ]
}
