//! `MCPServer`: one managed MCP server, a container workload or a remote endpoint.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvFromSource, EnvVar, LocalObjectReference, PodSecurityContext,
    ResourceRequirements, SecurityContext, Toleration, Volume, VolumeMount,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    Condition, DURATION_PATTERN, Duration, HttpHeader, IngressSpec, InvalidDuration, NetworkSpec,
    ServiceType, Time,
};
use crate::upstream_auth::UpstreamAuthSpec;

/// One managed MCP server.
///
/// In `container` mode the operator runs it as a Deployment and Service; in
/// `remote` mode it only probes and federates an endpoint that runs elsewhere.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "mcp-hangar.io",
    version = "v1alpha1",
    kind = "MCPServer",
    plural = "mcpservers",
    shortname = "mcps",
    category = "mcp",
    namespaced,
    status = "MCPServerStatus",
    derive = "PartialEq",
    doc = "One managed MCP server: a container workload or a remote endpoint.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Image", type_ = "string", json_path = ".status.image"),
    printcolumn(name = "Tag", type_ = "string", json_path = ".status.tag"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Tools", type_ = "integer", json_path = ".status.tools.count"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'container' || has(self.image) || has(self.registry)").message("spec.image is required when spec.mode is container (or reference a catalog entry with spec.registry)").field_path(".image"))]
#[x_kube(validation = Rule::new("self.mode != 'remote' || has(self.endpoint) || has(self.registry)").message("spec.endpoint is required when spec.mode is remote (or reference a catalog entry with spec.registry)").field_path(".endpoint"))]
#[x_kube(validation = Rule::new("self.mode == 'container' || !has(self.image)").message("spec.image is only used when spec.mode is container").field_path(".image"))]
#[x_kube(validation = Rule::new("self.mode == 'remote' || !has(self.endpoint)").message("spec.endpoint is only used when spec.mode is remote").field_path(".endpoint"))]
#[x_kube(validation = Rule::new("self.mode != 'remote' || self.transport != 'stdio'").message("spec.transport stdio needs a container; a remote server speaks streamable-http or sse").field_path(".transport"))]
#[x_kube(validation = Rule::new("!has(self.tag) || !has(self.image) || (!self.image.contains('@') && !self.image.matches(':[^/]*$'))").message("spec.image carries a tag or digest and spec.tag is set too: give it in one of them").field_path(".tag"))]
#[x_kube(validation = Rule::new("self.mode != 'container' || self.transport != 'stdio' || (has(self.command) && size(self.command) > 0) || has(self.registry)").message("spec.command is required for spec.transport stdio: it is the program the bridge runs").field_path(".command"))]
pub struct MCPServerSpec {
    /// `container`: run the server as a workload. `remote`: probe and federate an endpoint that runs elsewhere.
    #[serde(default)]
    pub mode: ServerMode,

    /// Container image, e.g. `ghcr.io/acme/github-mcp` or `ghcr.io/acme/github-mcp:1.2`
    /// (a tag or digest here is used as is). Required in container mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Image tag, or a digest such as `sha256:…`, for an image given without one;
    /// `latest` when neither says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub tag: Option<String>,
    /// Overrides the image's entrypoint. For stdio servers, the program the bridge runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments to the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables, including `valueFrom.secretKeyRef`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Environment variables from whole ConfigMaps or Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Port the MCP server listens on (for stdio servers: the bridge).
    #[serde(default = "default_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("spec.port must be between 1 and 65535"))]
    pub port: i32,
    /// HTTP path of the MCP endpoint.
    #[serde(default = "default_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("spec.path must start with /"))]
    #[schemars(length(max = 1024))]
    pub path: String,
    /// How the server speaks MCP. `stdio` servers are bridged to Streamable HTTP in the pod.
    #[serde(default)]
    pub transport: Transport,
    /// Desired replicas. 0 means cold: started on the first request through a gateway.
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self >= 0").message("spec.replicas must not be negative"))]
    pub replicas: i32,
    /// With `replicas: 0`, how long a woken server may sit without requests before it scales back to zero.
    #[serde(default = "default_idle_ttl", rename = "idleTTL")]
    pub idle_ttl: Duration,
    /// With `replicas: 0`, how long a call through a gateway waits for the server to start and
    /// answer before it fails with a timeout error.
    #[serde(default = "default_wake_timeout")]
    pub wake_timeout: Duration,
    /// CPU and memory. Safe defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Kind of Service in front of the workload.
    #[serde(default)]
    pub service_type: ServiceType,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub volume_mounts: Vec<VolumeMount>,
    /// Configuration files, written to a ConfigMap and mounted into the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ServerConfigFiles>,
    /// Replaces the restricted pod security context Hangar applies by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// Replaces the restricted container security context Hangar applies by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// An Ingress in front of the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// A HorizontalPodAutoscaler; it then owns the replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Network access of the pods (a NetworkPolicy `<name>`). Without it
    /// only the gateways that federate the server (their own NetworkPolicy)
    /// and the operator's health checks reach its MCP port, and it may
    /// connect anywhere; `ingress` admits more peers, `egress` limits where
    /// it connects (the "permission profile").
    #[serde(default)]
    pub network: NetworkSpec,

    /// Remote mode: the MCP endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("spec.endpoint must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    /// Headers sent with every request to the server (e.g. API keys from Secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HttpHeader>,
    /// Tokens and identity gateways present to the server (streamable-http), beyond `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UpstreamAuthSpec>,

    /// Fill image, command, args and env (or the endpoint) from an MCPRegistry entry.
    /// Fields set here win over the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryReference>,

    /// MCP health checks: a real MCP exchange, not a TCP probe.
    #[serde(default)]
    pub health_check: HealthCheckSpec,
    /// Stop sending calls to a failing server for a while.
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerSpec,
    /// How many session-based clients of each gateway get a session of their own with the
    /// server, so that its roots requests, log messages and per-session state are theirs alone
    /// (over stdio, one more child process each). 0: a gateway's clients share its one session.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(max = 1024))]
    pub client_sessions: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn default_port() -> i32 {
    8080
}
fn default_path() -> String {
    "/mcp".into()
}
fn default_replicas() -> i32 {
    1
}
fn default_idle_ttl() -> Duration {
    Duration::new("5m")
}
fn default_wake_timeout() -> Duration {
    Duration::new("2m")
}

/// The tag an image runs with when neither `spec.image` nor `spec.tag` names one.
pub const DEFAULT_TAG: &str = "latest";

impl MCPServerSpec {
    /// The image the pods run: repository and version (tag, digest, or
    /// `tag@digest`), as `kubectl get` shows them. `None` without an image.
    pub fn effective_image(&self) -> Option<(&str, &str)> {
        let image = self.image.as_deref()?;
        Some(match (self.tag.as_deref(), split_image(image)) {
            (Some(tag), _) => (image, tag),
            (None, (repository, version)) => (repository, version.unwrap_or(DEFAULT_TAG)),
        })
    }

    /// The image reference the pods run, e.g. `ghcr.io/acme/tools:1.2` or
    /// `ghcr.io/acme/tools@sha256:…`. `None` without an image.
    pub fn image_reference(&self) -> Option<String> {
        let image = self.image.as_deref()?;
        Some(match self.tag.as_deref() {
            // A digest (`sha256:…`): tags cannot hold a colon.
            Some(digest) if digest.contains(':') && !digest.contains('@') => {
                format!("{image}@{digest}")
            }
            Some(tag) => format!("{image}:{tag}"),
            // Written whole in spec.image: used as is.
            None if split_image(image).1.is_some() => image.to_string(),
            None => format!("{image}:{DEFAULT_TAG}"),
        })
    }
}

/// An image reference split into repository and version (the tag, the
/// digest, or `tag@digest`); the version is `None` when it names neither. A
/// colon in the registry host (`localhost:5000/tools`) is not a tag.
pub fn split_image(reference: &str) -> (&str, Option<&str>) {
    let name_end = reference.find('@').unwrap_or(reference.len());
    let last_component = reference[..name_end]
        .rfind('/')
        .map_or(0, |slash| slash + 1);
    match reference[last_component..name_end].find(':') {
        Some(colon) => {
            let at = last_component + colon;
            (&reference[..at], Some(&reference[at + 1..]))
        }
        None if name_end < reference.len() => {
            (&reference[..name_end], Some(&reference[name_end + 1..]))
        }
        None => (reference, None),
    }
}

/// Where an MCP server runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServerMode {
    #[default]
    Container,
    Remote,
}

impl ServerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Container => "container",
            ServerMode::Remote => "remote",
        }
    }
}

/// How a server speaks MCP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    #[default]
    StreamableHttp,
    /// The legacy HTTP+SSE transport of protocol 2024-11-05.
    Sse,
    Stdio,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable-http",
            Transport::Sse => "sse",
            Transport::Stdio => "stdio",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Configuration files for the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerConfigFiles {
    /// File name → content.
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[-._a-zA-Z0-9]+$'))").message("file names may only contain letters, digits, '-', '_' and '.'"))]
    pub files: BTreeMap<String, String>,
    /// Directory the files appear in.
    #[serde(default = "default_config_mount_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must be an absolute path"))]
    #[schemars(length(max = 1024))]
    pub mount_path: String,
}

fn default_config_mount_path() -> String {
    "/etc/mcp".into()
}

/// HorizontalPodAutoscaler settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("spec.autoscaling.minReplicas must not exceed maxReplicas").field_path(".minReplicas"))]
pub struct AutoscalingSpec {
    #[serde(default = "default_min_replicas")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub min_replicas: i32,
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub max_replicas: i32,
    #[serde(default = "default_cpu_target")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 100").message("must be a percentage between 1 and 100"))]
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: i32,
}

fn default_min_replicas() -> i32 {
    1
}
fn default_cpu_target() -> i32 {
    80
}

/// A reference to an entry of an MCPRegistry catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryReference {
    /// Name of the MCPRegistry in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Server name in the catalog, e.g. `io.github.acme/weather`.
    #[schemars(length(min = 1, max = 256))]
    pub server: String,
    /// Version of the entry, or `latest`.
    #[serde(default = "default_registry_version")]
    pub version: String,
}

fn default_registry_version() -> String {
    "latest".into()
}

/// MCP health checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(format!("!self.timeout.matches('{DURATION_PATTERN}') || !self.interval.matches('{DURATION_PATTERN}') || duration(self.timeout) <= duration(self.interval)")).message("spec.healthCheck.timeout must not be longer than spec.healthCheck.interval").field_path(".timeout"))]
pub struct HealthCheckSpec {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Time between checks.
    #[serde(default = "default_health_interval")]
    pub interval: Duration,
    /// How long one check may take.
    #[serde(default = "default_health_timeout")]
    pub timeout: Duration,
    /// Consecutive failed checks before the server is declared Dead.
    #[serde(default = "default_failure_threshold")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub failure_threshold: i32,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: default_health_interval(),
            timeout: default_health_timeout(),
            failure_threshold: default_failure_threshold(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_health_interval() -> Duration {
    Duration::new("30s")
}
fn default_health_timeout() -> Duration {
    Duration::new("5s")
}
fn default_failure_threshold() -> i32 {
    3
}

/// Circuit breaker: after `failureThreshold` consecutive failures calls fail fast
/// for `resetTimeout`, then one trial call decides whether the circuit closes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerSpec {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_breaker_threshold")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub failure_threshold: i32,
    #[serde(default = "default_reset_timeout")]
    pub reset_timeout: Duration,
}

impl Default for CircuitBreakerSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: default_breaker_threshold(),
            reset_timeout: default_reset_timeout(),
        }
    }
}

impl CircuitBreakerSpec {
    /// The breaker these settings describe: the one conversion, for the
    /// operator's health checks and the gateway's calls alike.
    pub fn settings(&self) -> Result<hangar_circuit::Settings, InvalidDuration> {
        Ok(hangar_circuit::Settings {
            enabled: self.enabled,
            failure_threshold: u32::try_from(self.failure_threshold.max(1)).unwrap_or(1),
            reset_timeout: self.reset_timeout.to_std()?,
        })
    }
}

fn default_breaker_threshold() -> i32 {
    5
}
fn default_reset_timeout() -> Duration {
    Duration::new("30s")
}

/// What the operator observed about an MCPServer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerStatus {
    /// Lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ServerState>,
    /// Replicas that exist (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Replicas that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Label selector of the pods (for the scale subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// In-cluster MCP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The image repository the pods run (from spec.image, or the catalog entry
    /// of spec.registry), without tag or digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The tag or digest the pods run: spec.tag, the one written in spec.image,
    /// the catalog entry's, or `latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// What the server said about itself in the MCP handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_info: Option<ServerInfo>,
    /// The tools the server lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolsStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_health_check: Option<Time>,
    #[serde(default)]
    pub consecutive_failures: i32,
    /// Circuit breaker state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<CircuitState>,
    /// When the circuit last opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_opened_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Lifecycle states: Cold → Initializing → Ready → Degraded → Dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ServerState {
    /// Scaled to zero; started on demand.
    Cold,
    /// Starting: the workload is not available yet, or no health check has passed yet.
    Initializing,
    /// Serving and healthy.
    Ready,
    /// Serving with problems: failed checks below the threshold, or fewer ready replicas than desired.
    Degraded,
    /// Failed: the failure threshold was reached, or pods crash-loop.
    Dead,
}

impl ServerState {
    pub const ALL: [ServerState; 5] = [
        ServerState::Cold,
        ServerState::Initializing,
        ServerState::Ready,
        ServerState::Degraded,
        ServerState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Cold => "Cold",
            ServerState::Initializing => "Initializing",
            ServerState::Ready => "Ready",
            ServerState::Degraded => "Degraded",
            ServerState::Dead => "Dead",
        }
    }
}

impl std::fmt::Display for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `serverInfo` and protocol version from the MCP handshake.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

/// The tools a server lists: how many, and the names of at most the first 100
/// (names longer than 128 bytes are left out), so that a server with many
/// tools cannot grow the object past what etcd stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolsStatus {
    /// Every tool the server lists.
    pub count: i32,
    /// The first tool names, at most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 128)))]
    pub names: Vec<String>,
}

impl ToolsStatus {
    /// Most names kept.
    pub const MAX_NAMES: usize = 100;
    /// Longest name kept, in bytes.
    pub const MAX_NAME_BYTES: usize = 128;

    /// The status of a server listing `names`.
    pub fn of(names: &[String]) -> Self {
        Self {
            count: i32::try_from(names.len()).unwrap_or(i32::MAX),
            names: names
                .iter()
                .filter(|name| name.len() <= Self::MAX_NAME_BYTES)
                .take(Self::MAX_NAMES)
                .cloned()
                .collect(),
        }
    }
}

/// Circuit breaker states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    /// Calls flow.
    #[default]
    Closed,
    /// Calls fail fast.
    Open,
    /// One trial call is allowed through.
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str, tag: Option<&str>) -> MCPServerSpec {
        let mut spec: MCPServerSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        spec.image = Some(image.into());
        spec.tag = tag.map(Into::into);
        spec
    }

    #[test]
    fn an_image_runs_with_the_tag_written_in_it_or_in_spec_tag() {
        let cases = [
            // (spec.image, spec.tag) → (reference run, repository, version)
            (
                ("ghcr.io/acme/tools:latest", None),
                ("ghcr.io/acme/tools:latest", "ghcr.io/acme/tools", "latest"),
            ),
            (
                ("ghcr.io/acme/tools", None),
                ("ghcr.io/acme/tools:latest", "ghcr.io/acme/tools", "latest"),
            ),
            (
                ("ghcr.io/acme/tools", Some("1.2")),
                ("ghcr.io/acme/tools:1.2", "ghcr.io/acme/tools", "1.2"),
            ),
            (
                ("ghcr.io/acme/tools", Some("sha256:ab")),
                (
                    "ghcr.io/acme/tools@sha256:ab",
                    "ghcr.io/acme/tools",
                    "sha256:ab",
                ),
            ),
            (
                ("ghcr.io/acme/tools@sha256:ab", None),
                (
                    "ghcr.io/acme/tools@sha256:ab",
                    "ghcr.io/acme/tools",
                    "sha256:ab",
                ),
            ),
            (
                ("localhost:5000/tools", None),
                (
                    "localhost:5000/tools:latest",
                    "localhost:5000/tools",
                    "latest",
                ),
            ),
            (
                ("localhost:5000/tools:2", None),
                ("localhost:5000/tools:2", "localhost:5000/tools", "2"),
            ),
            (
                ("tools:1@sha256:ab", None),
                ("tools:1@sha256:ab", "tools", "1@sha256:ab"),
            ),
            (
                ("tools", Some("1@sha256:ab")),
                ("tools:1@sha256:ab", "tools", "1@sha256:ab"),
            ),
        ];
        for ((image, tag), (reference, repository, version)) in cases {
            let spec = spec(image, tag);
            assert_eq!(
                spec.image_reference().as_deref(),
                Some(reference),
                "{image} {tag:?}"
            );
            assert_eq!(
                spec.effective_image(),
                Some((repository, version)),
                "{image} {tag:?}"
            );
        }
    }

    #[test]
    fn tool_status_counts_every_tool_and_names_a_bounded_few() {
        let mut names: Vec<String> = (0..5000).map(|i| format!("tool_{i}")).collect();
        names.insert(3, "x".repeat(ToolsStatus::MAX_NAME_BYTES + 1));
        let status = ToolsStatus::of(&names);
        assert_eq!(status.count, 5001);
        assert_eq!(status.names.len(), ToolsStatus::MAX_NAMES);
        assert_eq!(status.names[..4], ["tool_0", "tool_1", "tool_2", "tool_3"]);
        assert!(
            status
                .names
                .iter()
                .all(|n| n.len() <= ToolsStatus::MAX_NAME_BYTES)
        );
    }
}
