//! Hangar's gateway configuration file: the compiled catalog of declared
//! tools, prompts and resources, the upstream MCP servers to federate, and how
//! the gateway guards, shares and routes them. No runtime: the operator and
//! `hangar up` write it (through `hangar-compile`), the gateway reads it.
//!
//! The format is versioned by `apiVersion`/`kind` and strict (unknown fields
//! are errors, so a config written for a newer gateway fails loudly instead of
//! being half-applied). It has a JSON Schema (`gateway-config.schema.json`,
//! generated from these types). A config is checked once, by
//! [`GatewayConfig::validate`], into a [`Validated`] config: the only kind a
//! gateway applies.
//!
//! One module per section: [`gateway`] (with `naming`), [`tools`],
//! [`prompts`], [`resources`], [`servers`], [`auth`], [`outbound`] (credentials for upstreams), [`audit`], [`routing`] (breakers,
//! scale to zero, groups), [`state`] (Redis, rate limits), [`curation`] (what clients see of it all), [`tool_search`] (meta-tools in place of a large catalog); [`values`] holds
//! what they share, [`glob`] the one name-pattern matcher.

use std::collections::HashSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::is_default;

pub mod audit;
pub mod auth;
pub mod curation;
pub mod gateway;
pub mod glob;
pub mod outbound;
pub mod prompts;
pub mod proxies;
pub mod resources;
pub mod routing;
pub mod servers;
pub mod state;
pub mod tool_search;
pub mod tools;
pub mod values;

pub use audit::AuditSettings;
pub use auth::{
    AccessRule, AuthSettings, AuthorizationDefault, AuthorizationSettings, BearerTokens,
    OidcSettings,
};
pub use curation::{Curation, ItemCuration, NameFilter, SourceKind, ToolCuration, ToolOverride};
pub use gateway::{ConflictPolicy, ConnectionLimits, GatewaySettings, Naming};
pub use outbound::{ForwardIdentity, IdentityPart, TokenExchange, TokenGrant, UpstreamAuth};
pub use prompts::{PromptArgumentSpec, PromptMessageSpec, PromptSpec, Role, placeholders};
pub use resources::{ResourceHttp, ResourceSpec};
pub use routing::{CircuitBreakerSettings, GroupSpec, ObjectName, ScaleToZero, Strategy};
pub use servers::{ProtocolPreference, ServerSpec, Transport};
pub use state::{Limit, REDIS_URL_ENV, RateLimits, RedisMode, RedisSettings};
pub use tool_search::ToolSearchSettings;
pub use tools::{
    ArgumentLocation, ArgumentPlacement, HttpBackend, HttpMethod, RESERVED_ARGUMENT_HEADERS,
    ToolAnnotationsSpec, ToolSpec, check_tool_name, url_templates,
};
pub use values::{DurationSpec, Environment, NameValue};

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
    /// An audit record of every tool call, prompt fetch and resource read; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSettings>,
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
    /// What clients see of all the above: filters and tool overrides.
    #[serde(default, skip_serializing_if = "is_default")]
    pub curation: Curation,
    /// Two meta-tools (`search_tools`, `call_tool`) listed instead of the whole
    /// tool catalog; every tool listed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_search: Option<ToolSearchSettings>,
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

/// A config that passed every check of [`GatewayConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Validated(GatewayConfig);

impl std::ops::Deref for Validated {
    type Target = GatewayConfig;
    fn deref(&self) -> &GatewayConfig {
        &self.0
    }
}

impl PartialEq<GatewayConfig> for Validated {
    fn eq(&self, other: &GatewayConfig) -> bool {
        self.0 == *other
    }
}

impl Validated {
    /// The config itself, to change it (and validate it again).
    pub fn into_inner(self) -> GatewayConfig {
        self.0
    }
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
            audit: None,
            tools: Vec::new(),
            prompts: Vec::new(),
            resources: Vec::new(),
            servers: Vec::new(),
            groups: Vec::new(),
            curation: Curation::default(),
            tool_search: None,
        }
    }

    /// Reads and validates a config file (YAML, of which JSON is a subset).
    pub fn load(path: &Path) -> Result<Validated, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Validated, ConfigError> {
        let config: GatewayConfig =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                message: e.to_string(),
            })?;
        config.validate().map_err(|problems| ConfigError::Invalid {
            path: origin.to_string(),
            problems,
        })
    }

    /// Checks the whole config once; on success it may be applied.
    pub fn validate(self) -> Result<Validated, Vec<String>> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(Validated(self))
        } else {
            Err(problems)
        }
    }

    /// Serialises the config as YAML (what the operator writes into a ConfigMap).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a GatewayConfig always serialises")
    }

    /// Every reason this config cannot be served, each prefixed with where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.gateway.problems(&mut problems);
        self.naming.problems(&mut problems);
        if let Some(redis) = &self.redis {
            redis.problems(&mut problems);
        }
        if let Some(limits) = &self.rate_limit {
            limits.problems(&mut problems);
        }
        if let Some(auth) = &self.auth {
            auth.problems(&mut problems);
            if auth.authorization.is_some() && self.curation.passes_any_unlisted() {
                problems.push(
                    "curation: passUnlisted cannot be used with auth.authorization, whose rules \
                     grant names the gateway has listed"
                        .into(),
                );
            }
        }
        if let Some(audit) = &self.audit {
            audit.problems(&mut problems);
        }
        if let Some(search) = &self.tool_search {
            search.problems(&mut problems);
        }
        let mut names = HashSet::new();
        for (i, tool) in self.tools.iter().enumerate() {
            let at = format!("tools[{i}] ({})", tool.name);
            tool.problems(&at, &mut problems);
            if !names.insert(tool.name.as_str()) {
                problems.push(format!("{at}.name: another tool already has this name"));
            }
            self.caller_credentials_problems(tool.auth.as_ref(), &at, &mut problems);
        }
        let mut names = HashSet::new();
        for (i, prompt) in self.prompts.iter().enumerate() {
            let at = format!("prompts[{i}] ({})", prompt.name);
            prompt.problems(&at, &mut problems);
            if !names.insert(prompt.name.as_str()) {
                problems.push(format!("{at}.name: another prompt already has this name"));
            }
        }
        let mut uris = HashSet::new();
        for (i, resource) in self.resources.iter().enumerate() {
            let at = format!("resources[{i}] ({})", resource.uri);
            resource.problems(&at, &mut problems);
            if !uris.insert(resource.uri.as_str()) {
                problems.push(format!("{at}.uri: another resource already has this URI"));
            }
        }
        let mut names = HashSet::new();
        for (i, server) in self.servers.iter().enumerate() {
            let at = format!("servers[{i}] ({})", server.name);
            server.problems(&at, &mut problems);
            if !names.insert(server.name.as_str()) {
                problems.push(format!("{at}.name: another server already has this name"));
            }
            self.caller_credentials_problems(server.auth.as_ref(), &at, &mut problems);
        }
        self.routing_problems(&mut problems);
        let groups: HashSet<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        self.curation.problems(&names, &groups, &mut problems);
        self.pass_unlisted_problems(&mut problems);
        problems
    }

    /// Two sources taking unlisted names under one prefix would leave the
    /// gateway guessing which of them a name is for.
    fn pass_unlisted_problems(&self, problems: &mut Vec<String>) {
        let servers = self
            .servers
            .iter()
            .filter(|s| {
                self.curation
                    .servers
                    .get(&s.name)
                    .is_some_and(|c| c.pass_unlisted)
            })
            .map(|s| (format!("servers {}", s.name), self.prefix_for(s)));
        let groups = self
            .groups
            .iter()
            .filter(|g| {
                self.curation
                    .groups
                    .get(&g.name)
                    .is_some_and(|c| c.pass_unlisted)
            })
            .map(|g| (format!("groups {}", g.name), self.prefix_for_group(g)));
        let mut by_prefix: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (source, prefix) in servers.chain(groups) {
            by_prefix.entry(prefix).or_default().push(source);
        }
        for (prefix, sources) in by_prefix.iter().filter(|(_, s)| s.len() > 1) {
            problems.push(format!(
                "curation: {} take unlisted names under the same prefix `{prefix}`; give them different prefixes",
                sources.join(" and ")
            ));
        }
    }

    /// An upstream's credentials made from callers' tokens need callers with verified tokens.
    fn caller_credentials_problems(
        &self,
        auth: Option<&UpstreamAuth>,
        at: &str,
        problems: &mut Vec<String>,
    ) {
        if self.auth.is_none() && auth.is_some_and(UpstreamAuth::needs_callers) {
            problems.push(format!(
                "{at}.auth: tokenExchange and forwardIdentity need the gateway's auth section; \
                 without it no caller has a verified token or identity"
            ));
        }
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

/// The JSON Schema of the config file, as committed in `gateway-config.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(GatewayConfig);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn fuzz_durations_round_trip_and_never_panic() {
        hangar_testenv::fuzz::run("config durations", |u| {
            let text: String = u.arbitrary()?;
            let _ = DurationSpec::parse(&text);
            let millis: u64 = u.arbitrary()?;
            let duration = DurationSpec(Duration::from_millis(millis));
            assert_eq!(DurationSpec::parse(&duration.to_string()), Ok(duration));
            let unit = u.choose(&["ms", "s", "m", "h"])?;
            let _ = DurationSpec::parse(&format!("{}{unit}", u.arbitrary::<u64>()?));
            Ok(())
        });
    }

    #[test]
    fn a_fixed_environment_holds_only_its_variables() {
        let environment = Environment::fixed([("TOKEN", "t")]);
        let value = NameValue {
            name: "X".into(),
            value: None,
            value_from_env: Some("TOKEN".into()),
        };
        assert_eq!(value.resolve(&environment), Ok("t".to_string()));
        // The process has PATH; a fixed environment does not see it.
        assert!(Environment::Process.contains("PATH"));
        assert!(!environment.contains("PATH"));
        let missing = NameValue {
            value_from_env: Some("PATH".into()),
            ..value
        };
        assert!(
            missing
                .resolve(&environment)
                .unwrap_err()
                .contains("PATH is not set")
        );
    }

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
        for bad in ["", "s", "10", "1.5s", "-1s", "10d", "99999999999999999999h"] {
            assert!(DurationSpec::parse(bad).is_err(), "{bad} should not parse");
        }
        // Once these multiplied past u64 and wrapped (or panicked in debug builds).
        for overflow in [format!("{}h", u64::MAX / 60), format!("{}m", u64::MAX)] {
            let error = DurationSpec::parse(&overflow).unwrap_err();
            assert!(error.contains("too long"), "{error}");
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
  - {name: many, transport: streamable-http, url: "http://x/mcp", clientSessions: 5000}
  - {name: modern, transport: streamable-http, url: "http://x/mcp", protocol: modern, clientSessions: 2}
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
            "servers[2] (many).clientSessions: at most 1024",
            "servers[3] (modern).clientSessions: sessions of their own are for session-based clients",
        ] {
            assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
        }
    }

    #[test]
    fn credentials_from_callers_need_the_auth_section_and_own_the_authorization_header() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
gateway: {name: g}
tools:
  - name: crm
    backend:
      url: https://crm.example/api
      headers: [{name: authorization, value: Bearer static}]
    auth:
      oauth2ClientCredentials: {tokenUrl: "https://id.example/token", clientId: c, clientSecretFromEnv: S}
  - name: who
    backend: {url: "https://who.example/api"}
    auth: {forwardIdentity: {subjectHeader: X-User}}
servers:
  - name: s
    transport: streamable-http
    url: https://s.example/mcp
    auth: {forwardIdentity: {groupsHeader: X-Groups}}
"#;
        let err = GatewayConfig::parse(text, "cfg.yaml").unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            problems,
            &[
                "tools[0] (crm).backend.headers: Authorization comes from auth; remove it from headers",
                "tools[1] (who).auth: tokenExchange and forwardIdentity need the gateway's auth section; without it no caller has a verified token or identity",
                "servers[0] (s).auth: tokenExchange and forwardIdentity need the gateway's auth section; without it no caller has a verified token or identity",
            ]
        );
    }

    #[test]
    fn unlisted_names_pass_only_where_nothing_judges_names() {
        let problems = |curation: &str, auth: &str| {
            let text = format!(
                r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
gateway: {{name: g}}
{auth}
servers:
  - {{name: a, transport: stdio, command: a, prefix: ""}}
  - {{name: b, transport: stdio, command: b, prefix: ""}}
curation:
{curation}
"#
            );
            match GatewayConfig::parse(&text, "cfg.yaml") {
                Ok(_) => Vec::new(),
                Err(ConfigError::Invalid { problems, .. }) => problems,
                Err(other) => panic!("{other}"),
            }
        };
        assert_eq!(
            problems("  servers: {a: {passUnlisted: true}}", ""),
            Vec::<String>::new()
        );
        let filtered = problems(
            "  servers: {a: {passUnlisted: true, tools: {deny: [x]}}}",
            "",
        );
        assert_eq!(filtered.len(), 1, "{filtered:?}");
        assert!(
            filtered[0]
                .starts_with("curation.servers.a.passUnlisted: names the source has not listed")
        );
        assert_eq!(
            problems("  exposed: {passUnlisted: true}", ""),
            [
                "curation.exposed.passUnlisted: set it per server or group (curation.servers, curation.groups)"
            ]
        );
        let gateway_wide = problems(
            "  exposed: {prompts: {allow: [p]}}\n  servers: {a: {passUnlisted: true}}",
            "",
        );
        assert_eq!(gateway_wide.len(), 1, "{gateway_wide:?}");
        assert!(gateway_wide[0].starts_with("curation.exposed: names a source has not listed"));
        let ruled = problems(
            "  servers: {a: {passUnlisted: true}}",
            "auth:\n  bearerTokens: {valueFromEnv: T}\n  authorization: {default: Deny}",
        );
        assert_eq!(ruled.len(), 1, "{ruled:?}");
        assert!(
            ruled[0].starts_with("curation: passUnlisted cannot be used with auth.authorization")
        );
        assert_eq!(
            problems(
                "  servers: {a: {passUnlisted: true}, b: {passUnlisted: true}}",
                ""
            ),
            [
                "curation: servers a and servers b take unlisted names under the same prefix ``; give them different prefixes"
            ]
        );
    }

    #[test]
    fn prefixes_follow_naming() {
        let mut config = GatewayConfig::empty();
        let server = ServerSpec {
            name: "time".into(),
            transport: Transport::Stdio,
            url: None,
            headers: vec![],
            auth: None,
            command: Some("x".into()),
            args: vec![],
            env: vec![],
            cwd: None,
            prefix: None,
            timeout: None,
            connect_timeout: crate::servers::default_connect_timeout(),
            protocol: ProtocolPreference::Auto,
            expose: true,
            circuit_breaker: CircuitBreakerSettings::default(),
            scale_to_zero: None,
            client_sessions: 0,
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
