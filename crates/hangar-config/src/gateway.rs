//! The `gateway` and `naming` sections: how the gateway presents itself, guards
//! its endpoint, and names what it federates.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::ConflictPolicy;

use crate::tools::is_tool_name_char;
use crate::values::{DurationSpec, yes};

/// Identity of the gateway and the guards on its MCP endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySettings {
    /// `serverInfo.name` reported to clients.
    #[serde(default = "default_server_name")]
    pub name: String,
    /// HTTP path of the MCP endpoint.
    #[serde(default = "default_path", skip_serializing_if = "is_default_path")]
    pub path: String,
    /// Instructions reported to clients at initialize/discover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// `Host` header values (`name` or `name:port`) accepted on `/mcp`; protects
    /// against DNS rebinding. Behind a Kubernetes Service list the Service DNS
    /// names and Ingress hosts. `"*"` accepts any host.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin` values (`scheme://host[:port|:*]`) accepted on `/mcp`.
    /// Empty means: an `Origin` must name one of `allowedHosts` (any scheme and port).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Proxies in front of the gateway, as addresses or CIDRs. From them alone
    /// the caller's address is taken from `Forwarded` or `X-Forwarded-For`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Largest accepted request body; larger ones get HTTP 413.
    #[serde(default = "default_max_body")]
    pub max_request_body_bytes: u64,
    /// Items per page of `tools/list`, `prompts/list`, `resources/list`.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub page_size: u32,
    /// Timeout for a backend or upstream call that sets none of its own.
    #[serde(default = "default_timeout")]
    pub default_timeout: DurationSpec,
    /// A session-based client session without requests for this long is closed.
    #[serde(default = "default_session_idle")]
    pub session_idle_timeout: DurationSpec,
    /// Most session-based client sessions awake in this replica at once
    /// (begun or used within a quarter of `sessionIdleTimeout`, at most a
    /// minute, or with a request or stream open; sessions at rest do not
    /// count); a new one past it gets HTTP 503 with `Retry-After`.
    #[serde(default = "default_max_sessions")]
    #[schemars(range(min = 1))]
    pub max_sessions: u32,
    /// Bounds on client connections, so slow or idle clients cannot hold them.
    #[serde(default, skip_serializing_if = "crate::values::is_default")]
    pub connections: ConnectionLimits,
}

/// How many client connections the gateway holds, and for how long it waits on one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Most open client connections; further ones wait in the listen queue.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1))]
    pub max: u32,
    /// A request's headers must arrive within this.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: DurationSpec,
    /// A request's body must arrive within this (HTTP 408 otherwise).
    #[serde(default = "default_body_timeout")]
    pub body_timeout: DurationSpec,
    /// A connection on which nothing is read or written for this long is
    /// closed. Longer than the 15 s keep-alive of event streams.
    #[serde(default = "default_connection_idle")]
    pub idle_timeout: DurationSpec,
}

fn default_max_connections() -> u32 {
    4096
}
fn default_header_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(10))
}
fn default_body_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
}
fn default_connection_idle() -> DurationSpec {
    DurationSpec(Duration::from_secs(120))
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max: default_max_connections(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            idle_timeout: default_connection_idle(),
        }
    }
}

fn default_server_name() -> String {
    "hangar-gateway".to_string()
}
fn default_path() -> String {
    "/mcp".to_string()
}
fn is_default_path(path: &str) -> bool {
    path == "/mcp"
}
fn default_allowed_hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}
fn default_max_body() -> u64 {
    4 * 1024 * 1024
}
fn default_page_size() -> u32 {
    100
}
fn default_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
}
fn default_session_idle() -> DurationSpec {
    DurationSpec(Duration::from_secs(300))
}
fn default_max_sessions() -> u32 {
    10_000
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            name: default_server_name(),
            path: default_path(),
            instructions: None,
            allowed_hosts: default_allowed_hosts(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_request_body_bytes: default_max_body(),
            page_size: default_page_size(),
            default_timeout: default_timeout(),
            session_idle_timeout: default_session_idle(),
            max_sessions: default_max_sessions(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// How upstream names are exposed, and what happens when two sources offer the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Naming {
    /// Prefix every upstream tool, prompt and resource name with `<server><separator>`.
    #[serde(default = "yes")]
    pub prefix: bool,
    /// Text between the server name and the upstream's own name.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// What to do when two sources expose the same name (or resource URI).
    #[serde(default)]
    pub on_conflict: ConflictPolicy,
}

fn default_separator() -> String {
    "_".to_string()
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            prefix: true,
            separator: default_separator(),
            on_conflict: ConflictPolicy::default(),
        }
    }
}

impl GatewaySettings {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if !self.path.starts_with('/') || self.path.len() < 2 {
            problems.push(format!(
                "gateway.path: `{}` must start with / and name a path, e.g. /mcp",
                self.path
            ));
        }
        if self.page_size == 0 {
            problems.push("gateway.pageSize: must be at least 1".into());
        }
        if self.max_request_body_bytes == 0 {
            problems.push("gateway.maxRequestBodyBytes: must be at least 1".into());
        }
        if self.default_timeout.0.is_zero() {
            problems.push("gateway.defaultTimeout: must be longer than 0".into());
        }
        if self.session_idle_timeout.0.is_zero() {
            problems.push("gateway.sessionIdleTimeout: must be longer than 0".into());
        }
        if self.max_sessions == 0 {
            problems.push("gateway.maxSessions: must be at least 1".into());
        }
        let limits = &self.connections;
        if limits.max == 0 {
            problems.push("gateway.connections.max: must be at least 1".into());
        }
        for (field, timeout) in [
            ("headerTimeout", limits.header_timeout),
            ("bodyTimeout", limits.body_timeout),
            ("idleTimeout", limits.idle_timeout),
        ] {
            if timeout.0.is_zero() {
                problems.push(format!(
                    "gateway.connections.{field}: must be longer than 0"
                ));
            }
        }
        for (i, host) in self.allowed_hosts.iter().enumerate() {
            if host.trim().is_empty() {
                problems.push(format!("gateway.allowedHosts[{i}]: empty host"));
            }
        }
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            if crate::proxies::parse(proxy).is_none() {
                problems.push(format!(
                    "gateway.trustedProxies[{i}]: `{proxy}` is neither an IP address nor a CIDR such as 10.0.0.0/8"
                ));
            }
        }
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            if origin != "null" && !origin.contains("://") {
                problems.push(format!(
                    "gateway.allowedOrigins[{i}]: `{origin}` needs a scheme, e.g. https://{origin}"
                ));
            }
        }
    }
}

impl Naming {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if !self.separator.chars().all(is_tool_name_char) {
            problems.push(format!(
                "naming.separator: `{}` may only contain A-Z a-z 0-9 _ - .",
                self.separator
            ));
        }
    }
}
