//! MCPServer and MCPServerGroup objects into the config's `servers` and
//! `groups`: where each server is reached from the target (its Service in a
//! cluster, a local process or stdio child under `hangar up`), its breaker
//! and scale-to-zero settings, and each group's members.

use hangar_api::{MCPServer, MCPServerGroup};
use hangar_config::{
    DurationSpec, GroupSpec, NameValue, ObjectName, ProtocolPreference, ScaleToZero, ServerSpec,
    Transport,
};
use k8s_openapi::api::core::v1::EnvVar;
use kube::ResourceExt;

use crate::{
    Compiler, LocalProcess, Target, activity_lease_name, duration, in_cluster_url, namespace_of,
    object_name, selector_matches,
};

/// How long connecting to a federated server (start, handshake) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Compiler<'_> {
    /// The servers the gateway selected, each exposed on its own.
    pub(crate) fn servers(&mut self, servers: &[MCPServer]) {
        let mut sorted: Vec<&MCPServer> = servers.iter().collect();
        sorted.sort_by_key(|s| object_name(&s.metadata));
        for server in sorted {
            let object = object_name(&server.metadata);
            match self.checked_server(&object, server) {
                Ok(item) => self.config.servers.push(item),
                Err(why) => self.skip("MCPServer", &object, why),
            }
        }
    }

    /// The groups the gateway selected, with members from `candidates`.
    pub(crate) fn groups(&mut self, groups: &[MCPServerGroup], candidates: &[MCPServer]) {
        let mut sorted: Vec<&MCPServerGroup> = groups.iter().collect();
        sorted.sort_by_key(|g| object_name(&g.metadata));
        for group in sorted {
            if let Some(item) = self.group(group, candidates) {
                self.config.groups.push(item);
            }
        }
    }

    /// A server entry that passes the config's own checks.
    fn checked_server(&mut self, name: &str, server: &MCPServer) -> Result<ServerSpec, String> {
        if let Some(why) = self.unresolved.get(name) {
            return Err(format!(
                "its catalog entry (spec.registry) does not resolve: {why}"
            ));
        }
        let item = self.server(name, server)?;
        let mut problems = Vec::new();
        item.problems(
            &format!("servers[{}] ({name})", self.config.servers.len()),
            &mut problems,
        );
        if problems.is_empty() {
            if let Target::Cluster { .. } = self.target
                && server.spec.mode == hangar_api::ServerMode::Container
            {
                self.workloads.push(name.to_string());
            }
            Ok(item)
        } else {
            Err(problems.join("; "))
        }
    }

    /// A group whose members are the MCPServers of its namespace matching its
    /// selector; members the gateway does not serve on their own are added to
    /// `config.servers` unexposed.
    fn group(&mut self, group: &MCPServerGroup, candidates: &[MCPServer]) -> Option<GroupSpec> {
        let name = object_name(&group.metadata);
        let mut members: Vec<&MCPServer> = candidates
            .iter()
            .filter(|server| {
                namespace_of(&server.metadata) == namespace_of(&group.metadata)
                    && selector_matches(&group.spec.selector, server.labels())
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
            if !self.config.servers.iter().any(|s| s.name == object) {
                match self.checked_server(&object, member) {
                    Ok(item) => self.config.servers.push(ServerSpec {
                        expose: false,
                        ..item
                    }),
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
            strategy: spec.strategy,
            max_retries: u32::try_from(spec.failover.max_retries).unwrap_or(0),
            prefix: None,
        })
    }

    fn server(&mut self, name: &str, server: &MCPServer) -> Result<ServerSpec, String> {
        let spec = &server.spec;
        let circuit_breaker = spec
            .circuit_breaker
            .settings()
            .map_err(|why| format!("spec.circuitBreaker.resetTimeout: {why}"))?
            .into();
        // A cold server (replicas: 0, no autoscaler owning the count) runs only while used.
        let scale_to_zero = if spec.mode == hangar_api::ServerMode::Container
            && spec.replicas == 0
            && spec.autoscaling.is_none()
        {
            let idle_ttl =
                duration(&spec.idle_ttl).map_err(|why| format!("spec.idleTTL: {why}"))?;
            let in_namespace = |name: String| match self.target {
                Target::Cluster { namespace, .. } => Some(ObjectName {
                    namespace: namespace.to_string(),
                    name,
                }),
                Target::Local => None,
            };
            Some(ScaleToZero {
                idle_ttl,
                wake_timeout: duration(&spec.wake_timeout)
                    .map_err(|why| format!("spec.wakeTimeout: {why}"))?,
                mcp_server: in_namespace(name.to_string()),
                activity_lease: self
                    .gateway
                    .as_deref()
                    .and_then(|gateway| in_namespace(activity_lease_name(name, gateway))),
            })
        } else {
            None
        };
        let mut item = ServerSpec {
            name: name.to_string(),
            transport: spec.transport,
            url: None,
            headers: Vec::new(),
            auth: None,
            command: None,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            prefix: None,
            timeout: None,
            connect_timeout: DurationSpec(CONNECT_TIMEOUT),
            protocol: ProtocolPreference::Auto,
            expose: true,
            circuit_breaker,
            scale_to_zero,
            client_sessions: spec.client_sessions,
        };
        match spec.mode {
            hangar_api::ServerMode::Remote => {
                let Some(endpoint) = &spec.endpoint else {
                    return Err("remote mode without spec.endpoint (catalog entries from spec.registry are resolved by the operator)".into());
                };
                item.url = Some(endpoint.clone());
                item.headers = self.headers(&spec.headers, endpoint)?;
                item.auth = self.upstream_auth(spec.auth.as_ref())?;
                if item.transport == Transport::Stdio {
                    return Err("a remote server speaks streamable-http or sse, not stdio".into());
                }
                Ok(item)
            }
            hangar_api::ServerMode::Container => match self.target {
                Target::Cluster { .. } => {
                    // The operator runs it behind a Service of the same name; stdio servers are bridged to HTTP.
                    item.url = in_cluster_url(server);
                    if item.transport == Transport::Stdio {
                        item.transport = Transport::StreamableHttp;
                    }
                    self.container_headers(item, server)
                }
                Target::Local => {
                    let item = self.local_container(name, server, item)?;
                    self.container_headers(item, server)
                }
            },
        }
    }

    /// A container server's headers, sent by the gateway as the operator's
    /// probe sends them.
    fn container_headers(
        &mut self,
        mut item: ServerSpec,
        server: &MCPServer,
    ) -> Result<ServerSpec, String> {
        if let Some(url) = item.url.clone() {
            item.headers = self.headers(&server.spec.headers, &url)?;
            item.auth = self.upstream_auth(server.spec.auth.as_ref())?;
        }
        Ok(item)
    }

    fn local_container(
        &mut self,
        name: &str,
        server: &MCPServer,
        mut item: ServerSpec,
    ) -> Result<ServerSpec, String> {
        let spec = &server.spec;
        let Some((program, rest)) = spec.command.split_first() else {
            let image = match spec.image_reference() {
                Some(image) => format!("runs the image {image}"),
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
