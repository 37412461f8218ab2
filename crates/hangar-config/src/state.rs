//! Config sections for state shared by the gateway's replicas: where it lives
//! (`redis`) and the rate limits enforced with it (`rateLimit`).

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::RedisMode;

use crate::tools::check_tool_name;
use crate::values::{DurationSpec, Environment, is_default};

/// The environment variable the operator puts the Redis URL in.
pub const REDIS_URL_ENV: &str = "HANGAR_REDIS_URL";

/// Redis holding legacy sessions, their SSE events, the discovery cache and
/// rate-limit buckets, so that replicas share them. Without this section all
/// of that stays in each replica's memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` URL; for a Cluster, any one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The gateway's environment variable holding the URL (it may carry a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_from_env: Option<String>,
    /// The gateway's environment variable holding the password it
    /// authenticates with (in place of one in the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_from_env: Option<String>,
    /// The gateway's environment variable holding the PEM certificate of the
    /// CA it trusts for a `rediss://` URL (in place of the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_from_env: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: RedisMode,
    /// Prefix of every key, so several gateways can share one Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long a federated server's tool, prompt and resource lists stay cached.
    #[serde(default = "default_discovery_ttl")]
    pub discovery_ttl: DurationSpec,
    /// Longest a Redis command may take before Redis counts as unreachable.
    #[serde(default = "default_redis_timeout")]
    pub timeout: DurationSpec,
}

fn default_key_prefix() -> String {
    "hangar:".into()
}
fn default_discovery_ttl() -> DurationSpec {
    DurationSpec(Duration::from_secs(300))
}
fn default_redis_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(2))
}

impl RedisSettings {
    /// Settings with the default TTL and timeout; set one of `url` and `url_from_env`.
    pub fn new(
        url: Option<String>,
        url_from_env: Option<String>,
        mode: RedisMode,
        key_prefix: String,
    ) -> Self {
        Self {
            url,
            url_from_env,
            password_from_env: None,
            ca_from_env: None,
            mode,
            key_prefix,
            discovery_ttl: default_discovery_ttl(),
            timeout: default_redis_timeout(),
        }
    }

    /// The URL, read from `environment` when asked to.
    pub fn resolve_url(&self, environment: &Environment) -> Result<String, String> {
        match (&self.url, &self.url_from_env) {
            (Some(url), None) => Ok(url.clone()),
            (None, Some(var)) => environment
                .var(var)
                .ok_or_else(|| format!("redis.urlFromEnv: environment variable {var} is not set")),
            _ => Err("redis: set exactly one of url and urlFromEnv".into()),
        }
    }

    /// The password, read from the environment when asked to.
    pub fn resolve_password(&self, environment: &Environment) -> Result<Option<String>, String> {
        self.password_from_env
            .as_ref()
            .map(|var| {
                environment.var(var).ok_or_else(|| {
                    format!("redis.passwordFromEnv: environment variable {var} is not set")
                })
            })
            .transpose()
    }

    /// The CA certificate to trust, read from the environment when asked to.
    pub fn resolve_ca(&self, environment: &Environment) -> Result<Option<String>, String> {
        self.ca_from_env
            .as_ref()
            .map(|var| {
                environment.var(var).ok_or_else(|| {
                    format!("redis.caFromEnv: environment variable {var} is not set")
                })
            })
            .transpose()
    }

    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.url.is_some() == self.url_from_env.is_some() {
            problems.push("redis: set exactly one of url and urlFromEnv".into());
        }
        if let Some(url) = &self.url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            problems.push("redis.url: must start with redis:// or rediss://".into());
        }
        if self.discovery_ttl.0.is_zero() {
            problems.push("redis.discoveryTtl: must be longer than 0".into());
        }
        if self.timeout.0.is_zero() {
            problems.push("redis.timeout: must be longer than 0".into());
        }
    }
}

/// Token-bucket rate limits. With `redis` they hold for all replicas together;
/// otherwise (and while Redis is unreachable) for each replica on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimits {
    /// Requests per client identity: the token's subject, else the client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_client: Option<Limit>,
    /// `tools/call` requests per tool, all clients together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_tool: Option<Limit>,
    /// Limits for particular tools (by the name clients see), replacing `perTool` for them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, Limit>,
}

impl RateLimits {
    /// The limit on calls of `tool`, if any.
    pub fn for_tool(&self, tool: &str) -> Option<&Limit> {
        self.tools.get(tool).or(self.per_tool.as_ref())
    }

    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if let Some(limit) = &self.per_client {
            limit.problems("rateLimit.perClient", problems);
        }
        if let Some(limit) = &self.per_tool {
            limit.problems("rateLimit.perTool", problems);
        }
        for (tool, limit) in &self.tools {
            if let Err(why) = check_tool_name(tool) {
                problems.push(format!("rateLimit.tools.{tool}: {why}"));
            }
            limit.problems(&format!("rateLimit.tools.{tool}"), problems);
        }
    }
}

/// `requests` per `period`: a bucket of `requests` tokens refilled evenly over `period`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limit {
    #[schemars(range(min = 1))]
    pub requests: u32,
    #[serde(default = "default_period")]
    pub period: DurationSpec,
}

fn default_period() -> DurationSpec {
    DurationSpec(Duration::from_secs(60))
}

impl Limit {
    pub fn new(requests: u32, period: Duration) -> Self {
        Self {
            requests,
            period: DurationSpec(period),
        }
    }

    fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if self.requests == 0 {
            problems.push(format!("{at}.requests: must be at least 1"));
        }
        if self.period.0.is_zero() {
            problems.push(format!("{at}.period: must be longer than 0"));
        }
    }
}
