//! Compiles Hangar resources (MCPServer, MCPTool, MCPPrompt, MCPResource,
//! MCPGateway) into a gateway config. Pure: no I/O, so the operator can build
//! an MCPGateway's ConfigMap with it and `hangar up` can run manifests locally.
//!
//! Anything that cannot be served where the config will run is left out and
//! reported in [`Compiled::skipped`] with the reason, so one bad object never
//! takes the whole gateway down.

use std::collections::{BTreeMap, HashSet};

use hangar_api::{
    LabelSelector, MCPGateway, MCPPrompt, MCPResource, MCPServer, MCPServerGroup, MCPTool,
};
use k8s_openapi::api::core::v1::EnvVar;

mod shared;

use crate::config::{
    CircuitBreakerSettings, ConflictPolicy, DurationSpec, GatewayConfig, GroupSpec, HttpBackend,
    HttpMethod, NameValue, ObjectName, PromptArgumentSpec, PromptMessageSpec, PromptRole,
    PromptSpec, ProtocolPreference, ResourceHttp, ResourceSpec, ScaleToZero, ServerSpec, Strategy,
    ToolAnnotationsSpec, ToolSpec, Transport,
};

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

/// The objects a gateway serves.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// Supplies naming, session and host settings; defaults apply without one.
    pub gateway: Option<&'a MCPGateway>,
    pub servers: &'a [MCPServer],
    pub groups: &'a [MCPServerGroup],
    /// The MCPServers that group members are chosen from: every MCPServer in
    /// the namespace, selected by the gateway or not.
    pub namespace_servers: &'a [MCPServer],
    pub tools: &'a [MCPTool],
    pub prompts: &'a [MCPPrompt],
    pub resources: &'a [MCPResource],
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

/// Whether a gateway's selector picks an object with these labels: an absent
/// selector picks nothing, an empty one (`{}`) everything. The one rule of the
/// operator, `hangar render` and `hangar up`.
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_some_and(|selector| selector_matches(selector, labels))
}

/// Whether `labels` match `selector`, with Kubernetes semantics (an empty selector matches everything).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_ok = selector
        .match_expressions
        .iter()
        .flatten()
        .all(|requirement| {
            let values = requirement.values.as_deref().unwrap_or_default();
            let value = labels.get(&requirement.key);
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An unknown operator matches nothing rather than everything.
                _ => false,
            }
        });
    labels_ok && expressions_ok
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

fn object_name(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    metadata.name.clone().unwrap_or_default()
}

struct Compiler<'a> {
    target: Target<'a>,
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

    /// The URL of an HTTP backend, or why it cannot be reached from the target.
    fn backend_url(&self, backend: &hangar_api::HttpBackend) -> Result<String, String> {
        let path = backend.path.as_deref().unwrap_or("");
        match (&backend.url, &backend.service) {
            (Some(url), _) => Ok(join_path(url, path)),
            (None, Some(service)) => match self.target {
                Target::Cluster { namespace } => Ok(format!(
                    "http://{}.{namespace}.svc:{}{path}",
                    service.name, service.port
                )),
                Target::Local => Err(format!(
                    "its backend is the Kubernetes Service {}:{}, which only exists in a cluster; use backend.url to run it with hangar up",
                    service.name, service.port
                )),
            },
            (None, None) => Err("its backend has neither url nor service".into()),
        }
    }
}

fn join_path(url: &str, path: &str) -> String {
    if path.is_empty() {
        url.to_string()
    } else {
        format!("{}{path}", url.trim_end_matches('/'))
    }
}

fn duration(value: &hangar_api::Duration) -> Result<DurationSpec, String> {
    value.to_std().map(DurationSpec).map_err(|e| e.to_string())
}

/// Problems the gateway would report for one item in an otherwise empty config.
fn item_problems(fill: impl FnOnce(&mut GatewayConfig)) -> Vec<String> {
    let mut config = GatewayConfig::empty();
    fill(&mut config);
    config.problems()
}

/// Compiles a selection for `target`.
pub fn compile(selection: &Selection<'_>, target: Target<'_>) -> Compiled {
    let mut compiler = Compiler {
        target,
        secret_env: Vec::new(),
        processes: Vec::new(),
        skipped: Vec::new(),
    };
    let mut config = GatewayConfig::empty();
    if let Some(gateway) = selection.gateway {
        apply_gateway_settings(&mut config, gateway, target);
        shared::apply(&mut compiler, &mut config, gateway);
    }

    let mut tools: Vec<&MCPTool> = selection.tools.iter().collect();
    tools.sort_by_key(|t| object_name(&t.metadata));
    let mut names = HashSet::new();
    for tool in tools {
        let object = object_name(&tool.metadata);
        let spec = &tool.spec;
        let name = spec.name.clone().unwrap_or_else(|| object.clone());
        let url = match compiler.backend_url(&spec.backend) {
            Ok(url) => url,
            Err(why) => {
                compiler.skip("MCPTool", &object, why);
                continue;
            }
        };
        let timeout = match duration(&spec.timeout) {
            Ok(timeout) => timeout,
            Err(why) => {
                compiler.skip("MCPTool", &object, format!("spec.timeout: {why}"));
                continue;
            }
        };
        let headers = compiler.headers(&spec.backend.headers);
        let item = ToolSpec {
            name: name.clone(),
            title: spec.title.clone(),
            description: spec.description.clone(),
            input_schema: Some(spec.input_schema.0.clone()),
            output_schema: spec.output_schema.as_ref().map(|s| s.0.clone()),
            annotations: spec.annotations.as_ref().map(|a| ToolAnnotationsSpec {
                title: a.title.clone(),
                read_only_hint: a.read_only_hint,
                destructive_hint: a.destructive_hint,
                idempotent_hint: a.idempotent_hint,
                open_world_hint: a.open_world_hint,
            }),
            backend: HttpBackend {
                url,
                method: method(spec.backend.method),
                headers,
                timeout: Some(timeout),
            },
        };
        let problems = item_problems(|c| c.tools.push(item.clone()));
        if !problems.is_empty() {
            compiler.skip("MCPTool", &object, problems.join("; "));
        } else if !names.insert(name.clone()) {
            compiler.skip(
                "MCPTool",
                &object,
                format!("another MCPTool already serves the tool name {name}"),
            );
        } else {
            config.tools.push(item);
        }
    }

    let mut prompts: Vec<&MCPPrompt> = selection.prompts.iter().collect();
    prompts.sort_by_key(|p| object_name(&p.metadata));
    let mut names = HashSet::new();
    for prompt in prompts {
        let object = object_name(&prompt.metadata);
        let spec = &prompt.spec;
        let name = spec.name.clone().unwrap_or_else(|| object.clone());
        let item = PromptSpec {
            name: name.clone(),
            title: spec.title.clone(),
            description: spec.description.clone(),
            arguments: spec
                .arguments
                .iter()
                .map(|a| PromptArgumentSpec {
                    name: a.name.clone(),
                    description: a.description.clone(),
                    required: a.required,
                })
                .collect(),
            messages: spec
                .messages
                .iter()
                .map(|m| PromptMessageSpec {
                    role: match m.role {
                        hangar_api::Role::User => PromptRole::User,
                        hangar_api::Role::Assistant => PromptRole::Assistant,
                    },
                    text: m.text.clone(),
                })
                .collect(),
        };
        let problems = item_problems(|c| c.prompts.push(item.clone()));
        if !problems.is_empty() {
            compiler.skip("MCPPrompt", &object, problems.join("; "));
        } else if !names.insert(name.clone()) {
            compiler.skip(
                "MCPPrompt",
                &object,
                format!("another MCPPrompt already serves the prompt name {name}"),
            );
        } else {
            config.prompts.push(item);
        }
    }

    let mut resources: Vec<&MCPResource> = selection.resources.iter().collect();
    resources.sort_by_key(|r| object_name(&r.metadata));
    let mut uris = HashSet::new();
    for resource in resources {
        let object = object_name(&resource.metadata);
        let spec = &resource.spec;
        let http = match &spec.http {
            None => None,
            Some(backend) => match (compiler.backend_url(backend), duration(&spec.timeout)) {
                (Ok(url), Ok(timeout)) => Some(ResourceHttp {
                    url,
                    headers: compiler.headers(&backend.headers),
                    timeout: Some(timeout),
                }),
                (Err(why), _) => {
                    compiler.skip("MCPResource", &object, why);
                    continue;
                }
                (_, Err(why)) => {
                    compiler.skip("MCPResource", &object, format!("spec.timeout: {why}"));
                    continue;
                }
            },
        };
        let item = ResourceSpec {
            uri: spec.uri.clone(),
            name: spec.name.clone().unwrap_or_else(|| object.clone()),
            title: spec.title.clone(),
            description: spec.description.clone(),
            mime_type: spec.mime_type.clone(),
            text: spec.inline.as_ref().and_then(|i| i.text.clone()),
            blob: spec.inline.as_ref().and_then(|i| i.blob.clone()),
            http,
        };
        let problems = item_problems(|c| c.resources.push(item.clone()));
        if !problems.is_empty() {
            compiler.skip("MCPResource", &object, problems.join("; "));
        } else if !uris.insert(item.uri.clone()) {
            compiler.skip(
                "MCPResource",
                &object,
                format!("another MCPResource already serves {}", item.uri),
            );
        } else {
            config.resources.push(item);
        }
    }

    let mut servers: Vec<&MCPServer> = selection.servers.iter().collect();
    servers.sort_by_key(|s| object_name(&s.metadata));
    for server in servers {
        let object = object_name(&server.metadata);
        match compiler.server(&object, server) {
            Ok(item) => {
                let problems = item_problems(|c| c.servers.push(item.clone()));
                if problems.is_empty() {
                    config.servers.push(item);
                } else {
                    compiler.skip("MCPServer", &object, problems.join("; "));
                }
            }
            Err(why) => compiler.skip("MCPServer", &object, why),
        }
    }

    let mut groups: Vec<&MCPServerGroup> = selection.groups.iter().collect();
    groups.sort_by_key(|g| object_name(&g.metadata));
    for group in groups {
        if let Some(item) = compiler.group(group, selection.namespace_servers, &mut config) {
            config.groups.push(item);
        }
    }

    Compiled {
        config,
        secret_env: compiler.secret_env,
        processes: compiler.processes,
        skipped: compiler.skipped,
    }
}

fn method(method: hangar_api::HttpMethod) -> HttpMethod {
    match method {
        hangar_api::HttpMethod::Get => HttpMethod::Get,
        hangar_api::HttpMethod::Post => HttpMethod::Post,
        hangar_api::HttpMethod::Put => HttpMethod::Put,
        hangar_api::HttpMethod::Patch => HttpMethod::Patch,
        hangar_api::HttpMethod::Delete => HttpMethod::Delete,
    }
}

fn strategy(strategy: hangar_api::Strategy) -> Strategy {
    match strategy {
        hangar_api::Strategy::RoundRobin => Strategy::RoundRobin,
        hangar_api::Strategy::LeastConnections => Strategy::LeastConnections,
        hangar_api::Strategy::Random => Strategy::Random,
        hangar_api::Strategy::Failover => Strategy::Failover,
    }
}

fn namespace_of(metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    metadata.namespace.as_deref().unwrap_or("default")
}

fn transport(transport: hangar_api::Transport) -> Transport {
    match transport {
        hangar_api::Transport::StreamableHttp => Transport::StreamableHttp,
        hangar_api::Transport::Sse => Transport::Sse,
        hangar_api::Transport::Stdio => Transport::Stdio,
    }
}

impl Compiler<'_> {
    /// A group whose members are the MCPServers of its namespace matching its
    /// selector; members the gateway does not serve on their own are added to
    /// `config.servers` unexposed.
    fn group(
        &mut self,
        group: &MCPServerGroup,
        candidates: &[MCPServer],
        config: &mut GatewayConfig,
    ) -> Option<GroupSpec> {
        let name = object_name(&group.metadata);
        let mut members: Vec<&MCPServer> = candidates
            .iter()
            .filter(|server| {
                namespace_of(&server.metadata) == namespace_of(&group.metadata)
                    && selector_matches(
                        &group.spec.selector,
                        server.metadata.labels.as_ref().unwrap_or(&BTreeMap::new()),
                    )
            })
            .collect();
        if members.is_empty() {
            self.skip(
                "MCPServerGroup",
                &name,
                "no MCPServer in its namespace matches spec.selector",
            );
            return None;
        }
        members.sort_by_key(|s| object_name(&s.metadata));
        let mut names = Vec::new();
        for member in members {
            let object = object_name(&member.metadata);
            if !config.servers.iter().any(|s| s.name == object) {
                let compiled = self.server(&object, member).and_then(|mut item| {
                    let problems = item_problems(|c| c.servers.push(item.clone()));
                    item.expose = false;
                    if problems.is_empty() {
                        Ok(item)
                    } else {
                        Err(problems.join("; "))
                    }
                });
                match compiled {
                    Ok(item) => config.servers.push(item),
                    Err(why) => {
                        self.skip(
                            "MCPServer",
                            &object,
                            format!("member of group {name}: {why}"),
                        );
                        continue;
                    }
                }
            }
            names.push(object);
        }
        if names.is_empty() {
            self.skip(
                "MCPServerGroup",
                &name,
                "none of its members can be served (see their entries)",
            );
            return None;
        }
        let spec = &group.spec;
        Some(GroupSpec {
            name,
            members: names,
            strategy: strategy(spec.strategy),
            max_retries: u32::try_from(spec.failover.max_retries).unwrap_or(0),
            prefix: None,
        })
    }

    fn server(&mut self, name: &str, server: &MCPServer) -> Result<ServerSpec, String> {
        let spec = &server.spec;
        let breaker = &spec.circuit_breaker;
        let circuit_breaker = CircuitBreakerSettings {
            enabled: breaker.enabled,
            failure_threshold: u32::try_from(breaker.failure_threshold.max(1)).unwrap_or(1),
            reset_timeout: duration(&breaker.reset_timeout)
                .map_err(|why| format!("spec.circuitBreaker.resetTimeout: {why}"))?,
        };
        // A cold server (replicas: 0, no autoscaler owning the count) runs only while used.
        let scale_to_zero = if spec.mode == hangar_api::ServerMode::Container
            && spec.replicas == 0
            && spec.autoscaling.is_none()
        {
            let idle_ttl =
                duration(&spec.idle_ttl).map_err(|why| format!("spec.idleTTL: {why}"))?;
            let activity = match self.target {
                Target::Cluster { namespace } => Some(ObjectName {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                }),
                Target::Local => None,
            };
            Some(ScaleToZero {
                idle_ttl,
                wake_timeout: duration(&spec.wake_timeout)
                    .map_err(|why| format!("spec.wakeTimeout: {why}"))?,
                mcp_server: activity,
            })
        } else {
            None
        };
        let mut item = ServerSpec {
            name: name.to_string(),
            transport: transport(spec.transport),
            url: None,
            headers: Vec::new(),
            command: None,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            prefix: None,
            timeout: None,
            connect_timeout: DurationSpec(std::time::Duration::from_secs(60)),
            protocol: ProtocolPreference::Auto,
            expose: true,
            circuit_breaker,
            scale_to_zero,
        };
        match spec.mode {
            hangar_api::ServerMode::Remote => {
                let Some(endpoint) = &spec.endpoint else {
                    return Err("remote mode without spec.endpoint (catalog entries from spec.registry are resolved by the operator)".into());
                };
                item.url = Some(endpoint.clone());
                item.headers = self.headers(&spec.headers);
                if item.transport == Transport::Stdio {
                    return Err("a remote server speaks streamable-http or sse, not stdio".into());
                }
                Ok(item)
            }
            hangar_api::ServerMode::Container => match self.target {
                Target::Cluster { namespace } => {
                    // The operator runs it behind a Service of the same name; stdio servers are bridged to HTTP.
                    let scheme_path =
                        format!("http://{name}.{namespace}.svc:{}{}", spec.port, spec.path);
                    item.url = Some(scheme_path);
                    if item.transport == Transport::Stdio {
                        item.transport = Transport::StreamableHttp;
                    }
                    Ok(item)
                }
                Target::Local => self.local_container(name, server, item),
            },
        }
    }

    fn local_container(
        &mut self,
        name: &str,
        server: &MCPServer,
        mut item: ServerSpec,
    ) -> Result<ServerSpec, String> {
        let spec = &server.spec;
        let Some((program, rest)) = spec.command.split_first() else {
            let image = match &spec.image {
                Some(image) => format!("runs the image {image}:{}", spec.tag),
                None => {
                    "names a catalog entry (spec.registry), which the operator resolves".to_string()
                }
            };
            return Err(format!(
                "it {image}, and hangar up runs no containers; add spec.command (for example [npx, -y, <package>] or [uvx, <package>]) to run it as a local process, or use mode: remote with an endpoint"
            ));
        };
        let mut args: Vec<String> = rest.to_vec();
        args.extend(spec.args.iter().cloned());
        let env = self.env(name, &spec.env);
        if !spec.env_from.is_empty() {
            self.skip(
                "MCPServer",
                name,
                "spec.envFrom is not applied locally; set those variables in your environment",
            );
        }
        if spec.config.is_some() {
            self.skip(
                "MCPServer",
                name,
                "spec.config files are only mounted in the cluster",
            );
        }
        match item.transport {
            Transport::Stdio => {
                item.command = Some(program.clone());
                item.args = args;
                item.env = env;
            }
            Transport::StreamableHttp | Transport::Sse => {
                let port = u16::try_from(spec.port)
                    .map_err(|_| format!("spec.port {} is not a port", spec.port))?;
                let mut env = env;
                // Most HTTP MCP servers read their port from PORT.
                env.push(NameValue::literal("PORT", port.to_string()));
                self.processes.push(LocalProcess {
                    server: name.to_string(),
                    command: program.clone(),
                    args,
                    env,
                    port,
                });
                item.url = Some(format!("http://127.0.0.1:{port}{}", spec.path));
            }
        }
        Ok(item)
    }

    fn env(&mut self, server: &str, vars: &[EnvVar]) -> Vec<NameValue> {
        let mut env = Vec::new();
        for var in vars {
            match (&var.value, &var.value_from) {
                (_, Some(from)) => match &from.secret_key_ref {
                    Some(secret) => env.push(NameValue {
                        name: var.name.clone(),
                        value: None,
                        value_from_env: Some(self.secret(&secret.name, &secret.key)),
                    }),
                    None => self.skip(
                        "MCPServer",
                        server,
                        format!("env {} comes from a ConfigMap or the pod, which exist only in the cluster", var.name),
                    ),
                },
                (value, None) => env.push(NameValue::literal(var.name.clone(), value.clone().unwrap_or_default())),
            }
        }
        env
    }
}

fn apply_gateway_settings(config: &mut GatewayConfig, gateway: &MCPGateway, target: Target<'_>) {
    let spec = &gateway.spec;
    let name = object_name(&gateway.metadata);
    config.gateway.name = name.clone();
    config.naming.prefix = spec.tool_naming.prefix;
    config.naming.separator = spec.tool_naming.separator.clone();
    config.naming.on_conflict = match spec.tool_naming.on_conflict {
        hangar_api::ConflictPolicy::Reject => ConflictPolicy::Reject,
        hangar_api::ConflictPolicy::KeepFirst => ConflictPolicy::KeepFirst,
    };
    if let Ok(idle) = duration(&spec.sessions.idle_timeout) {
        config.gateway.session_idle_timeout = idle;
    }
    config.gateway.allowed_origins = spec.allowed_origins.clone();
    let mut hosts = spec.allowed_hosts.clone();
    if let Target::Cluster { namespace } = target {
        // Clients reach the gateway through its Service, its Ingress, or a port-forward.
        for host in [
            name.clone(),
            format!("{name}.{namespace}"),
            format!("{name}.{namespace}.svc"),
            format!("{name}.{namespace}.svc.cluster.local"),
        ] {
            hosts.push(host);
        }
        if let Some(host) = spec.ingress.as_ref().and_then(|i| i.host.clone()) {
            hosts.push(host);
        }
        hosts.extend([
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ]);
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    if !hosts.is_empty() {
        config.gateway.allowed_hosts = hosts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn label_selectors_follow_kubernetes_semantics() {
        let team = labels(&[("team", "a"), ("tier", "web")]);
        assert!(!selects(None, &team), "an absent selector selects nothing");
        assert!(selects(Some(&LabelSelector::default()), &BTreeMap::new()));
        let by_label = LabelSelector {
            match_labels: Some(labels(&[("team", "a")])),
            match_expressions: None,
        };
        assert!(selects(Some(&by_label), &team));
        assert!(!selects(Some(&by_label), &labels(&[("team", "b")])));
        assert!(!selector_matches(&by_label, &BTreeMap::new()));
        let cases = [
            (requirement("tier", "In", &["web", "api"]), true),
            (requirement("tier", "In", &["db"]), false),
            (requirement("tier", "NotIn", &["db"]), true),
            (requirement("missing", "NotIn", &["x"]), true),
            (requirement("team", "Exists", &[]), true),
            (requirement("team", "DoesNotExist", &[]), false),
            (requirement("team", "Sometimes", &["a"]), false),
        ];
        for (requirement, expected) in cases {
            let selector = LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement.clone()]),
            };
            assert_eq!(
                selector_matches(&selector, &team),
                expected,
                "{requirement:?}"
            );
        }
    }

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
        let compiled = compile(
            &Selection {
                gateway: None,
                servers: &selected_b,
                groups: &manifests.server_groups,
                namespace_servers: &manifests.servers,
                tools: &[],
                prompts: &[],
                resources: &[],
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
                servers: &[],
                groups: &manifests.server_groups,
                namespace_servers: &manifests.servers,
                tools: &[],
                prompts: &[],
                resources: &[],
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
