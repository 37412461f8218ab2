//! `MCPRegistry`: a catalog of server definitions that MCPServers can reference.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Duration, HttpHeader, Time};

/// A catalog of MCP server definitions (server.json): an MCP Registry API, or an
/// offline catalog in a ConfigMap.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPRegistry",
    plural = "mcpregistries",
    shortname = "mcpreg",
    category = "mcp",
    namespaced,
    status = "MCPRegistryStatus",
    derive = "PartialEq",
    doc = "A catalog of MCP server definitions: an MCP Registry API or a ConfigMap of server.json documents.",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Entries", type_ = "integer", json_path = ".status.entries"),
    printcolumn(name = "Last Sync", type_ = "date", json_path = ".status.lastSync"),
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
#[x_kube(validation = Rule::new("has(self.url) != has(self.configMapRef)").message("set exactly one of spec.url or spec.configMapRef").field_path(".url"))]
pub struct MCPRegistrySpec {
    /// Base URL of an MCP Registry API (serving `/v0.1/servers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("spec.url must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// A ConfigMap in this namespace whose values are server.json documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<CatalogConfigMap>,
    /// Headers for the registry API, e.g. a token for a private registry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HttpHeader>,
    /// Time between syncs.
    #[serde(default = "default_sync_interval")]
    pub sync_interval: Duration,
    /// Which entries to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<RegistryFilter>,
}

fn default_sync_interval() -> Duration {
    Duration::new("1h")
}

/// An offline catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogConfigMap {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Entry filters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryFilter {
    /// Registry search term (the API's `search` parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Only these server names; `*` matches any run of characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Only this version of every server: `latest`, or an exact version (the API's `version` parameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub version: Option<String>,
    /// Keep entries marked deprecated (deleted entries are always dropped).
    #[serde(default)]
    pub include_deprecated: bool,
}

/// What the last sync found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPRegistryStatus {
    /// Entries (server versions) in the catalog.
    #[serde(default)]
    pub entries: i32,
    /// Distinct servers in the catalog.
    #[serde(default)]
    pub servers: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
