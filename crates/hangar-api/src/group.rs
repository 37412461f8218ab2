//! `MCPServerGroup`: label-selected MCPServers that serve the same tools, balanced by a strategy.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, LabelSelector};

/// A set of interchangeable MCPServers. The gateway exposes their tools once and
/// routes each call to one member by `strategy`, retrying on another on failure.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPServerGroup",
    plural = "mcpservergroups",
    shortname = "mcpsg",
    category = "mcp",
    namespaced,
    status = "MCPServerGroupStatus",
    derive = "PartialEq",
    doc = "Label-selected MCPServers serving the same tools, balanced and failed over by a strategy.",
    printcolumn(name = "Strategy", type_ = "string", json_path = ".spec.strategy"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(
        name = "Healthy",
        type_ = "integer",
        json_path = ".status.healthyMembers"
    ),
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
pub struct MCPServerGroupSpec {
    /// Which MCPServers in this namespace are members.
    pub selector: LabelSelector,
    /// How calls are spread over members.
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub failover: FailoverPolicy,
    #[serde(default)]
    pub health_policy: HealthPolicy,
}

/// Load-balancing strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Strategy {
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// The member with the fewest calls in flight.
    LeastConnections,
    /// A member at random.
    Random,
    /// The first healthy member, in name order; the next when it fails.
    Failover,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "RoundRobin",
            Strategy::LeastConnections => "LeastConnections",
            Strategy::Random => "Random",
            Strategy::Failover => "Failover",
        }
    }
}

/// Retrying a failed call on other members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailoverPolicy {
    /// Further members tried after the first one fails.
    #[serde(default = "default_max_retries")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 10").message("spec.failover.maxRetries must be between 0 and 10"))]
    pub max_retries: i32,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
        }
    }
}

fn default_max_retries() -> i32 {
    2
}

/// When the group counts as Ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthPolicy {
    /// Percentage of members that must be healthy.
    #[serde(default = "default_min_healthy")]
    #[x_kube(validation = Rule::new("self >= 0 && self <= 100").message("spec.healthPolicy.minHealthyPercentage must be between 0 and 100"))]
    pub min_healthy_percentage: i32,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            min_healthy_percentage: default_min_healthy(),
        }
    }
}

fn default_min_healthy() -> i32 {
    50
}

/// What the operator observed about a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerGroupStatus {
    #[serde(default)]
    pub members: i32,
    #[serde(default)]
    pub healthy_members: i32,
    /// Each member and whether it is healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_statuses: Vec<GroupMemberStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One member of a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::server::ServerState>,
    pub healthy: bool,
}
