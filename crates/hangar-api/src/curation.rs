//! Curation: what a gateway exposes of what it serves. Allow and deny lists
//! of name globs, and per-tool overrides (name, title, description,
//! annotations, fixed and default arguments). Used on an MCPGateway for the
//! names it exposes, and per selected MCPServer or MCPServerGroup for that
//! source's own names.

use std::borrow::Cow;
use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::tool::{MCP_NAME_RULE, ToolAnnotations};

/// Which names are exposed: those `allow` matches (all when it is empty)
/// that `deny` does not. `*` matches any run of characters. A name left out
/// is neither listed nor callable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameFilter {
    /// Names (globs) to expose; everything when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 512)))]
    pub allow: Vec<String>,
    /// Names (globs) never to expose; wins over `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 512)))]
    pub deny: Vec<String>,
}

/// Which tools are exposed (`allow`/`deny` globs; deny wins) and how
/// single tools are presented and called (`overrides`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCuration {
    /// Tool names (globs) to expose; everything when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 512)))]
    pub allow: Vec<String>,
    /// Tool names (globs) never to expose; wins over `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 512)))]
    pub deny: Vec<String>,
    /// Changes to single tools, by name. An override naming a tool that is
    /// not served is reported in the MCPGateway's status (`Curated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["tool"]))]
    pub overrides: Vec<ToolOverride>,
}

/// How one tool is presented and called.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolOverride {
    /// The tool, by the name it would be exposed under without this override
    /// (on an MCPGateway: with its server's prefix; on a server or group: its own name).
    #[x_kube(validation = Rule::new(MCP_NAME_RULE).message("tool may only contain letters, digits, '_', '-' and '.', at most 128"))]
    #[schemars(length(min = 1, max = 128))]
    pub tool: String,
    /// The name clients see instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new(MCP_NAME_RULE).message("name may only contain letters, digits, '_', '-' and '.', at most 128"))]
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub description: Option<String>,
    /// Hints replacing the tool's own, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Arguments the gateway sets on every call, whatever the client sends;
    /// they are removed from the `inputSchema` clients see. One that is also
    /// in `defaultArguments` stays fixed (and `Curated` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_arguments: Option<Arguments>,
    /// Arguments the gateway sets when the client leaves them out; they are
    /// no longer required in the `inputSchema` clients see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_arguments: Option<Arguments>,
}

/// Tool arguments by name, each any JSON value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Arguments(pub BTreeMap<String, serde_json::Value>);

impl JsonSchema for Arguments {
    fn schema_name() -> Cow<'static, str> {
        "Arguments".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "maxProperties": 64,
            "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true },
        })
    }
}

/// Curation of one MCPServer or MCPServerGroup a gateway selects, in that
/// source's own names (before the gateway's prefix).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.passUnlisted) || !self.passUnlisted || !(has(self.tools) || has(self.prompts) || has(self.resourceUris))").message("spec.servers[].passUnlisted: names a source has not listed cannot be judged by its tools, prompts and resourceUris; use one or the other"))]
pub struct SourceCuration {
    /// The MCPServer or MCPServerGroup (in the gateway's namespace).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Its tools, by its own names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolCuration>,
    /// Its prompts, by its own names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<NameFilter>,
    /// Resource URIs (and resource templates' URI templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uris: Option<NameFilter>,
    /// Calls of tools and prompts it has not listed (hidden, or added since
    /// its last list) go to it by its prefix. Not with `tools`, `prompts` or
    /// `resourceUris` here or on the gateway, nor with `spec.auth.authorization`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_unlisted: bool,
}
