//! One MCP health check: a real MCP exchange with the server, in whichever
//! protocol era it speaks (`server/discover`, or `initialize` + `initialized`),
//! then `tools/list` through every page, all under one timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_mcp_client::{
    AuthorizedHttp, Authorizer, Lifecycles, SseClientTransport, TokenClient, TokenEndpoint,
    streamable_http,
};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{RoleClient, RunningService};

/// Where and how to check one server.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The MCPServer's name, for refusals in words.
    pub server: String,
    pub url: String,
    /// The 2024-11-05 HTTP+SSE transport rather than Streamable HTTP.
    pub legacy_sse: bool,
    /// Header names and values sent with every request (values may be secrets: never logged).
    pub headers: Vec<(String, String)>,
    /// Where the checks take a bearer token from (client credentials), as gateways do.
    pub token: Option<TokenEndpoint>,
    pub timeout: Duration,
}

impl std::fmt::Debug for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ProbeTarget")
            .field("server", &self.server)
            .field("url", &self.url)
            .field("legacy_sse", &self.legacy_sse)
            .field("headers", &names)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a passing check learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub server_name: String,
    pub server_version: Option<String>,
    pub protocol_version: String,
    pub tools: Vec<String>,
    pub latency: Duration,
}

/// Why a check failed, in words for a status condition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("{url} is not a usable MCP endpoint: {reason}")]
    BadTarget { url: String, reason: String },
    #[error("no MCP handshake with {url}: {reason}")]
    Handshake { url: String, reason: String },
    #[error("tools/list failed: {0}")]
    ListTools(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Runs one check; `token` is the client of `target.token`, kept from one
/// check to the next so that its token is reused while valid.
pub async fn probe(
    http: &reqwest::Client,
    target: &ProbeTarget,
    token: Option<&Arc<TokenClient>>,
) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let exchange = async {
        let client = connect(http, target, token).await?;
        let tools = client
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| ProbeError::ListTools(e.to_string()));
        let info = client.peer().peer_info();
        // Ends the session (DELETE for session-based servers); the outcome does not matter.
        let _ = client.cancel().await;
        let tools = tools?;
        let info = info.ok_or_else(|| ProbeError::Handshake {
            url: target.url.clone(),
            reason: "the server sent no capabilities".into(),
        })?;
        let server = info.server_info.clone().unwrap_or_default();
        Ok(ProbeReport {
            server_name: server.name,
            server_version: Some(server.version).filter(|v| !v.is_empty()),
            protocol_version: info.protocol_version.to_string(),
            tools: tools
                .into_iter()
                .map(|tool| tool.name.to_string())
                .collect(),
            latency: started.elapsed(),
        })
    };
    tokio::time::timeout(target.timeout, exchange)
        .await
        .map_err(|_| ProbeError::Timeout(target.timeout))?
}

async fn connect(
    http: &reqwest::Client,
    target: &ProbeTarget,
    token: Option<&Arc<TokenClient>>,
) -> Result<RunningService<RoleClient, ClientConfig>, ProbeError> {
    let headers = hangar_mcp_client::header_map(
        target
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
    .map_err(|reason| bad_target(target, reason))?;
    let connected = if target.legacy_sse {
        hangar_mcp_client::connect(Lifecycles::legacy(), client_info, || {
            SseClientTransport::connect(http.clone(), &target.url, headers.clone())
        })
        .await
    } else {
        let own = token.map(|token| token.clone() as Arc<dyn Authorizer>);
        let http = AuthorizedHttp::new(http.clone(), &target.server, own);
        hangar_mcp_client::connect(Lifecycles::auto(), client_info, || async {
            Ok(streamable_http(
                http.clone(),
                &target.url,
                headers.clone(),
                None,
            ))
        })
        .await
    };
    connected.map_err(|reason| ProbeError::Handshake {
        url: target.url.clone(),
        reason,
    })
}

fn bad_target(target: &ProbeTarget, reason: String) -> ProbeError {
    ProbeError::BadTarget {
        url: target.url.clone(),
        reason,
    }
}

fn client_info() -> ClientConfig {
    let mut info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("hangar-health-check", env!("CARGO_PKG_VERSION")),
    );
    info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
    info
}
