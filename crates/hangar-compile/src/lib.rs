//! Compiles Hangar resources (MCPServer, MCPServerGroup, MCPTool, MCPPrompt,
//! MCPResource, MCPGateway) into a gateway config. Pure: no I/O, so the
//! operator builds an MCPGateway's ConfigMap with it, `hangar render` prints
//! it, and `hangar up` runs manifests locally, all from the same code.
//!
//! - [`select`]: the one selection rule (which objects a gateway serves).
//! - [`compile`]: a [`Selection`] → [`Compiled`] (the config, the Secrets it
//!   reads, the local processes to start, what was left out and why).
//! - [`in_cluster_url`]: where a server is reached in the cluster; the
//!   operator's probes and Service use the same.
//!
//! Anything that cannot be served where the config will run is left out and
//! reported in [`Compiled::skipped`] with the reason, so one bad object never
//! takes the whole gateway down.

use hangar_api::MCPServer;
use hangar_config::{DurationSpec, GatewayConfig, NameValue};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

mod gateway_settings;
mod items;
pub mod select;
mod servers;

pub use select::{Candidates, Kind, Member, Selection, selector_matches, selects};

/// Where the compiled config will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A gateway pod in `namespace`: container servers and Service backends are
    /// reached through cluster DNS (`<name>.<namespace>.svc`).
    Cluster { namespace: &'a str },
    /// This machine (`hangar up`): container servers with a `command` run as
    /// child processes; Services and images are out of reach.
    Local,
}

/// An environment variable the gateway needs, filled from a Secret key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretEnv {
    pub env: String,
    pub secret: String,
    pub key: String,
}

/// An HTTP MCP server `hangar up` starts itself before federating it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalProcess {
    pub server: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<NameValue>,
    pub port: u16,
}

/// Something left out of the config, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

/// The result of compiling a selection.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub config: GatewayConfig,
    /// Secrets the config reads through `valueFromEnv`.
    pub secret_env: Vec<SecretEnv>,
    /// HTTP servers to start locally (only for [`Target::Local`]).
    pub processes: Vec<LocalProcess>,
    /// Objects or parts left out, with reasons.
    pub skipped: Vec<Skipped>,
}

/// The environment variable that carries a Secret key into the gateway.
pub fn secret_env_name(secret: &str, key: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    format!("HANGAR_SECRET_{}_{}", clean(secret), clean(key))
}

/// The Lease on which gateway `gateway` records its activity on the
/// scale-to-zero MCPServer `server` (both in one namespace): one per pair, so
/// each gateway writes only its own. A gateway's name is a DNS label (it names
/// a Service), so the last dot-separated parts tell the pair apart.
pub fn activity_lease_name(server: &str, gateway: &str) -> String {
    format!("{server}.{gateway}.activity")
}

/// The in-cluster URL of a server: its Service in container mode (stdio
/// servers are bridged to Streamable HTTP behind it), its endpoint in remote mode.
pub fn in_cluster_url(server: &MCPServer) -> Option<String> {
    match server.spec.mode {
        hangar_api::ServerMode::Remote => server.spec.endpoint.clone(),
        hangar_api::ServerMode::Container => Some(format!(
            "http://{}.{}.svc:{}{}",
            server.name_any(),
            namespace_of(&server.metadata),
            server.spec.port,
            server.spec.path
        )),
    }
}

fn object_name(metadata: &ObjectMeta) -> String {
    metadata.name.clone().unwrap_or_default()
}

fn namespace_of(metadata: &ObjectMeta) -> &str {
    metadata.namespace.as_deref().unwrap_or("default")
}

fn duration(value: &hangar_api::Duration) -> Result<DurationSpec, String> {
    value.to_std().map(DurationSpec).map_err(|e| e.to_string())
}

/// Compiles a selection for `target`.
pub fn compile(selection: &Selection<'_>, target: Target<'_>) -> Compiled {
    let mut compiler = Compiler {
        target,
        gateway: selection.gateway.map(ResourceExt::name_any),
        config: GatewayConfig::empty(),
        secret_env: Vec::new(),
        processes: Vec::new(),
        skipped: Vec::new(),
    };
    if let Some(gateway) = selection.gateway {
        compiler.gateway_settings(gateway);
    }
    let selected = &selection.selected;
    compiler.tools(&selected.tools);
    compiler.prompts(&selected.prompts);
    compiler.resources(&selected.resources);
    compiler.servers(&selected.servers);
    compiler.groups(&selected.groups, &selection.candidates.servers);
    Compiled {
        config: compiler.config,
        secret_env: compiler.secret_env,
        processes: compiler.processes,
        skipped: compiler.skipped,
    }
}

/// One compilation in progress: the config so far and what goes beside it.
struct Compiler<'a> {
    target: Target<'a>,
    /// The MCPGateway compiled for, if any.
    gateway: Option<String>,
    config: GatewayConfig,
    secret_env: Vec<SecretEnv>,
    processes: Vec<LocalProcess>,
    skipped: Vec<Skipped>,
}

impl Compiler<'_> {
    fn skip(&mut self, kind: &'static str, name: &str, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            kind,
            name: name.to_string(),
            reason: reason.into(),
        });
    }

    /// The variable that will carry a Secret key, recorded for the gateway's environment.
    fn secret(&mut self, secret: &str, key: &str) -> String {
        let env = secret_env_name(secret, key);
        let entry = SecretEnv {
            env: env.clone(),
            secret: secret.to_string(),
            key: key.to_string(),
        };
        if !self.secret_env.contains(&entry) {
            self.secret_env.push(entry);
        }
        env
    }

    fn headers(&mut self, headers: &[hangar_api::HttpHeader]) -> Vec<NameValue> {
        headers
            .iter()
            .map(|h| match (&h.value, &h.value_from) {
                (_, Some(from)) => NameValue {
                    name: h.name.clone(),
                    value: None,
                    value_from_env: Some(
                        self.secret(&from.secret_key_ref.name, &from.secret_key_ref.key),
                    ),
                },
                (value, None) => {
                    NameValue::literal(h.name.clone(), value.clone().unwrap_or_default())
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use hangar_config::{ObjectName, Strategy};

    use super::*;

    const GROUPED: &str = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {name: search, namespace: team}
spec:
  selector: {matchLabels: {pool: search}}
  strategy: LeastConnections
  failover: {maxRetries: 1}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {name: empty, namespace: team}
spec: {selector: {matchLabels: {pool: none}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: b, namespace: team, labels: {pool: search}}
spec: {mode: remote, endpoint: "http://b.example/mcp", circuitBreaker: {failureThreshold: 2, resetTimeout: 10s}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: a, namespace: team, labels: {pool: search}}
spec: {image: ghcr.io/acme/search, replicas: 0, idleTTL: 2m, wakeTimeout: 45s}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: elsewhere, namespace: other, labels: {pool: search}}
spec: {mode: remote, endpoint: "http://c.example/mcp"}
"#;

    #[test]
    fn groups_compile_to_members_with_breakers_and_scale_to_zero() {
        let manifests = hangar_manifests::parse(GROUPED, "groups").unwrap();
        let selected_b: Vec<MCPServer> = manifests
            .servers
            .iter()
            .filter(|s| object_name(&s.metadata) == "b")
            .cloned()
            .collect();
        let all = Candidates::all(&manifests);
        let compiled = compile(
            &Selection {
                gateway: None,
                selected: Candidates {
                    servers: selected_b,
                    groups: manifests.server_groups.clone(),
                    ..Candidates::default()
                },
                candidates: &all,
            },
            Target::Cluster { namespace: "team" },
        );
        let config = &compiled.config;
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let group = &config.groups[0];
        assert_eq!(
            (group.name.as_str(), group.strategy, group.max_retries),
            ("search", Strategy::LeastConnections, 1)
        );
        assert_eq!(group.members, ["a", "b"], "name order, same namespace only");
        let servers: Vec<(&str, bool)> = config
            .servers
            .iter()
            .map(|s| (s.name.as_str(), s.expose))
            .collect();
        assert_eq!(
            servers,
            [("b", true), ("a", false)],
            "b is selected on its own too; a only through the group"
        );
        let b = &config.servers[0];
        assert_eq!(b.circuit_breaker.failure_threshold, 2);
        assert_eq!(b.circuit_breaker.reset_timeout.to_string(), "10s");
        assert_eq!(b.scale_to_zero, None);
        let a = config.servers[1].scale_to_zero.as_ref().unwrap();
        assert_eq!(a.idle_ttl.to_string(), "2m");
        assert_eq!(a.wake_timeout.to_string(), "45s");
        assert_eq!(
            a.mcp_server,
            Some(ObjectName {
                namespace: "team".into(),
                name: "a".into()
            })
        );
        assert_eq!(a.activity_interval(), std::time::Duration::from_secs(30));
        assert_eq!(
            compiled.skipped,
            [Skipped {
                kind: "MCPServerGroup",
                name: "empty".into(),
                reason: "no MCPServer in its namespace matches spec.selector".into()
            }]
        );
        let again = GatewayConfig::parse(&config.to_yaml(), "configmap").unwrap();
        assert_eq!(&again, config);

        // Locally, a cold server is started on demand: no MCPServer to annotate.
        let local = compile(
            &Selection {
                gateway: None,
                selected: Candidates {
                    groups: manifests.server_groups.clone(),
                    ..Candidates::default()
                },
                candidates: &all,
            },
            Target::Local,
        );
        assert!(
            local.skipped.iter().any(|s| s.name == "a"),
            "a has no command"
        );
        assert_eq!(local.config.groups[0].members, ["b"]);
    }

    #[test]
    fn secret_env_names_are_valid_variable_names() {
        assert_eq!(
            secret_env_name("weather-api", "token.v1"),
            "HANGAR_SECRET_WEATHER_API_TOKEN_V1"
        );
    }
}
