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

use std::collections::{BTreeMap, BTreeSet};

use hangar_api::{AllowedDestinations, MCPServer};
use hangar_config::{DurationSpec, GatewayConfig, NameValue};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

pub mod curation;
mod gateway_settings;
mod items;
pub mod select;
mod servers;
pub mod toolsets;
mod upstream_auth;

pub use select::{Candidates, Kind, Member, Selection, selector_matches, selects};
pub use toolsets::{ToolSetDocument, local_documents, read_document};

/// Where the compiled config will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A gateway pod in `namespace`: container servers and Service backends are
    /// reached through cluster DNS (`<name>.<namespace>.svc`); a header value
    /// from a Secret is sent only where `secrets` says that Secret allows.
    Cluster {
        namespace: &'a str,
        secrets: &'a SecretDestinations,
    },
    /// This machine (`hangar up`): container servers with a `command` run as
    /// child processes; Services and images are out of reach.
    Local,
}

/// Where the values of the Secrets that headers come from may be sent (each
/// Secret's `mcp-hangar.io/allowed-destinations`), by Secret name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretDestinations {
    /// As read from the cluster (`None`: the Secret does not exist); a Secret
    /// not in the map allows nothing.
    Checked(BTreeMap<String, Option<AllowedDestinations>>),
    /// Not known here (`hangar render` reads no Secrets): every header is
    /// compiled, as if allowed.
    Unchecked,
}

impl SecretDestinations {
    /// Whether a header value of `secret` may be sent to `destination`, and if not why.
    fn check(&self, secret: &str, destination: &str) -> Result<(), String> {
        match self {
            SecretDestinations::Unchecked => Ok(()),
            SecretDestinations::Checked(known) => match known.get(secret) {
                Some(None) => Err(format!("Secret {secret} does not exist in this namespace")),
                Some(Some(allowed)) => allowed
                    .check(secret, destination)
                    .map_err(|refusal| refusal.to_string()),
                None => AllowedDestinations::default()
                    .check(secret, destination)
                    .map_err(|refusal| refusal.to_string()),
            },
        }
    }
}

/// The Secrets header values and client secrets (of servers and tools) of a selection come
/// from, for reading their [`SecretDestinations`] before compiling it: those of
/// its tools and resources, and of every candidate server (groups take members
/// from the candidates).
pub fn header_secrets(selection: &Selection<'_>) -> BTreeSet<String> {
    let tools = selection
        .selected
        .tools
        .iter()
        .map(|t| &t.spec.backend.headers)
        .chain(selection.selected.toolsets.iter().map(|t| &t.spec.headers));
    let resources = selection
        .selected
        .resources
        .iter()
        .filter_map(|r| Some(&r.spec.http.as_ref()?.headers));
    let servers = selection.candidates.servers.iter().map(|s| &s.spec.headers);
    let server_auth = selection
        .candidates
        .servers
        .iter()
        .filter_map(|s| s.spec.auth.as_ref());
    let tool_auth = selection
        .selected
        .tools
        .iter()
        .filter_map(|t| t.spec.auth.as_ref())
        .chain(
            selection
                .selected
                .toolsets
                .iter()
                .filter_map(|t| t.spec.auth.as_ref()),
        );
    let client_secrets = server_auth
        .chain(tool_auth)
        .flat_map(|auth| [&auth.oauth2_client_credentials, &auth.token_exchange])
        .flatten()
        .map(|grant| grant.client_secret.name.clone());
    tools
        .chain(resources)
        .chain(servers)
        .flatten()
        .filter_map(|header| Some(header.value_from.as_ref()?.secret_key_ref.name.clone()))
        .chain(client_secrets)
        .collect()
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
    /// The container MCPServers of the namespace the config reaches (only for
    /// [`Target::Cluster`]), by name: whose pods must admit the gateway.
    pub workloads: Vec<String>,
    /// Curation that cannot apply as written, in words: an MCPGateway's
    /// `spec.servers` entry for nothing it serves, an argument both fixed and
    /// defaulted, `passUnlisted` where filters or authorization rules apply.
    pub uncurated: Vec<String>,
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

/// The name of MCPGateway `gateway`'s managed Redis: its Deployment, Service,
/// and the Secret with its generated password.
pub fn managed_redis_name(gateway: &str) -> String {
    format!("{gateway}-redis")
}

/// The key of the generated password in the managed Redis's Secret.
pub const MANAGED_REDIS_PASSWORD_KEY: &str = "password";

/// The key of the CA certificate in `spec.redis.tls.secretName`.
pub const REDIS_CA_KEY: &str = "ca.crt";

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
        workloads: Vec::new(),
        uncurated: Vec::new(),
        unresolved: &selection.candidates.unresolved,
    };
    if let Some(gateway) = selection.gateway {
        compiler.gateway_settings(gateway);
    }
    let selected = &selection.selected;
    compiler.tools(&selected.tools);
    compiler.toolsets(&selected.toolsets, &selected.documents);
    compiler.prompts(&selected.prompts);
    compiler.resources(&selected.resources);
    compiler.servers(&selected.servers);
    compiler.groups(&selected.groups, &selection.candidates.servers);
    if let Some(gateway) = selection.gateway {
        compiler.curation(gateway);
    }
    Compiled {
        config: compiler.config,
        secret_env: compiler.secret_env,
        processes: compiler.processes,
        skipped: compiler.skipped,
        workloads: compiler.workloads,
        uncurated: compiler.uncurated,
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
    workloads: Vec<String>,
    uncurated: Vec<String>,
    /// Servers whose `spec.registry` does not resolve, with why.
    unresolved: &'a BTreeMap<String, String>,
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

    /// Headers sent to `destination`, or why one may not be: in a cluster a
    /// Secret's value goes only where the Secret allows.
    fn headers(
        &mut self,
        headers: &[hangar_api::HttpHeader],
        destination: &str,
    ) -> Result<Vec<NameValue>, String> {
        if let Target::Cluster { secrets, .. } = self.target {
            for header in headers {
                if let Some(from) = &header.value_from {
                    secrets
                        .check(&from.secret_key_ref.name, destination)
                        .map_err(|why| format!("header {}: {why}", header.name))?;
                }
            }
        }
        Ok(headers
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
            .collect())
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
spec: {mode: remote, endpoint: "http://b.example/mcp", circuitBreaker: {failureThreshold: 2, resetTimeout: 10s}, clientSessions: 8}
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
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
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
        assert_eq!(b.client_sessions, 8);
        assert_eq!(config.servers[1].client_sessions, 0);
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
