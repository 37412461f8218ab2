//! `MCPResource`: one resource, inline or fetched over HTTP.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::common::{Duration, HttpBackend};
use crate::tool::{CatalogItemStatus, MCP_NAME_RULE};

/// One resource, read by `resources/read`: inline text or bytes, or the body of an HTTP request.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPResource",
    plural = "mcpresources",
    shortname = "mcpr",
    category = "mcp",
    namespaced,
    status = "MCPResourceStatus",
    derive = "PartialEq",
    doc = "One MCP resource, inline or fetched over HTTP.",
    printcolumn(name = "URI", type_ = "string", json_path = ".spec.uri"),
    printcolumn(name = "MIME Type", type_ = "string", json_path = ".spec.mimeType"),
    printcolumn(
        name = "Resolved",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"BackendResolved\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.inline) != has(self.http)").message("set exactly one of spec.inline or spec.http").field_path(".inline"))]
pub struct MCPResourceSpec {
    /// The resource URI clients read, e.g. `docs://handbook/onboarding`.
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*:.+$')").message("spec.uri must be a URI with a scheme, e.g. docs://handbook or https://example.com/a"))]
    #[schemars(length(min = 1, max = 2048))]
    pub uri: String,
    /// Resource name clients see; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(MCP_NAME_RULE).message("spec.name may only contain letters, digits, '_', '-' and '.', at most 128"))]
    #[schemars(length(max = 128))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type of the content, e.g. `text/markdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9!#$&^_.+-]+/[a-zA-Z0-9!#$&^_.+-]+(;.*)?$')").message("spec.mimeType must look like type/subtype, e.g. text/plain"))]
    #[schemars(length(max = 256))]
    pub mime_type: Option<String>,
    /// Content stored in the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineContent>,
    /// Content fetched from an HTTP service on every read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpBackend>,
    /// How long an HTTP read may take.
    #[serde(default = "default_read_timeout")]
    pub timeout: Duration,
}

fn default_read_timeout() -> Duration {
    Duration::new("10s")
}

/// Inline content: text, or base64-encoded bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.text) != has(self.blob)").message("set exactly one of spec.inline.text or spec.inline.blob"))]
pub struct InlineContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64-encoded bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "byte"))]
    pub blob: Option<String>,
}

/// Status of an MCPResource.
pub type MCPResourceStatus = CatalogItemStatus;
