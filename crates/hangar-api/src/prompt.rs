//! `MCPPrompt`: one prompt template.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tool::{CatalogItemStatus, MCP_NAME_RULE};

/// One prompt. `prompts/get` fills `{{argument}}` placeholders in the messages.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPPrompt",
    plural = "mcpprompts",
    shortname = "mcpp",
    category = "mcp",
    namespaced,
    status = "MCPPromptStatus",
    derive = "PartialEq",
    doc = "One MCP prompt template.",
    printcolumn(name = "Prompt", type_ = "string", json_path = ".spec.name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MCPPromptSpec {
    /// Prompt name clients see; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(MCP_NAME_RULE).message("spec.name may only contain letters, digits, '_', '-' and '.', at most 128"))]
    #[schemars(length(max = 128))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Arguments the templates use. Names are unique (a list keyed by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub arguments: Vec<PromptArgument>,
    /// The messages returned by `prompts/get`, with `{{argument}}` placeholders.
    #[schemars(length(min = 1, max = 64))]
    pub messages: Vec<PromptMessage>,
}

/// One argument of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptArgument {
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_-]*$')").message("argument names start with a letter or '_' and contain letters, digits, '_' and '-'"))]
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A missing required argument is an invalid-params error.
    #[serde(default)]
    pub required: bool,
}

/// One message of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptMessage {
    pub role: Role,
    /// Text with `{{argument}}` placeholders.
    #[schemars(length(max = 65536))]
    pub text: String,
}

/// Who speaks a prompt message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Assistant,
}

/// Status of an MCPPrompt.
pub type MCPPromptStatus = CatalogItemStatus;
