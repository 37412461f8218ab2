//! `MCPToolSet`: many tools at once from an OpenAPI document, one per operation.
//!
//! A kind of its own rather than a field of MCPTool: an MCPTool is one tool
//! whose name and schema its author writes, a tool set is a document whose
//! operations become tools as the document changes, with a status that says
//! what it found, exposed and skipped.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Duration, HttpHeader, HttpMethod, ServiceBackend};
use crate::upstream_auth::UpstreamAuthSpec;

/// Tools from an OpenAPI 3.0 or 3.1 document: one per operation, named after
/// its `operationId`, called on the document's server (or `backend`).
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPToolSet",
    plural = "mcptoolsets",
    shortname = "mcpts",
    category = "mcp",
    namespaced,
    status = "MCPToolSetStatus",
    derive = "PartialEq",
    doc = "MCP tools from the operations of an OpenAPI document.",
    printcolumn(
        name = "Operations",
        type_ = "integer",
        json_path = ".status.operations"
    ),
    printcolumn(name = "Tools", type_ = "integer", json_path = ".status.tools"),
    printcolumn(
        name = "Loaded",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"DocumentLoaded\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MCPToolSetSpec {
    /// Where the OpenAPI document is.
    pub openapi: OpenApiSource,
    /// Where operations are called; the document's first server URL when
    /// absent (relative to `openapi.url` when it is relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<ToolSetBackend>,
    /// Headers sent with every call, e.g. an API key from a Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HttpHeader>,
    /// Tokens and identity the gateway presents to the service, as for an MCPTool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UpstreamAuthSpec>,
    /// Which operations become tools; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<OperationFilter>,
    /// Put before every tool name, e.g. `shop_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_.-]{0,64}$')").message("spec.namePrefix may only contain letters, digits, '_', '-' and '.', at most 64"))]
    pub name_prefix: Option<String>,
    /// How long a call may take before it fails with a timeout error.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// How often a document at a URL is read again.
    #[serde(default = "default_refresh")]
    pub refresh_interval: Duration,
}

fn default_timeout() -> Duration {
    Duration::new("30s")
}

fn default_refresh() -> Duration {
    Duration::new("10m")
}

/// Exactly one place the document is read from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.url), has(self.configMapKeyRef), has(self.inline)].filter(x, x).size() == 1").message("set exactly one of url, configMapKeyRef and inline"))]
pub struct OpenApiSource {
    /// An absolute `http` or `https` URL the operator reads the document from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// A key of a ConfigMap in this namespace holding the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<DocumentConfigMap>,
    /// The document itself, JSON or YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 262144))]
    pub inline: Option<String>,
}

/// A ConfigMap key in the same namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentConfigMap {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The service operations are called on: a Service in this namespace or a URL,
/// with an optional base path the operation paths are joined to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.service) != has(self.url)").message("set exactly one of service or url"))]
pub struct ToolSetBackend {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceBackend>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Path before every operation's path, e.g. `/api/v3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must start with /"))]
    #[schemars(length(max = 1024))]
    pub path: Option<String>,
}

/// Operations kept: each list, when set, must admit an operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationFilter {
    /// Operations with at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<HttpMethod>,
}

/// What the document held and what became of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPToolSetStatus {
    /// Operations in the document, selected or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<i32>,
    /// Tools the operations became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<i32>,
    /// Selected operations that did not become tools, and why (the first 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedOperationStatus>,
    /// Where operations are called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_url: Option<String>,
    /// MCPGateways (in this namespace) that select this object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedOperationStatus {
    /// `METHOD /path (operationId)`.
    pub operation: String,
    pub reason: String,
}
