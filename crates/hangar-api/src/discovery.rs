//! `MCPDiscoverySource`: finds MCP servers already running and creates MCPServers for them.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Duration, LabelSelector, Time};
use crate::server::{CircuitBreakerSpec, HealthCheckSpec};

/// Label on every MCPServer a discovery source created; its value is the source's name.
pub const DISCOVERY_SOURCE_LABEL: &str = "mcp-hangar.io/discovery-source";

/// Label on a Namespace, value `"true"`: its Services may be imported by
/// discovery sources in other namespaces. Without it, only sources in the
/// namespace itself or in the operator's namespace import from it.
pub const DISCOVERABLE_LABEL: &str = "mcp-hangar.io/discoverable";

/// The Service port `appProtocol` (or port name) that marks a port as speaking MCP.
pub const MCP_APP_PROTOCOL: &str = "mcp";

/// Annotations that Namespace and Annotations discovery read on Services and Deployments.
pub mod annotation {
    /// `"true"` marks a Service (or a Deployment behind a Service) as an MCP server;
    /// `"false"` keeps a Service out of Namespace discovery even when a port says `mcp`.
    pub const DISCOVER: &str = "mcp-hangar.io/discover";
    /// Name of the MCPServer to create, instead of the one derived from the Service.
    pub const NAME: &str = "mcp-hangar.io/name";
    /// Service port (name or number) the MCP endpoint listens on.
    pub const PORT: &str = "mcp-hangar.io/port";
    /// HTTP path of the MCP endpoint; `/mcp` when absent.
    pub const PATH: &str = "mcp-hangar.io/path";
    /// `streamable-http` (the default) or `sse`.
    pub const TRANSPORT: &str = "mcp-hangar.io/transport";
    /// Extra labels for the MCPServer, as `key=value,key=value`.
    pub const LABELS: &str = "mcp-hangar.io/labels";
    /// Set by Hangar on discovered MCPServers: the object they were found from, e.g. `Service team-a/weather`.
    pub const DISCOVERED_FROM: &str = "mcp-hangar.io/discovered-from";
}

/// Finds MCP servers (Services, ConfigMap entries, annotated workloads) and keeps
/// one MCPServer per server found, in this object's namespace.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPDiscoverySource",
    plural = "mcpdiscoverysources",
    shortname = "mcpds",
    category = "mcp",
    namespaced,
    status = "MCPDiscoverySourceStatus",
    derive = "PartialEq",
    doc = "Finds MCP servers already running (Services, ConfigMaps, annotations) and creates MCPServers for them.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Discovered",
        type_ = "integer",
        json_path = ".status.discovered"
    ),
    printcolumn(
        name = "Last Refresh",
        type_ = "date",
        json_path = ".status.lastRefresh"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'ConfigMap' || has(self.configMapRef)").message("spec.configMapRef is required when spec.type is ConfigMap").field_path(".configMapRef"))]
#[x_kube(validation = Rule::new("self.type == 'ConfigMap' || !has(self.configMapRef)").message("spec.configMapRef is only used when spec.type is ConfigMap").field_path(".configMapRef"))]
pub struct MCPDiscoverySourceSpec {
    /// Where servers are found.
    #[serde(rename = "type")]
    pub source_type: DiscoveryType,
    /// Whether servers that disappear from the source are deleted.
    #[serde(default)]
    pub mode: DiscoveryMode,
    /// Full rescan period, on top of watching for changes.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Duration,
    /// Namespaces scanned (Namespace and Annotations types). Only this object's namespace when absent.
    /// Another namespace is scanned only if it carries the label `mcp-hangar.io/discoverable: "true"`,
    /// or this source is in the operator's own namespace; the others are listed in
    /// `status.excludedNamespaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Narrows the Services considered (Namespace and Annotations types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selector: Option<LabelSelector>,
    /// The ConfigMap listing servers (ConfigMap type), in this object's namespace:
    /// a YAML list of `{name, labels, annotations, spec}`, where `spec` is an
    /// MCPServer spec (an `endpoint` without `mode` makes a remote server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyReference>,
    /// Applied to every MCPServer this source creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ServerTemplate>,
}

fn default_refresh_interval() -> Duration {
    Duration::new("1m")
}

/// Discovery types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DiscoveryType {
    /// Services that speak MCP (annotation, `appProtocol: mcp`, or a port named `mcp`) in selected namespaces.
    Namespace,
    /// Servers listed in a ConfigMap.
    ConfigMap,
    /// Only Services (and Deployments with a Service) carrying Hangar's annotations.
    Annotations,
}

/// What happens to servers that disappear from the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DiscoveryMode {
    /// Never delete.
    #[default]
    Additive,
    /// Delete the MCPServers this source created when their server disappears.
    Authoritative,
}

/// A key of a ConfigMap in the same namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyReference {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key holding the YAML list of servers.
    #[serde(default = "default_servers_key")]
    pub key: String,
}

fn default_servers_key() -> String {
    "servers.yaml".into()
}

/// Labels, annotations and MCPServer settings for discovered servers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerTemplate {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSpec>,
}

/// What the last scan found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPDiscoverySourceStatus {
    /// Servers found in the source.
    #[serde(default)]
    pub discovered: i32,
    /// MCPServers this source manages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// Servers that could not be created because an MCPServer of that name exists and is not ours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<DiscoveryConflict>,
    /// Namespaces the selector matches that were not scanned, and why (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub excluded_namespaces: Vec<ExcludedNamespace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A namespace `spec.namespaceSelector` matches that this source may not import from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedNamespace {
    pub name: String,
    pub reason: String,
}

/// A discovered server whose MCPServer name is taken by an object this source does not own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryConflict {
    pub name: String,
    pub reason: String,
}
