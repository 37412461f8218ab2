//! The `servers` section: upstream MCP servers whose tools, prompts and
//! resources are federated (MCPServer).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::Transport;

use crate::outbound::UpstreamAuth;
use crate::routing::{CircuitBreakerSettings, ScaleToZero};
use crate::tools::is_tool_name_char;
use crate::values::{
    DurationSpec, NameValue, check_http_url, check_name_values, check_timeout, is_default, is_true,
    yes,
};

/// An upstream MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    /// A Kubernetes object name (lowercase letters, digits, `-` and `.`); the default name prefix.
    pub name: String,
    pub transport: Transport,
    /// Endpoint for `streamable-http` (e.g. `http://svc:8080/mcp`) and `sse` (e.g. `http://svc:8080/sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Extra request headers for HTTP transports (e.g. API keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Tokens and identity the gateway presents to the server (`streamable-http` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UpstreamAuth>,
    /// Program to run for `stdio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment of the `stdio` child, added to the gateway's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<NameValue>,
    /// Working directory of the `stdio` child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Replaces `<name><separator>` as this server's prefix; `""` exposes names unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Per-request timeout; defaults to `gateway.defaultTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
    /// How long connecting (including starting a child and the handshake) may take.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: DurationSpec,
    /// Which protocol lifecycle to speak to the server.
    #[serde(default, skip_serializing_if = "is_default")]
    pub protocol: ProtocolPreference,
    /// List the server's tools, prompts and resources on their own; `false`
    /// for a server reached only through the groups it is a member of.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub expose: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub circuit_breaker: CircuitBreakerSettings,
    /// Run the server only while it is used (MCPServer `replicas: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_to_zero: Option<ScaleToZero>,
    /// How many session-based clients get a session of their own with the
    /// server, in their own era and with their own capabilities, so that what
    /// the server keeps per session (roots, log level, per-session state) and
    /// the requests it sends outside a call are theirs alone; the rest share
    /// the gateway's session. Over stdio each is one more child process.
    /// `0` (the default): every client shares the gateway's session.
    #[serde(default, skip_serializing_if = "is_default")]
    pub client_sessions: u32,
}

/// Most sessions of their own a server may hold for clients.
pub const MAX_CLIENT_SESSIONS: u32 = 1024;

pub(crate) fn default_connect_timeout() -> DurationSpec {
    DurationSpec(Duration::from_secs(60))
}

/// Protocol lifecycle towards an upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProtocolPreference {
    /// Try the stateless 2026-07-28 `server/discover`, fall back to `initialize`.
    #[default]
    Auto,
    /// Always use the `initialize` handshake (revisions up to 2025-11-25).
    Legacy,
    /// Only the stateless 2026-07-28 revision.
    Modern,
}

impl ServerSpec {
    /// What is wrong with this server on its own (not how groups use it); `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if !is_server_name(&self.name) {
            problems.push(format!(
                "{at}.name: use 1-253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
            ));
        }
        if let Some(prefix) = &self.prefix
            && !prefix.chars().all(is_tool_name_char)
        {
            problems.push(format!("{at}.prefix: may only contain A-Z a-z 0-9 _ - ."));
        }
        match self.transport {
            Transport::StreamableHttp | Transport::Sse => {
                match &self.url {
                    Some(url) => check_http_url(url, &format!("{at}.url"), problems),
                    None => problems.push(format!(
                        "{at}.url: required for transport {}",
                        self.transport
                    )),
                }
                if self.command.is_some()
                    || !self.args.is_empty()
                    || !self.env.is_empty()
                    || self.cwd.is_some()
                {
                    problems.push(format!(
                        "{at}: command, args, env and cwd only apply to transport stdio"
                    ));
                }
                check_name_values(&self.headers, &format!("{at}.headers"), problems);
            }
            Transport::Stdio => {
                if self.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    problems.push(format!("{at}.command: required for transport stdio"));
                }
                if self.url.is_some() || !self.headers.is_empty() {
                    problems.push(format!(
                        "{at}: url and headers only apply to HTTP transports"
                    ));
                }
                check_name_values(&self.env, &format!("{at}.env"), problems);
            }
        }
        if let Some(auth) = &self.auth {
            auth.problems(&format!("{at}.auth"), problems);
            if self.transport != Transport::StreamableHttp {
                problems.push(format!(
                    "{at}.auth: only the streamable-http transport carries tokens per request"
                ));
            }
            auth.header_problems(&self.headers, &format!("{at}.headers"), problems);
        }
        if self.transport == Transport::Sse && self.protocol == ProtocolPreference::Modern {
            problems.push(format!(
                "{at}.protocol: the sse transport predates the 2026-07-28 revision; use auto or legacy"
            ));
        }
        check_timeout(self.timeout, &format!("{at}.timeout"), problems);
        check_timeout(
            Some(self.connect_timeout),
            &format!("{at}.connectTimeout"),
            problems,
        );
        self.circuit_breaker
            .problems(&format!("{at}.circuitBreaker"), problems);
        if let Some(scale) = &self.scale_to_zero {
            scale.problems(&format!("{at}.scaleToZero"), problems);
        }
        if self.client_sessions > MAX_CLIENT_SESSIONS {
            problems.push(format!(
                "{at}.clientSessions: at most {MAX_CLIENT_SESSIONS}"
            ));
        }
        if self.client_sessions > 0 && self.protocol == ProtocolPreference::Modern {
            problems.push(format!(
                "{at}.clientSessions: sessions of their own are for session-based clients, and protocol modern speaks only the stateless 2026-07-28 revision to the server; use auto or legacy"
            ));
        }
    }
}

/// A Kubernetes object name: 1-253 lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit.
pub(crate) fn is_server_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(ok_char)
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last())
}
