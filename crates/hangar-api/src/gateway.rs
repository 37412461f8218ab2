//! `MCPGateway`: an HA gateway deployment serving selected tools, prompts and
//! resources and federating selected MCPServers and MCPServerGroups.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, SecretKeySelector, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, Duration, IngressSpec, LabelSelector, NetworkSpec, ServiceType};
use crate::curation::{NameFilter, SourceCuration, ToolCuration};
use crate::tool_search::ToolSearchSpec;

/// An MCP gateway: one endpoint for the tools, prompts and resources selected by
/// `toolSelector` and the servers and groups selected by `serverSelector`.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPGateway",
    plural = "mcpgateways",
    shortname = "mcpgw",
    category = "mcp",
    namespaced,
    status = "MCPGatewayStatus",
    derive = "PartialEq",
    doc = "An HA MCP gateway serving selected tools, prompts and resources and federating selected servers.",
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Tools", type_ = "integer", json_path = ".status.tools"),
    printcolumn(name = "Servers", type_ = "integer", json_path = ".status.servers"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MCPGatewaySpec {
    /// Gateway pods. More than one needs Redis for session-based clients.
    #[serde(default = "default_gateway_replicas")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.replicas must not be negative"))]
    pub replicas: i32,
    /// Gateway image; the operator's own image when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Port the gateway serves MCP (and metrics) on.
    #[serde(default = "default_gateway_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("spec.port must be between 1 and 65535"))]
    pub port: i32,
    /// Selects MCPTools, MCPPrompts and MCPResources in this namespace. Nothing when absent; everything when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_selector: Option<LabelSelector>,
    /// Selects MCPServers and MCPServerGroups in this namespace. Nothing when absent; everything when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_selector: Option<LabelSelector>,
    /// How federated names are made unique.
    #[serde(default)]
    pub tool_naming: ToolNaming,
    /// Which tools clients see, by the names the gateway exposes (with
    /// prefixes), and overrides of single tools. A tool left out is neither
    /// listed nor callable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolCuration>,
    /// Which prompts clients see, by exposed name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<NameFilter>,
    /// Which resources clients see, by URI (and resource templates by URI template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uris: Option<NameFilter>,
    /// Curation of particular selected MCPServers and MCPServerGroups, in
    /// their own names (before the prefix), applied before `tools`, `prompts`
    /// and `resourceUris`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub servers: Vec<SourceCuration>,
    /// Lists two meta-tools instead of every tool, for catalogs too large to
    /// list: `search_tools` (the tools best matching a query, with their
    /// definitions) and `call_tool` (calls one by name, as `tools/call` would).
    /// Every tool is listed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_search: Option<ToolSearchSpec>,
    /// Session-based (pre-2026-07-28) client sessions.
    #[serde(default)]
    pub sessions: SessionSpec,
    /// Shared state for several replicas: sessions, event replay, discovery cache, rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Inbound authentication and per-tool authorization. Anyone may call when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// An audit record of every `tools/call`, `prompts/get` and `resources/read`
    /// (denied and rate-limited ones too), as JSON lines on the gateway's standard
    /// output, apart from its logs. None when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSpec>,
    /// Extra `Host` values accepted besides the Service's and Ingress's names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the gateway; requests with any other `Origin` are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Proxies in front of the gateway (an Ingress controller, a load balancer),
    /// as addresses or CIDRs. From them alone the caller's address is taken from
    /// `Forwarded` or `X-Forwarded-For`; it keys `rateLimit.perClient` for callers
    /// without a token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new("self.all(p, isIP(p) || isCIDR(p))").message("each entry must be an IP address or a CIDR such as 10.0.0.0/8"))]
    #[schemars(length(max = 32), inner(length(max = 64)))]
    pub trusted_proxies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Network access of the gateway's pods (a NetworkPolicy `<name>`):
    /// clients reach its port from anywhere unless `ingress` is given, then
    /// only those peers; `egress` limits where it connects (its servers and
    /// managed Redis stay allowed; list the API server's address if it wakes
    /// servers that scale to zero). The servers it federates admit it
    /// (NetworkPolicy `<name>-servers`), and its managed Redis admits only it.
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub service_type: ServiceType,
    /// CPU and memory of each gateway pod. Safe defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

fn default_gateway_replicas() -> i32 {
    2
}
fn default_gateway_port() -> i32 {
    8080
}

/// Naming of federated tools, prompts and resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolNaming {
    /// Prefix every federated name with its server's (or group's) name.
    #[serde(default = "default_true")]
    pub prefix: bool,
    /// Between prefix and name.
    #[serde(default = "default_separator")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_.-]+$')").message("spec.toolNaming.separator may only contain letters, digits, '_', '-', '.'"))]
    #[schemars(length(min = 1, max = 4))]
    pub separator: String,
    /// What to do when two sources offer the same name.
    #[serde(default)]
    pub on_conflict: ConflictPolicy,
}

impl Default for ToolNaming {
    fn default() -> Self {
        Self {
            prefix: true,
            separator: default_separator(),
            on_conflict: ConflictPolicy::default(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_separator() -> String {
    "_".into()
}

/// Name clash handling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConflictPolicy {
    /// Refuse the configuration and report the clash in status.
    #[default]
    Reject,
    /// Keep the first (declared items first, then servers in name order) and report the others.
    KeepFirst,
}

/// What audit records hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    /// Put each call's arguments in its record; otherwise only their SHA-256.
    #[serde(default)]
    pub include_arguments: bool,
}

/// Session settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    /// A session with no request for this long is closed.
    #[serde(default = "default_session_idle")]
    pub idle_timeout: Duration,
}

impl Default for SessionSpec {
    fn default() -> Self {
        Self {
            idle_timeout: default_session_idle(),
        }
    }
}

fn default_session_idle() -> Duration {
    Duration::new("30m")
}

/// Redis for shared gateway state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.url) ? 1 : 0) + (has(self.urlFrom) ? 1 : 0) + (self.managed ? 1 : 0) == 1").message("spec.redis needs exactly one of url, urlFrom or managed: true"))]
#[x_kube(validation = Rule::new("!self.managed || self.mode == 'Standalone'").message("spec.redis.managed runs a single Redis; mode Cluster needs your own Redis Cluster").field_path(".mode"))]
#[x_kube(validation = Rule::new("!self.managed || !has(self.passwordFrom)").message("spec.redis.passwordFrom is for your own Redis; a managed Redis gets a generated password").field_path(".passwordFrom"))]
#[x_kube(validation = Rule::new("!has(self.tls) || !has(self.url) || self.url.startsWith('rediss://')").message("spec.redis.tls is for a managed Redis or a rediss:// URL").field_path(".tls"))]
pub struct RedisSpec {
    /// `redis://` or `rediss://` URL (for Cluster: any node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('redis://') || self.startsWith('rediss://')").message("spec.redis.url must start with redis:// or rediss://"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// The URL, read from a Secret (it may carry a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from: Option<SecretKeySelector>,
    /// The password the gateway authenticates with, from a Secret (with `url`
    /// or `urlFrom`, for a URL that carries none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from: Option<SecretKeySelector>,
    /// Have the operator run a single-replica Redis next to the gateway, with
    /// a generated password (Secret `<gateway>-redis`), protected mode on, and
    /// a NetworkPolicy admitting only the gateway's pods.
    #[serde(default)]
    pub managed: bool,
    /// TLS: a managed Redis serves `rediss://` with this certificate; for
    /// your own `rediss://` Redis, the CA the gateway trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RedisTls>,
    #[serde(default)]
    pub mode: RedisMode,
    /// Prefix of every key, so several gateways can share one Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

/// Where Redis's TLS material is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisTls {
    /// A Secret in this namespace (e.g. a cert-manager `kubernetes.io/tls`
    /// Secret) with `ca.crt`, the CA the gateway trusts for Redis; for a
    /// managed Redis also `tls.crt` and `tls.key`, a certificate valid for
    /// `<gateway>-redis.<namespace>.svc`.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
}

/// Redis topologies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RedisMode {
    #[default]
    Standalone,
    Cluster,
}

/// Token-bucket rate limits, enforced across all replicas together (with Redis).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    /// Limit per client identity (token subject, or address when unauthenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_client: Option<RateLimit>,
    /// Limit per tool, for all clients together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_tool: Option<RateLimit>,
    /// Limits for particular tools (by the name clients see), replacing `perTool` for them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 256))]
    pub tools: BTreeMap<String, RateLimit>,
}

/// `requests` per `period`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    #[x_kube(validation = Rule::new("self >= 1").message("requests must be at least 1"))]
    pub requests: i32,
    #[serde(default = "default_rate_period")]
    pub period: Duration,
}

fn default_rate_period() -> Duration {
    Duration::new("1m")
}

/// Inbound authentication (MCP authorization spec) and per-tool authorization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.bearerTokens) || has(self.oidc)").message("spec.auth needs bearerTokens, oidc, or both"))]
pub struct AuthSpec {
    /// Static bearer tokens from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_tokens: Option<BearerTokens>,
    /// OIDC / OAuth 2.1 access tokens (JWTs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,
    /// The resource identifier in the protected-resource metadata (RFC 9728); the gateway URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Which callers may see and use which tools, prompts and resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSpec>,
}

/// Static tokens: a Secret key holding lines of `token` or `token subject [group,group]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BearerTokens {
    pub secret_ref: SecretKeySelector,
}

/// An OIDC issuer whose JWT access tokens are accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcSpec {
    /// Issuer URL; its discovery document names the JWKS.
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("spec.auth.oidc.issuer must be an http(s) URL"))]
    #[schemars(length(max = 2048))]
    pub issuer: String,
    /// Accepted `aud` values; at least one must match.
    #[schemars(length(min = 1))]
    pub audiences: Vec<String>,
    /// JWKS URL, when not taken from the issuer's discovery document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("spec.auth.oidc.jwksUrl must be an http(s) URL"))]
    #[schemars(length(max = 2048))]
    pub jwks_url: Option<String>,
    /// Tolerated clock difference for `exp` and `nbf`.
    #[serde(default = "default_clock_skew")]
    pub clock_skew: Duration,
    /// Claim holding the caller's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_clock_skew() -> Duration {
    Duration::new("60s")
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// Per-tool authorization: rules granting callers access to names (globs with `*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationSpec {
    /// What a caller matched by no rule may do.
    #[serde(default)]
    pub default: AuthorizationDefault,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub rules: Vec<AuthorizationRule>,
}

/// The access of callers no rule matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AuthorizationDefault {
    /// Everything is allowed.
    Allow,
    /// Nothing is visible or callable.
    #[default]
    Deny,
}

/// A grant: callers matching any of `subjects`, `groups` or `scopes` may see and use the listed names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.subjects) && size(self.subjects) > 0) || (has(self.groups) && size(self.groups) > 0) || (has(self.scopes) && size(self.scopes) > 0)").message("an authorization rule needs subjects, groups or scopes to match callers"))]
pub struct AuthorizationRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<String>,
    /// Tool names (as clients see them); `*` matches any run of characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub tools: Vec<String>,
    /// Prompt names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub prompts: Vec<String>,
    /// Resource URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub resources: Vec<String>,
}

/// What the operator observed about a gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPGatewayStatus {
    /// In-cluster MCP endpoint (the Ingress URL when there is one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub tools: i32,
    #[serde(default)]
    pub prompts: i32,
    #[serde(default)]
    pub resources: i32,
    /// Federated MCPServers.
    #[serde(default)]
    pub servers: i32,
    /// Federated MCPServerGroups.
    #[serde(default)]
    pub groups: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Hash of the compiled configuration the pods serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
