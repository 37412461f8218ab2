//! An MCPGateway's own settings into the config: its name, naming and
//! session settings, the hosts it answers to, and `spec.redis`, `rateLimit`,
//! `auth`, `audit` and `toolSearch` into the config's sections of those names.
//! Secrets (the Redis URL from a Secret, the bearer tokens) become environment
//! variables the config names, so the ConfigMap never holds one.

use std::collections::HashSet;

use hangar_api::MCPGateway;
use hangar_config::{
    AccessRule, AuditSettings, AuthSettings, AuthorizationSettings, BearerTokens, Limit,
    OidcSettings, REDIS_URL_ENV, RateLimits, RedisSettings, ToolSearchSettings,
};

use crate::{Compiler, Target, duration, object_name};

impl Compiler<'_> {
    pub(crate) fn gateway_settings(&mut self, gateway: &MCPGateway) {
        let spec = &gateway.spec;
        let name = object_name(&gateway.metadata);
        self.identity(gateway);
        if let Some(redis) = &spec.redis {
            self.config.redis = redis_settings(self, &name, redis);
        }
        if let Some(limits) = &spec.rate_limit {
            self.config.rate_limit = Some(RateLimits {
                per_client: limits
                    .per_client
                    .as_ref()
                    .and_then(|l| limit(self, &name, "spec.rateLimit.perClient", l)),
                per_tool: limits
                    .per_tool
                    .as_ref()
                    .and_then(|l| limit(self, &name, "spec.rateLimit.perTool", l)),
                tools: limits
                    .tools
                    .iter()
                    .filter_map(|(tool, l)| {
                        let at = format!("spec.rateLimit.tools.{tool}");
                        limit(self, &name, &at, l).map(|l| (tool.clone(), l))
                    })
                    .collect(),
            });
        }
        if let Some(auth) = &spec.auth {
            // Never dropped, even when invalid: a gateway without its auth section
            // would let everyone in. The gateway refuses an invalid one instead.
            self.config.auth = Some(auth_settings(self, auth));
        }
        self.config.audit = spec.audit.as_ref().map(|audit| AuditSettings {
            include_arguments: audit.include_arguments,
            ..AuditSettings::default()
        });
        self.config.tool_search = spec.tool_search.as_ref().map(|search| ToolSearchSettings {
            // The CRD keeps both within 1..=50; the config's check names any other.
            default_results: u32::try_from(search.default_results).unwrap_or(0),
            max_results: u32::try_from(search.max_results).unwrap_or(0),
        });
    }

    /// The gateway's name, naming and session settings, and the hosts it answers to.
    fn identity(&mut self, gateway: &MCPGateway) {
        let spec = &gateway.spec;
        let name = object_name(&gateway.metadata);
        let config = &mut self.config;
        config.gateway.name = name.clone();
        config.naming.prefix = spec.tool_naming.prefix;
        config.naming.separator = spec.tool_naming.separator.clone();
        config.naming.on_conflict = spec.tool_naming.on_conflict;
        if let Ok(idle) = duration(&spec.sessions.idle_timeout) {
            config.gateway.session_idle_timeout = idle;
        }
        config.gateway.allowed_origins = spec.allowed_origins.clone();
        config.gateway.trusted_proxies = spec.trusted_proxies.clone();
        let mut hosts = spec.allowed_hosts.clone();
        if let Target::Cluster { namespace, .. } = self.target {
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
}

fn redis_settings(
    compiler: &mut Compiler<'_>,
    gateway: &str,
    redis: &hangar_api::RedisSpec,
) -> Option<RedisSettings> {
    let (url, url_from_env, prefix) = match compiler.target {
        // The operator puts the URL (managed, literal or from a Secret) into this variable.
        Target::Cluster { namespace, .. } => (
            None,
            Some(REDIS_URL_ENV.to_string()),
            format!("hangar:{namespace}/{gateway}:"),
        ),
        Target::Local => {
            let prefix = format!("hangar:{gateway}:");
            match (&redis.url, &redis.url_from) {
                (Some(url), _) => (Some(url.clone()), None, prefix),
                (None, Some(from)) => (None, Some(compiler.secret(&from.name, &from.key)), prefix),
                (None, None) => {
                    compiler.skip(
                        "MCPGateway",
                        gateway,
                        "spec.redis.managed: the operator runs that Redis in a cluster; hangar up keeps shared state in memory",
                    );
                    return None;
                }
            }
        }
    };
    let password_from_env = match (&redis.password_from, compiler.target) {
        (Some(from), _) => Some(compiler.secret(&from.name, &from.key)),
        // The operator generates the managed Redis's password.
        (None, Target::Cluster { .. }) if redis.managed => Some(compiler.secret(
            &crate::managed_redis_name(gateway),
            crate::MANAGED_REDIS_PASSWORD_KEY,
        )),
        (None, _) => None,
    };
    let ca_from_env = redis
        .tls
        .as_ref()
        .map(|tls| compiler.secret(&tls.secret_name, crate::REDIS_CA_KEY));
    let mode = redis.mode;
    let prefix = redis.key_prefix.clone().unwrap_or(prefix);
    let mut settings = RedisSettings::new(url, url_from_env, mode, prefix);
    settings.password_from_env = password_from_env;
    settings.ca_from_env = ca_from_env;
    Some(settings)
}

fn limit(
    compiler: &mut Compiler<'_>,
    gateway: &str,
    at: &str,
    limit: &hangar_api::RateLimit,
) -> Option<Limit> {
    let requests = u32::try_from(limit.requests).ok().filter(|r| *r > 0);
    match (requests, duration(&limit.period)) {
        (Some(requests), Ok(period)) => Some(Limit::new(requests, period.0)),
        (None, _) => {
            compiler.skip(
                "MCPGateway",
                gateway,
                format!("{at}.requests must be at least 1; that limit is not applied"),
            );
            None
        }
        (_, Err(why)) => {
            compiler.skip(
                "MCPGateway",
                gateway,
                format!("{at}.period: {why}; that limit is not applied"),
            );
            None
        }
    }
}

fn auth_settings(compiler: &mut Compiler<'_>, auth: &hangar_api::AuthSpec) -> AuthSettings {
    AuthSettings {
        resource: auth.resource.clone(),
        bearer_tokens: auth.bearer_tokens.as_ref().map(|tokens| BearerTokens {
            value_from_env: compiler.secret(&tokens.secret_ref.name, &tokens.secret_ref.key),
        }),
        oidc: auth.oidc.as_ref().map(|oidc| {
            let mut settings = OidcSettings::new(oidc.issuer.clone(), oidc.audiences.clone());
            settings.jwks_url = oidc.jwks_url.clone();
            settings.groups_claim = oidc.groups_claim.clone();
            if let Ok(skew) = duration(&oidc.clock_skew) {
                settings.clock_skew = skew;
            }
            settings
        }),
        authorization: auth.authorization.as_ref().map(|a| AuthorizationSettings {
            default: a.default,
            rules: a
                .rules
                .iter()
                .map(|r| AccessRule {
                    subjects: r.subjects.clone(),
                    groups: r.groups.clone(),
                    scopes: r.scopes.clone(),
                    tools: r.tools.clone(),
                    prompts: r.prompts.clone(),
                    resources: r.resources.clone(),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Candidates, Compiled, SecretDestinations, SecretEnv, Selection, compile};
    use hangar_config::RedisMode;

    fn gateway(spec: serde_json::Value) -> MCPGateway {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mcp-hangar.io/v1alpha1",
            "kind": "MCPGateway",
            "metadata": {"name": "edge", "namespace": "team"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn compiled(gateway: &MCPGateway, target: Target<'_>) -> Compiled {
        let nothing = Candidates::default();
        compile(
            &Selection {
                gateway: Some(gateway),
                selected: Candidates::default(),
                candidates: &nothing,
            },
            target,
        )
    }

    #[test]
    fn redis_rate_limits_and_auth_come_from_the_spec_with_secrets_as_env() {
        let gateway = gateway(serde_json::json!({
            "redis": {"urlFrom": {"name": "redis", "key": "url"}, "mode": "Cluster"},
            "rateLimit": {
                "perClient": {"requests": 100},
                "perTool": {"requests": 10, "period": "10s"},
                "tools": {"search": {"requests": 2, "period": "1h"}},
            },
            "auth": {
                "bearerTokens": {"secretRef": {"name": "gw-tokens", "key": "tokens"}},
                "oidc": {"issuer": "https://id.example.com", "audiences": ["mcp"], "clockSkew": "30s"},
                "resource": "https://mcp.example.com/mcp",
                "authorization": {"default": "Deny", "rules": [{"groups": ["ops"], "tools": ["*"]}]},
            },
            "audit": {"includeArguments": true},
        }));
        let out = compiled(
            &gateway,
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        );
        let redis = out.config.redis.as_ref().unwrap();
        assert_eq!(redis.url_from_env.as_deref(), Some(REDIS_URL_ENV));
        assert_eq!(redis.mode, RedisMode::Cluster);
        assert_eq!(redis.key_prefix, "hangar:team/edge:");
        let limits = out.config.rate_limit.as_ref().unwrap();
        assert_eq!(
            limits.per_client,
            Some(Limit::new(100, std::time::Duration::from_secs(60)))
        );
        assert_eq!(
            limits.for_tool("other"),
            Some(&Limit::new(10, std::time::Duration::from_secs(10)))
        );
        assert_eq!(
            limits.for_tool("search"),
            Some(&Limit::new(2, std::time::Duration::from_secs(3600)))
        );
        assert_eq!(
            out.config.audit,
            Some(AuditSettings {
                stdout: true,
                file: None,
                include_arguments: true
            })
        );
        let auth = out.config.auth.as_ref().unwrap();
        let tokens_env = crate::secret_env_name("gw-tokens", "tokens");
        assert_eq!(
            auth.bearer_tokens.as_ref().unwrap().value_from_env,
            tokens_env
        );
        assert_eq!(auth.oidc.as_ref().unwrap().clock_skew.to_string(), "30s");
        assert_eq!(
            auth.authorization.as_ref().unwrap().rules[0].groups,
            ["ops"]
        );
        assert!(out.secret_env.contains(&SecretEnv {
            env: tokens_env,
            secret: "gw-tokens".into(),
            key: "tokens".into(),
        }));
        // The URL's Secret reaches the pod through the operator's own variable.
        assert_eq!(out.secret_env.len(), 1);
        assert!(
            out.config.problems().is_empty(),
            "{:?}",
            out.config.problems()
        );
        assert!(
            out.config
                .to_yaml()
                .contains("urlFromEnv: HANGAR_REDIS_URL")
        );

        let local = compiled(&gateway, Target::Local);
        let redis = local.config.redis.as_ref().unwrap();
        assert_eq!(
            redis.url_from_env.as_deref(),
            Some(crate::secret_env_name("redis", "url").as_str())
        );
        assert_eq!(redis.key_prefix, "hangar:edge:");
    }

    #[test]
    fn redis_passwords_come_from_secrets_generated_or_given() {
        let cluster = || Target::Cluster {
            namespace: "team",
            secrets: &SecretDestinations::Unchecked,
        };
        let managed = compiled(
            &gateway(serde_json::json!({"redis": {"managed": true}})),
            cluster(),
        );
        let redis = managed.config.redis.as_ref().unwrap();
        let generated = crate::secret_env_name("edge-redis", "password");
        assert_eq!(redis.password_from_env.as_deref(), Some(generated.as_str()));
        assert!(managed.secret_env.contains(&SecretEnv {
            env: generated,
            secret: "edge-redis".into(),
            key: "password".into(),
        }));

        let given = gateway(serde_json::json!({"redis": {
            "url": "redis://shared.team.svc:6379",
            "passwordFrom": {"name": "shared-redis", "key": "password"},
        }}));
        for target in [cluster(), Target::Local] {
            let out = compiled(&given, target);
            let env = crate::secret_env_name("shared-redis", "password");
            let redis = out.config.redis.as_ref().unwrap();
            assert_eq!(redis.password_from_env.as_deref(), Some(env.as_str()));
            assert!(
                out.config.problems().is_empty(),
                "{:?}",
                out.config.problems()
            );
        }
    }

    #[test]
    fn a_managed_redis_stays_in_the_cluster() {
        let gateway = gateway(serde_json::json!({"redis": {"managed": true}}));
        let local = compiled(&gateway, Target::Local);
        assert!(local.config.redis.is_none());
        assert!(
            local
                .skipped
                .iter()
                .any(|s| s.reason.contains("spec.redis.managed")),
            "{:?}",
            local.skipped
        );
        let cluster = compiled(
            &gateway,
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        );
        assert!(cluster.config.redis.is_some());
    }

    #[test]
    fn tool_search_comes_from_the_spec_with_the_crds_defaults() {
        for target in [
            Target::Local,
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        ] {
            let absent = compiled(&gateway(serde_json::json!({})), target);
            assert_eq!(absent.config.tool_search, None);
        }
        let defaults = compiled(
            &gateway(serde_json::json!({"toolSearch": {}})),
            Target::Local,
        );
        assert_eq!(
            defaults.config.tool_search,
            Some(ToolSearchSettings::default())
        );
        let given = compiled(
            &gateway(serde_json::json!({"toolSearch": {"defaultResults": 3, "maxResults": 8}})),
            Target::Local,
        );
        assert_eq!(
            given.config.tool_search,
            Some(ToolSearchSettings {
                default_results: 3,
                max_results: 8
            })
        );
        assert!(
            given.config.problems().is_empty(),
            "{:?}",
            given.config.problems()
        );
    }
}
