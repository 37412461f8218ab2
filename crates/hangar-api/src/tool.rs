//! `MCPTool`: one tool implemented by a plain HTTP service.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Duration, HttpBackend, JsonSchemaDocument};
use crate::upstream_auth::UpstreamAuthSpec;

/// A CEL rule body for MCP names: letters, digits, `_`, `-`, `.`, 1 to 128 characters.
pub(crate) const MCP_NAME_RULE: &str = "self.matches('^[A-Za-z0-9_.-]{1,128}$')";

/// One tool. A `tools/call` becomes one HTTP request to `backend` with the
/// arguments as a JSON body; the response becomes the tool result.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPTool",
    plural = "mcptools",
    shortname = "mcpt",
    category = "mcp",
    namespaced,
    status = "MCPToolStatus",
    derive = "PartialEq",
    doc = "One MCP tool implemented by a plain HTTP service.",
    printcolumn(name = "Tool", type_ = "string", json_path = ".spec.name"),
    printcolumn(name = "Backend", type_ = "string", json_path = ".status.resolvedUrl"),
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
pub struct MCPToolSpec {
    /// Tool name clients see; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(MCP_NAME_RULE).message("spec.name may only contain letters, digits, '_', '-' and '.', at most 128"))]
    #[schemars(length(max = 128))]
    pub name: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments; calls are validated against it before the backend is called.
    #[serde(default = "default_input_schema")]
    #[x_kube(validation = Rule::new("has(self.type) && self.type == 'object'").message("spec.inputSchema must be a JSON Schema with type: object"))]
    pub input_schema: JsonSchemaDocument,
    /// JSON Schema of the structured result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("has(self.type) && self.type == 'object'").message("spec.outputSchema must be a JSON Schema with type: object"))]
    pub output_schema: Option<JsonSchemaDocument>,
    /// Hints about the tool's behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// The HTTP service that implements the tool.
    pub backend: HttpBackend,
    /// Tokens and identity gateways present to the backend beyond static headers, as
    /// for an MCPServer (`Authorization` then comes from here, not from `backend.headers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UpstreamAuthSpec>,
    /// How long a call may take before it fails with a timeout error.
    #[serde(default = "default_tool_timeout")]
    pub timeout: Duration,
}

fn default_input_schema() -> JsonSchemaDocument {
    let mut schema = serde_json::Map::new();
    schema.insert("type".into(), "object".into());
    JsonSchemaDocument(schema)
}

fn default_tool_timeout() -> Duration {
    Duration::new("30s")
}

/// MCP tool annotations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// Status shared by MCPTool, MCPPrompt and MCPResource: whether the backend
/// resolves, and which gateways serve the object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItemStatus {
    /// The backend address the gateway calls.
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

/// Status of an MCPTool.
pub type MCPToolStatus = CatalogItemStatus;
