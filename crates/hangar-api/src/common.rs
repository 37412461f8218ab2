//! Types shared by several kinds.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SecretKeySelector;
use k8s_openapi::api::networking::v1::{NetworkPolicyEgressRule, NetworkPolicyIngressRule};
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A duration in Go syntax (`30s`, `5m`, `1h30m`, `250ms`), as Kubernetes writes them.
///
/// The CRD schema rejects anything that does not parse, or that is not positive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(pub String);

impl Duration {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Parses the duration. The schema guarantees this succeeds for objects that
    /// came through the API server; manifests read from disk may still fail.
    pub fn to_std(&self) -> Result<std::time::Duration, InvalidDuration> {
        parse_go_duration(&self.0).ok_or_else(|| InvalidDuration(self.0.clone()))
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A duration that is not in Go syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDuration(pub String);

impl std::fmt::Display for InvalidDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a duration such as 30s, 5m or 1h30m", self.0)
    }
}

impl std::error::Error for InvalidDuration {}

fn parse_go_duration(text: &str) -> Option<std::time::Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    // Too large for a Duration (e.g. 99999999999999999999h) is not a duration.
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// Go duration syntax as an RE2 pattern, escaped for a single-quoted CEL string.
pub(crate) const DURATION_PATTERN: &str = r"^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": 32,
            "x-kubernetes-validations": [{
                // `&&` in CEL absorbs the error `duration()` raises on text that did not match.
                "rule": format!("self.matches('{DURATION_PATTERN}') && duration(self) > duration('0s')"),
                "message": "must be a positive duration such as 30s, 5m or 1h30m",
            }],
        })
    }
}

/// A JSON Schema document, stored as given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonSchemaDocument(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for JsonSchemaDocument {
    fn schema_name() -> Cow<'static, str> {
        "JsonSchemaDocument".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // `type` is declared so that CEL rules can read it; everything else is kept as given.
        json_schema!({
            "type": "object",
            "properties": { "type": { "type": "string" } },
            "x-kubernetes-preserve-unknown-fields": true,
        })
    }
}

/// One HTTP header sent to a backend or upstream, given inline or read from a Secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.valueFrom)").message("set exactly one of value or valueFrom"))]
pub struct HttpHeader {
    /// Header name, e.g. `Authorization`.
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9!#$%&*+.^_`|~-]+$')").message("must be an HTTP header name (letters, digits and -)"))]
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Literal value. Prefer `valueFrom` for anything secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Value read from a key of a Secret in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<HeaderValueSource>,
}

/// Where a header value comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderValueSource {
    pub secret_key_ref: SecretKeySelector,
}

/// HTTP methods a backend can be called with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    /// Whether arguments travel in the query string rather than a JSON body.
    pub fn uses_query(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Delete)
    }
}

/// A plain HTTP service that implements a tool or serves a resource: a Service in
/// the same namespace, or an absolute URL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.service) != has(self.url)").message("set exactly one of service or url"))]
pub struct HttpBackend {
    /// A Service in the object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceBackend>,
    /// An absolute `http` or `https` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// Path appended to the Service address or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must start with /"))]
    #[schemars(length(max = 1024))]
    pub path: Option<String>,
    /// HTTP method; when absent, POST for an MCPTool and GET for an MCPResource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HttpHeader>,
}

/// A Service port in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBackend {
    /// Service name.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Service port number.
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("must be a port number between 1 and 65535"))]
    pub port: i32,
}

/// How a Service is exposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// An Ingress in front of a Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name the Ingress answers for; all hosts when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub host: Option<String>,
    /// IngressClass to use; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Path prefix routed to the Service.
    #[serde(default = "default_ingress_path")]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("must start with /"))]
    #[schemars(length(max = 1024))]
    pub path: String,
    /// Secret holding the TLS certificate; plain HTTP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Annotations for the Ingress, e.g. for the ingress controller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn default_ingress_path() -> String {
    "/".into()
}

/// Network access of a workload's pods, as the NetworkPolicies Hangar
/// generates for them. Peers and ports are Kubernetes NetworkPolicy rules
/// (`from`/`to`: `podSelector`, `namespaceSelector`, `ipBlock`; `ports`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Generate NetworkPolicies for these pods. `false` leaves their network
    /// access to the cluster's own policies.
    #[serde(default = "default_true")]
    pub policies: bool,
    /// Who may connect, besides what the kind allows by itself (see its `network` field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub ingress: Vec<NetworkPolicyIngressRule>,
    /// Where the pods may connect to. Absent: anywhere. Given: only there
    /// (and to the cluster DNS when `dns` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub egress: Option<Vec<NetworkPolicyEgressRule>>,
    /// With `egress`, also allow DNS lookups (port 53, UDP and TCP, to any pod of `kube-system`).
    #[serde(default = "default_true")]
    pub dns: bool,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            policies: true,
            ingress: Vec::new(),
            egress: None,
            dns: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `text` cut to at most `max_bytes` bytes on a character boundary, ending in
/// `…` when cut: status fields hold what servers say, and their size is ours to bound.
pub fn fit(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// The longest condition message Hangar writes (the API allows 32768).
pub const MAX_CONDITION_MESSAGE: usize = 4096;

/// Condition types used across kinds.
pub mod condition {
    /// The object does what it was asked to do.
    pub const READY: &str = "Ready";
    /// The workload has the replicas it needs available.
    pub const AVAILABLE: &str = "Available";
    /// A rollout or scale operation is under way.
    pub const PROGRESSING: &str = "Progressing";
    /// The MCP health check passes.
    pub const HEALTHY: &str = "Healthy";
    /// The spec could be turned into Kubernetes objects.
    pub const RECONCILED: &str = "Reconciled";
    /// A backend Service / URL resolves.
    pub const BACKEND_RESOLVED: &str = "BackendResolved";
    /// A registry reference resolves to an entry.
    pub const REGISTRY_RESOLVED: &str = "RegistryResolved";
    /// Something this object owns conflicts with an object it does not own.
    pub const CONFLICT: &str = "Conflict";
    /// Everything selected could be compiled into the configuration.
    pub const CONFIG_VALID: &str = "ConfigValid";
    /// Every curation override and source names something the gateway serves.
    pub const CURATED: &str = "Curated";
    /// An MCPToolSet's OpenAPI document was read and converted.
    pub const DOCUMENT_LOADED: &str = "DocumentLoaded";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_on_a_character_boundary() {
        assert_eq!(fit("Cold → Ready", 64), "Cold → Ready");
        let long = "é".repeat(2000);
        let cut = fit(&long, 1024);
        assert!(cut.len() <= 1024, "{} bytes", cut.len());
        assert!(cut.ends_with("é…"));
    }

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h30m", 5400.0),
            ("250ms", 0.25),
            ("1.5s", 1.5),
            ("2h0m0s", 7200.0),
        ];
        for (text, seconds) in cases {
            let parsed = Duration::new(text).to_std().unwrap();
            assert_eq!(parsed.as_secs_f64(), seconds, "{text}");
        }
    }

    #[test]
    fn bad_durations_are_rejected_with_the_text() {
        // The last two once panicked `hangar up` and `hangar render`.
        for text in [
            "",
            "30",
            "5 minutes",
            "m5",
            "1d",
            "1.2.3s",
            "99999999999999999999h",
            "1e400s",
        ] {
            let error = Duration::new(text).to_std().unwrap_err();
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
    }

    #[test]
    fn fuzz_durations_parse_or_fail_without_panicking() {
        let units = ["ns", "us", "µs", "ms", "s", "m", "h", "", "d", "."];
        hangar_testenv::fuzz::run("go durations", |u| {
            let text: String = u.arbitrary()?;
            let _ = Duration::new(&text).to_std();
            // Text that looks like a duration, with huge and odd numbers.
            let mut built = String::new();
            for _ in 0..u.int_in_range(1..=4)? {
                let number: u64 = u.arbitrary()?;
                let fraction: Option<u32> = u.arbitrary()?;
                built.push_str(&number.to_string());
                if let Some(fraction) = fraction {
                    built.push_str(&format!(".{fraction}"));
                }
                built.push_str(u.choose(&units)?);
            }
            let _ = Duration::new(&built).to_std();
            Ok(())
        });
    }
}
