//! One MCP health check: a real MCP exchange with the server, in whichever
//! protocol era it speaks (`server/discover`, or `initialize` + `initialized`),
//! then `tools/list` through every page, all under one timeout.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hangar_gateway::sse_client::SseClientTransport;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

/// Where and how to check one server.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    pub url: String,
    /// The 2024-11-05 HTTP+SSE transport rather than Streamable HTTP.
    pub legacy_sse: bool,
    /// Header names and values sent with every request (values may be secrets: never logged).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl std::fmt::Debug for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ProbeTarget")
            .field("url", &self.url)
            .field("legacy_sse", &self.legacy_sse)
            .field("headers", &names)
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

/// Runs one check.
pub async fn probe(
    http: &reqwest::Client,
    target: &ProbeTarget,
) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let exchange = async {
        let client = connect(http, target).await?;
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
) -> Result<RunningService<RoleClient, ClientConfig>, ProbeError> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &target.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad_target(target, format!("{name:?} is not an HTTP header name")))?;
        let mut value = http::HeaderValue::from_str(value).map_err(|_| {
            bad_target(
                target,
                format!("the value of header {name} is not valid in HTTP"),
            )
        })?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    if target.legacy_sse {
        // The 2024-11-05 transport predates `server/discover`: initialize only.
        let handshake_failed = |reason: String| ProbeError::Handshake {
            url: target.url.clone(),
            reason,
        };
        let transport = SseClientTransport::connect(http.clone(), &target.url, headers)
            .await
            .map_err(handshake_failed)?;
        return client_info()
            .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
            .await
            .map_err(|e| handshake_failed(e.to_string()));
    }
    let headers: HashMap<_, _> = headers
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect();
    // Try the stateless 2026-07-28 `server/discover` first; a server that answers
    // it with a transport error rather than a JSON-RPC one gets a fresh `initialize`.
    let lifecycles = [
        ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        },
        ClientLifecycleMode::Initialize,
    ];
    let mut last_error = String::new();
    for lifecycle in lifecycles {
        let mut config = StreamableHttpClientTransportConfig::with_uri(target.url.clone())
            .custom_headers(headers.clone());
        config.allow_stateless = true;
        let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
        match client_info()
            .serve_with_lifecycle(transport, lifecycle)
            .await
        {
            Ok(client) => return Ok(client),
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(ProbeError::Handshake {
        url: target.url.clone(),
        reason: last_error,
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
