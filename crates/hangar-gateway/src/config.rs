//! The gateway configuration file: the compiled catalog of declared tools,
//! prompts and resources and the upstream MCP servers to federate.
//!
//! The operator writes this file into a ConfigMap; `hangar up` builds it from
//! manifests; people may also write it by hand. It is versioned by
//! `apiVersion`/`kind`, strict (unknown fields are errors, so a config written
//! for a newer gateway fails loudly instead of being half-applied), and has a
//! JSON Schema (`gateway-config.schema.json`, generated from these types).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

mod auth;
mod routing;
mod state;

pub use auth::{
    AccessDefault, AccessRule, AuthSettings, AuthorizationSettings, BearerTokens, OidcSettings,
};
pub use routing::{CircuitBreakerSettings, GroupSpec, ObjectName, ScaleToZero, Strategy};
pub use state::{Limit, REDIS_URL_ENV, RateLimits, RedisMode, RedisSettings};

/// The only `apiVersion` this gateway reads.
pub const API_VERSION: &str = "gateway.mcp-hangar.io/v1alpha1";
/// The only `kind` this gateway reads.
pub const KIND: &str = "GatewayConfig";

/// A complete gateway configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "Hangar gateway configuration")]
pub struct GatewayConfig {
    /// Always `gateway.mcp-hangar.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `GatewayConfig`.
    pub kind: Kind,
    /// How the gateway presents itself and guards its endpoint.
    #[serde(default, skip_serializing_if = "is_default")]
    pub gateway: GatewaySettings,
    /// How names from upstream servers are exposed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub naming: Naming,
    /// Shared state for several replicas; in each replica's memory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSettings>,
    /// Token-bucket rate limits per client and per tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimits>,
    /// Inbound authentication and per-item authorization; anyone may call when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSettings>,
    /// Tools implemented by plain HTTP services (MCPTool).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Prompt templates (MCPPrompt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<PromptSpec>,
    /// Resources served inline or fetched over HTTP (MCPResource).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSpec>,
    /// Upstream MCP servers whose tools, prompts and resources are federated (MCPServer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerSpec>,
    /// Interchangeable servers (MCPServerGroup), listed once and balanced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The config format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "gateway.mcp-hangar.io/v1alpha1")]
    V1Alpha1,
}

/// The config document kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    GatewayConfig,
}

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

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            name: default_server_name(),
            path: default_path(),
            instructions: None,
            allowed_hosts: default_allowed_hosts(),
            allowed_origins: Vec::new(),
            max_request_body_bytes: default_max_body(),
            page_size: default_page_size(),
            default_timeout: default_timeout(),
            session_idle_timeout: default_session_idle(),
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

fn yes() -> bool {
    true
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

/// Name clash handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConflictPolicy {
    /// Expose none of the clashing items; calls to the name fail with an error naming the sources.
    #[default]
    Reject,
    /// Expose the first source's item: declared items first, then servers in config order.
    KeepFirst,
}

/// A tool whose implementation is one HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolSpec {
    /// Tool name as clients see it: 1-128 of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments; calls are validated against it before the backend is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Map<String, Value>>,
    /// JSON Schema of the structured result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotationsSpec>,
    /// The HTTP request a call becomes.
    pub backend: HttpBackend,
}

/// Hints about a tool's behaviour, passed to clients unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolAnnotationsSpec {
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

/// An HTTP endpoint the gateway calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBackend {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// For GET and DELETE the arguments become query parameters; otherwise the JSON body.
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Defaults to `gateway.defaultTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        }
    }
    /// Whether arguments travel in the query string rather than a JSON body.
    pub fn uses_query(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Delete)
    }
}

/// A header or environment variable: a literal `value`, or the value of the
/// gateway's own environment variable `valueFromEnv` (how Secrets reach the
/// gateway without being written into the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_env: Option<String>,
}

impl NameValue {
    pub fn literal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            value_from_env: None,
        }
    }

    /// The value, reading the environment when asked to.
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.value, &self.value_from_env) {
            (Some(value), None) => Ok(value.clone()),
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| format!("{}: environment variable {var} is not set", self.name)),
            _ => Err(format!(
                "{}: set exactly one of value and valueFromEnv",
                self.name
            )),
        }
    }
}

/// A prompt template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<PromptArgumentSpec>,
    /// Messages whose text may contain `{{argument}}` placeholders.
    pub messages: Vec<PromptMessageSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptArgumentSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptMessageSpec {
    #[serde(default)]
    pub role: PromptRole,
    pub text: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PromptRole {
    #[default]
    User,
    Assistant,
}

/// A resource: inline `text`, inline base64 `blob`, or fetched from `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSpec {
    pub uri: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Base64 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Fetched with GET on every read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<ResourceHttp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceHttp {
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

/// An upstream MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    /// A Kubernetes object name (lowercase letters, digits, `-` and `.`); the default name prefix.
    pub name: String,
    pub transport: Transport,
    /// Endpoint for `streamable-http` (e.g. `http://svc:8080/mcp`) and `sse` (e.g. `http://svc:8080/sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Extra request headers for HTTP transports (e.g. API keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Program to run for `stdio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment of the `stdio` child, added to the gateway's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<NameValue>,
    /// Working directory of the `stdio` child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Replaces `<name><separator>` as this server's prefix; `""` exposes names unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Per-request timeout; defaults to `gateway.defaultTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    /// How long connecting (including starting a child and the handshake) may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: DurationSpec,
    /// Which protocol lifecycle to speak to the server.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: ProtocolPreference,
    /// List the server's tools, prompts and resources on their own; `false`
    /// for a server reached only through the groups it is a member of.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub expose: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub circuit_breaker: CircuitBreakerSettings,
    /// Run the server only while it is used (MCPServer `replicas: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_to_zero: Option<ScaleToZero>,
}

fn is_true(value: &bool) -> bool {
    *value
}

fn default_connect_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(60))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Streamable HTTP (either protocol era).
    StreamableHttp,
    /// The 2024-11-05 HTTP+SSE transport.
    Sse,
    /// A child process speaking over stdin/stdout.
    Stdio,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::StreamableHttp => "streamable-http",
            Transport::Sse => "sse",
            Transport::Stdio => "stdio",
        })
    }
}

/// Protocol lifecycle towards an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProtocolPreference {
    /// Try the stateless 2026-07-28 `server/discover`, fall back to `initialize`.
    #[default]
    Auto,
    /// Always use the `initialize` handshake (revisions up to 2025-11-25).
    Legacy,
    /// Only the stateless 2026-07-28 revision.
    Modern,
}

/// A duration written as `<number><unit>` with unit `ms`, `s`, `m` or `h`, e.g. `30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like 500ms, 30s, 5m or 1h"))?;
        let duration = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            _ => {
                return Err(format!(
                    "`{text}` is not a duration like 500ms, 30s, 5m or 1h"
                ));
            }
        };
        Ok(DurationSpec(duration))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DurationSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(ms|s|m|h)$",
            "description": "A duration such as 500ms, 30s, 5m or 1h."
        })
    }
}

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid gateway config: {message}")]
    Parse { path: String, message: String },
    #[error("{path} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid { path: String, problems: Vec<String> },
}

impl GatewayConfig {
    /// An empty config (no tools, no servers) with all defaults.
    pub fn empty() -> Self {
        Self {
            api_version: ApiVersion::V1Alpha1,
            kind: Kind::GatewayConfig,
            gateway: GatewaySettings::default(),
            naming: Naming::default(),
            redis: None,
            rate_limit: None,
            auth: None,
            tools: Vec::new(),
            prompts: Vec::new(),
            resources: Vec::new(),
            servers: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// Reads and validates a config file (YAML, of which JSON is a subset).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: GatewayConfig =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })
        }
    }

    /// Serialises the config as YAML (what the operator writes into a ConfigMap).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a GatewayConfig always serialises")
    }

    /// Every reason this config cannot be served, each prefixed with where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let g = &self.gateway;
        if !g.path.starts_with('/') || g.path.len() < 2 {
            problems.push(format!(
                "gateway.path: `{}` must start with / and name a path, e.g. /mcp",
                g.path
            ));
        }
        if g.page_size == 0 {
            problems.push("gateway.pageSize: must be at least 1".into());
        }
        if g.max_request_body_bytes == 0 {
            problems.push("gateway.maxRequestBodyBytes: must be at least 1".into());
        }
        if g.default_timeout.0.is_zero() {
            problems.push("gateway.defaultTimeout: must be longer than 0".into());
        }
        if g.session_idle_timeout.0.is_zero() {
            problems.push("gateway.sessionIdleTimeout: must be longer than 0".into());
        }
        for (i, host) in g.allowed_hosts.iter().enumerate() {
            if host.trim().is_empty() {
                problems.push(format!("gateway.allowedHosts[{i}]: empty host"));
            }
        }
        for (i, origin) in g.allowed_origins.iter().enumerate() {
            if origin != "null" && !origin.contains("://") {
                problems.push(format!(
                    "gateway.allowedOrigins[{i}]: `{origin}` needs a scheme, e.g. https://{origin}"
                ));
            }
        }
        if !self.naming.separator.chars().all(is_tool_name_char) {
            problems.push(format!(
                "naming.separator: `{}` may only contain A-Z a-z 0-9 _ - .",
                self.naming.separator
            ));
        }

        if let Some(redis) = &self.redis {
            redis.problems(&mut problems);
        }
        if let Some(limits) = &self.rate_limit {
            limits.problems(&mut problems);
        }
        if let Some(auth) = &self.auth {
            auth.problems(&mut problems);
        }

        let mut tool_names = HashSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            let at = format!("tools[{i}] ({})", tool.name);
            if let Err(why) = check_tool_name(&tool.name) {
                problems.push(format!("{at}.name: {why}"));
            }
            if !tool_names.insert(tool.name.as_str()) {
                problems.push(format!("{at}.name: another tool already has this name"));
            }
            check_http_url(
                &tool.backend.url,
                &format!("{at}.backend.url"),
                &mut problems,
            );
            check_name_values(
                &tool.backend.headers,
                &format!("{at}.backend.headers"),
                &mut problems,
            );
            check_timeout(
                tool.backend.timeout,
                &format!("{at}.backend.timeout"),
                &mut problems,
            );
            for (field, schema) in [
                ("inputSchema", &tool.input_schema),
                ("outputSchema", &tool.output_schema),
            ] {
                if let Some(schema) = schema {
                    if let Err(why) = jsonschema::validator_for(&Value::Object(schema.clone())) {
                        problems.push(format!("{at}.{field}: not a usable JSON Schema: {why}"));
                    }
                    if schema.get("type").is_some_and(|t| t != "object") {
                        problems.push(format!(
                            "{at}.{field}: must describe an object (\"type\": \"object\")"
                        ));
                    }
                }
            }
        }

        let mut prompt_names = HashSet::new();
        for (i, prompt) in self.prompts.iter().enumerate() {
            let at = format!("prompts[{i}] ({})", prompt.name);
            if prompt.name.trim().is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            }
            if !prompt_names.insert(prompt.name.as_str()) {
                problems.push(format!("{at}.name: another prompt already has this name"));
            }
            if prompt.messages.is_empty() {
                problems.push(format!(
                    "{at}.messages: a prompt needs at least one message"
                ));
            }
            let declared: HashSet<&str> =
                prompt.arguments.iter().map(|a| a.name.as_str()).collect();
            for (j, message) in prompt.messages.iter().enumerate() {
                for placeholder in crate::declared::placeholders(&message.text) {
                    if !declared.contains(placeholder) {
                        problems.push(format!(
                            "{at}.messages[{j}]: {{{{{placeholder}}}}} is not one of the prompt's arguments"
                        ));
                    }
                }
            }
        }

        let mut uris = HashSet::new();
        for (i, resource) in self.resources.iter().enumerate() {
            let at = format!("resources[{i}] ({})", resource.uri);
            if url::Url::parse(&resource.uri).is_err() {
                problems.push(format!(
                    "{at}.uri: not an absolute URI such as docs://readme"
                ));
            }
            if !uris.insert(resource.uri.as_str()) {
                problems.push(format!("{at}.uri: another resource already has this URI"));
            }
            let sources = [
                resource.text.is_some(),
                resource.blob.is_some(),
                resource.http.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                problems.push(format!("{at}: set exactly one of text, blob and http"));
            }
            if let Some(blob) = &resource.blob {
                use base64::Engine;
                if base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .is_err()
                {
                    problems.push(format!("{at}.blob: not valid base64"));
                }
            }
            if let Some(http) = &resource.http {
                check_http_url(&http.url, &format!("{at}.http.url"), &mut problems);
                check_name_values(&http.headers, &format!("{at}.http.headers"), &mut problems);
                check_timeout(http.timeout, &format!("{at}.http.timeout"), &mut problems);
            }
        }

        let mut server_names = HashSet::new();
        for (i, server) in self.servers.iter().enumerate() {
            let at = format!("servers[{i}] ({})", server.name);
            if !is_server_name(&server.name) {
                problems.push(format!(
                    "{at}.name: use 1-253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
                ));
            }
            if !server_names.insert(server.name.as_str()) {
                problems.push(format!("{at}.name: another server already has this name"));
            }
            if let Some(prefix) = &server.prefix
                && !prefix.chars().all(is_tool_name_char)
            {
                problems.push(format!("{at}.prefix: may only contain A-Z a-z 0-9 _ - ."));
            }
            match server.transport {
                Transport::StreamableHttp | Transport::Sse => {
                    match &server.url {
                        Some(url) => check_http_url(url, &format!("{at}.url"), &mut problems),
                        None => problems.push(format!(
                            "{at}.url: required for transport {}",
                            server.transport
                        )),
                    }
                    if server.command.is_some()
                        || !server.args.is_empty()
                        || !server.env.is_empty()
                        || server.cwd.is_some()
                    {
                        problems.push(format!(
                            "{at}: command, args, env and cwd only apply to transport stdio"
                        ));
                    }
                    check_name_values(&server.headers, &format!("{at}.headers"), &mut problems);
                }
                Transport::Stdio => {
                    if server
                        .command
                        .as_deref()
                        .is_none_or(|c| c.trim().is_empty())
                    {
                        problems.push(format!("{at}.command: required for transport stdio"));
                    }
                    if server.url.is_some() || !server.headers.is_empty() {
                        problems.push(format!(
                            "{at}: url and headers only apply to HTTP transports"
                        ));
                    }
                    check_name_values(&server.env, &format!("{at}.env"), &mut problems);
                }
            }
            if server.transport == Transport::Sse && server.protocol == ProtocolPreference::Modern {
                problems.push(format!(
                    "{at}.protocol: the sse transport predates the 2026-07-28 revision; use auto or legacy"
                ));
            }
            check_timeout(server.timeout, &format!("{at}.timeout"), &mut problems);
            check_timeout(
                Some(server.connect_timeout),
                &format!("{at}.connectTimeout"),
                &mut problems,
            );
        }
        self.routing_problems(&mut problems);
        problems
    }

    /// The prefix a server's names get, or `""`.
    pub fn prefix_for(&self, server: &ServerSpec) -> String {
        match &server.prefix {
            Some(prefix) => prefix.clone(),
            None if self.naming.prefix => format!("{}{}", server.name, self.naming.separator),
            None => String::new(),
        }
    }

    /// A digest of the config, for status and logs.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let canonical = serde_json::to_vec(self).expect("a GatewayConfig always serialises");
        hex::encode(&sha2::Sha256::digest(&canonical)[..8])
    }
}

fn is_tool_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// MCP tool names: 1-128 characters of `A-Z a-z 0-9 _ - .`.
pub fn check_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!("`{name}` must be 1-128 characters long"));
    }
    if !name.chars().all(is_tool_name_char) {
        return Err(format!("`{name}` may only contain A-Z a-z 0-9 _ - ."));
    }
    Ok(())
}

fn is_server_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(ok_char)
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
}

fn check_http_url(url: &str, at: &str, problems: &mut Vec<String>) {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
        _ => problems.push(format!(
            "{at}: `{url}` is not an absolute http:// or https:// URL"
        )),
    }
}

fn check_name_values(values: &[NameValue], at: &str, problems: &mut Vec<String>) {
    for (i, value) in values.iter().enumerate() {
        if value.name.trim().is_empty() {
            problems.push(format!("{at}[{i}].name: must not be empty"));
        }
        if value.value.is_some() == value.value_from_env.is_some() {
            problems.push(format!(
                "{at}[{i}] ({}): set exactly one of value and valueFromEnv",
                value.name
            ));
        }
    }
}

fn check_timeout(timeout: Option<DurationSpec>, at: &str, problems: &mut Vec<String>) {
    if timeout.is_some_and(|t| t.0.is_zero()) {
        problems.push(format!("{at}: must be longer than 0"));
    }
}

/// The JSON Schema of the config file, as committed in `gateway-config.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(GatewayConfig);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, duration) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
        ] {
            let parsed = DurationSpec::parse(text).unwrap();
            assert_eq!(parsed.0, duration);
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["", "s", "10", "1.5s", "-1s", "10d"] {
            assert!(DurationSpec::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = GatewayConfig::parse(
            "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\n",
            "test",
        )
        .unwrap();
        assert_eq!(config, GatewayConfig::empty());
        assert_eq!(config.gateway.page_size, 100);
        assert!(config.naming.prefix);
    }

    #[test]
    fn wrong_version_and_unknown_fields_are_rejected() {
        let err = GatewayConfig::parse(
            "apiVersion: gateway.mcp-hangar.io/v9\nkind: GatewayConfig\n",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("v1alpha1"), "{err}");
        let err = GatewayConfig::parse(
            "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\ncache: {url: x}\n",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("cache"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
tools:
  - name: "bad name"
    backend: {url: "ftp://x"}
  - name: ok
    inputSchema: {type: string}
    backend: {url: "http://x", headers: [{name: A}]}
prompts:
  - name: p
    messages: [{text: "hi {{who}}"}]
resources:
  - uri: "not a uri"
    name: r
  - uri: docs://x
    name: x
    text: a
    blob: "!!"
servers:
  - name: Upper
    transport: stdio
  - name: web
    transport: streamable-http
    command: x
"#;
        let err = GatewayConfig::parse(text, "cfg.yaml").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let all = problems.join("\n");
        for expected in [
            "tools[0] (bad name).name",
            "tools[0] (bad name).backend.url",
            "tools[1] (ok).inputSchema: must describe an object",
            "tools[1] (ok).backend.headers[0] (A): set exactly one",
            "prompts[0] (p).messages[0]: {{who}} is not one of the prompt's arguments",
            "resources[0] (not a uri).uri",
            "resources[0] (not a uri): set exactly one of text, blob and http",
            "resources[1] (docs://x): set exactly one",
            "resources[1] (docs://x).blob: not valid base64",
            "servers[0] (Upper).name",
            "servers[0] (Upper).command: required for transport stdio",
            "servers[1] (web).url: required for transport streamable-http",
            "servers[1] (web): command, args, env and cwd only apply to transport stdio",
        ] {
            assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
        }
    }

    #[test]
    fn prefixes_follow_naming() {
        let mut config = GatewayConfig::empty();
        let server = ServerSpec {
            name: "time".into(),
            transport: Transport::Stdio,
            url: None,
            headers: vec![],
            command: Some("x".into()),
            args: vec![],
            env: vec![],
            cwd: None,
            prefix: None,
            timeout: None,
            connect_timeout: default_connect_timeout(),
            protocol: ProtocolPreference::Auto,
            expose: true,
            circuit_breaker: CircuitBreakerSettings::default(),
            scale_to_zero: None,
        };
        assert_eq!(config.prefix_for(&server), "time_");
        config.naming.prefix = false;
        assert_eq!(config.prefix_for(&server), "");
        let custom = ServerSpec {
            prefix: Some("t_".into()),
            ..server
        };
        assert_eq!(config.prefix_for(&custom), "t_");
    }

    #[test]
    fn yaml_round_trips() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
tools:
  - name: echo
    inputSchema: {type: object, properties: {text: {type: string}}}
    backend: {url: "http://127.0.0.1:9/echo", method: GET, timeout: 2s}
servers:
  - name: time
    transport: stdio
    command: mcp-server-time
"#;
        let config = GatewayConfig::parse(text, "t").unwrap();
        let again = GatewayConfig::parse(&config.to_yaml(), "t").unwrap();
        assert_eq!(config, again);
        assert_eq!(config.digest(), again.digest());
    }
}
