//! Config sections for how calls reach upstream servers: each server's circuit
//! breaker and scale-to-zero settings, and groups of interchangeable servers
//! (`groups`) balanced by a strategy.

use std::collections::HashSet;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::Strategy;

use crate::GatewayConfig;
use crate::servers::is_server_name;
use crate::tools::is_tool_name_char;
use crate::values::{DurationSpec, yes};

/// A circuit breaker (MCPServer `spec.circuitBreaker`): after
/// `failureThreshold` consecutive failed calls (server unreachable, no answer
/// in time, connection lost) calls fail fast for `resetTimeout`; then one
/// trial call decides whether the circuit closes again.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1))]
    pub failure_threshold: u32,
    #[serde(default = "default_reset_timeout")]
    pub reset_timeout: DurationSpec,
}

fn default_failure_threshold() -> u32 {
    5
}
fn default_reset_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: default_failure_threshold(),
            reset_timeout: default_reset_timeout(),
        }
    }
}

impl CircuitBreakerSettings {
    pub fn breaker(&self) -> hangar_circuit::Settings {
        hangar_circuit::Settings {
            enabled: self.enabled,
            failure_threshold: self.failure_threshold,
            reset_timeout: self.reset_timeout.0,
        }
    }

    pub(crate) fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if self.failure_threshold == 0 {
            problems.push(format!("{at}.failureThreshold: must be at least 1"));
        }
        if self.reset_timeout.0.is_zero() {
            problems.push(format!("{at}.resetTimeout: must be longer than 0"));
        }
    }
}

impl From<hangar_circuit::Settings> for CircuitBreakerSettings {
    fn from(settings: hangar_circuit::Settings) -> Self {
        Self {
            enabled: settings.enabled,
            failure_threshold: settings.failure_threshold,
            reset_timeout: DurationSpec(settings.reset_timeout),
        }
    }
}

/// A server that runs only while it is used (MCPServer `replicas: 0`). The
/// gateway connects on the first call and waits for the server to answer,
/// and disconnects after `idleTTL` without calls (stdio children stop then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleToZero {
    #[serde(rename = "idleTTL")]
    pub idle_ttl: DurationSpec,
    /// How long a call waits for a stopped server to start and answer.
    #[serde(default = "default_wake_timeout")]
    pub wake_timeout: DurationSpec,
    /// The MCPServer this is, in a cluster: read (never written) to explain a
    /// server that does not start in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_server: Option<ObjectName>,
    /// The `coordination.k8s.io` Lease on which the gateway records its
    /// activity (`spec.renewTime`), in a cluster: the operator runs the server
    /// while it is renewed and scales it to zero `idleTTL` after the last renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_lease: Option<ObjectName>,
}

fn default_wake_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(120))
}

impl ScaleToZero {
    pub(crate) fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if self.idle_ttl.0.is_zero() {
            problems.push(format!("{at}.idleTTL: must be longer than 0"));
        }
        if self.wake_timeout.0.is_zero() {
            problems.push(format!("{at}.wakeTimeout: must be longer than 0"));
        }
        for (field, object) in [
            ("mcpServer", &self.mcp_server),
            ("activityLease", &self.activity_lease),
        ] {
            if let Some(object) = object
                && (!is_server_name(&object.name) || !is_server_name(&object.namespace))
            {
                problems.push(format!(
                    "{at}.{field}: `{object}` is not a Kubernetes namespace and object name"
                ));
            }
        }
    }

    /// How often, at most, activity is reported while calls keep coming: often
    /// enough that the server never looks idle for `idleTTL` while in use,
    /// rarely enough that a busy gateway does not load the API server.
    pub fn activity_interval(&self) -> Duration {
        (self.idle_ttl.0 / 4).min(Duration::from_secs(30))
    }
}

/// A namespaced Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectName {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Interchangeable servers (MCPServerGroup): their tools, prompts and
/// resources are listed once, and each call goes to one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSpec {
    /// Like a server name; the default prefix of the group's items.
    pub name: String,
    /// Names of `servers` entries; usually `expose: false` ones.
    pub members: Vec<String>,
    #[serde(default)]
    pub strategy: Strategy,
    /// Further members a call is tried on after one fails (unreachable, no
    /// answer in time, connection lost). A tool's own error result or a
    /// JSON-RPC error is an answer and is not retried.
    #[serde(default = "default_max_retries")]
    #[schemars(range(max = 10))]
    pub max_retries: u32,
    /// Replaces `<name><separator>` as the prefix; `""` exposes names unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

fn default_max_retries() -> u32 {
    2
}

impl GatewayConfig {
    /// The prefix a group's names get, or `""`.
    pub fn prefix_for_group(&self, group: &GroupSpec) -> String {
        match &group.prefix {
            Some(prefix) => prefix.clone(),
            None if self.naming.prefix => format!("{}{}", group.name, self.naming.separator),
            None => String::new(),
        }
    }

    pub(crate) fn routing_problems(&self, problems: &mut Vec<String>) {
        for (i, server) in self.servers.iter().enumerate() {
            let at = format!("servers[{i}] ({})", server.name);
            if !server.expose && !self.groups.iter().any(|g| g.members.contains(&server.name)) {
                problems.push(format!(
                    "{at}.expose: a server that is not exposed must be a member of a group, or nothing reaches it"
                ));
            }
        }
        let servers: HashSet<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, group) in self.groups.iter().enumerate() {
            let at = format!("groups[{i}] ({})", group.name);
            if !is_server_name(&group.name) {
                problems.push(format!(
                    "{at}.name: use 1-253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
                ));
            }
            if !names.insert(group.name.as_str()) {
                problems.push(format!("{at}.name: another group already has this name"));
            }
            if group.members.is_empty() {
                problems.push(format!("{at}.members: a group needs at least one member"));
            }
            let mut seen = HashSet::new();
            for member in &group.members {
                if !servers.contains(member.as_str()) {
                    problems.push(format!(
                        "{at}.members: `{member}` is not the name of an entry in servers"
                    ));
                }
                if !seen.insert(member.as_str()) {
                    problems.push(format!("{at}.members: `{member}` is listed twice"));
                }
            }
            if group.max_retries > 10 {
                problems.push(format!("{at}.maxRetries: must be at most 10"));
            }
            if let Some(prefix) = &group.prefix
                && !prefix.chars().all(is_tool_name_char)
            {
                problems.push(format!("{at}.prefix: may only contain A-Z a-z 0-9 _ - ."));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, GatewayConfig};

    #[test]
    fn routing_problems_name_their_place() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
servers:
  - name: a
    transport: streamable-http
    url: http://a/mcp
    expose: false
    circuitBreaker: {failureThreshold: 0, resetTimeout: 0s}
  - name: b
    transport: stdio
    command: b
    expose: false
    scaleToZero: {idleTTL: 0s, mcpServer: {namespace: Team, name: b}}
groups:
  - {name: pool, members: [b, b, c], maxRetries: 11, prefix: "p p"}
  - {name: pool, members: []}
"#;
        let err = GatewayConfig::parse(text, "cfg").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let all = problems.join("\n");
        for expected in [
            "servers[0] (a).circuitBreaker.failureThreshold: must be at least 1",
            "servers[0] (a).circuitBreaker.resetTimeout: must be longer than 0",
            "servers[0] (a).expose: a server that is not exposed must be a member of a group",
            "servers[1] (b).scaleToZero.idleTTL: must be longer than 0",
            "servers[1] (b).scaleToZero.mcpServer: `Team/b` is not",
            "groups[0] (pool).members: `b` is listed twice",
            "groups[0] (pool).members: `c` is not the name of an entry in servers",
            "groups[0] (pool).maxRetries: must be at most 10",
            "groups[0] (pool).prefix: may only contain",
            "groups[1] (pool).name: another group already has this name",
            "groups[1] (pool).members: a group needs at least one member",
        ] {
            assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
        }
        assert!(
            !all.contains("servers[1] (b).expose"),
            "b is a member: {all}"
        );
    }

    #[test]
    fn groups_get_prefixes_like_servers() {
        let text = "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\nservers: [{name: a, transport: stdio, command: a, expose: false}]\ngroups: [{name: pool, members: [a], strategy: Failover}]\n";
        let mut config = GatewayConfig::parse(text, "cfg").unwrap().into_inner();
        assert_eq!(config.prefix_for_group(&config.groups[0]), "pool_");
        config.naming.prefix = false;
        assert_eq!(config.prefix_for_group(&config.groups[0]), "");
        let again = GatewayConfig::parse(&config.to_yaml(), "again").unwrap();
        assert_eq!(again, config);
    }
}
