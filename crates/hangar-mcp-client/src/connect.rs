//! Connecting to an MCP server in whichever protocol era it speaks.

use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService, Service};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig,
};
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport};

/// The handshakes to try, in order, until one succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycles(Vec<ClientLifecycleMode>);

impl Lifecycles {
    /// The stateless 2026-07-28 `server/discover` first, then a fresh
    /// `initialize`: some session-based HTTP servers answer an unknown first
    /// request with a transport error rather than a JSON-RPC one.
    pub fn auto() -> Self {
        Self(vec![
            ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
            },
            ClientLifecycleMode::Initialize,
        ])
    }

    /// Only the `initialize` handshake (revisions up to 2025-11-25; the
    /// 2024-11-05 HTTP+SSE transport predates `server/discover`).
    pub fn legacy() -> Self {
        Self(vec![ClientLifecycleMode::Initialize])
    }

    /// Only the stateless 2026-07-28 revision.
    pub fn modern() -> Self {
        Self(vec![ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        }])
    }
}

/// Runs `client()` over a fresh `transport()` with each lifecycle in turn and
/// returns the first session that completes its handshake, or the last
/// attempt's error in words.
pub async fn connect<S, T, E, A, Fut>(
    lifecycles: Lifecycles,
    client: impl Fn() -> S,
    mut transport: impl FnMut() -> Fut,
) -> Result<RunningService<RoleClient, S>, String>
where
    S: Service<RoleClient>,
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>>,
{
    let mut last_error = String::from("no handshake was tried");
    for lifecycle in lifecycles.0 {
        match client()
            .serve_with_lifecycle(transport().await?, lifecycle)
            .await
        {
            Ok(running) => return Ok(running),
            Err(error) => {
                last_error = crate::handshake_failure(&error);
                tracing::debug!(error = %last_error, "MCP handshake attempt failed");
            }
        }
    }
    Err(last_error)
}

/// A Streamable HTTP client transport to `url` that sends `headers` with every
/// request and accepts stateless (2026-07-28) servers.
pub fn streamable_http<C: StreamableHttpClient>(
    http: C,
    url: &str,
    headers: http::HeaderMap,
    max_concurrent_requests: Option<usize>,
) -> StreamableHttpClientTransport<C> {
    let headers = headers
        .into_iter()
        .filter_map(|(name, value)| Some((name?, value)))
        .collect();
    let mut config =
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(headers);
    if let Some(max) = max_concurrent_requests {
        config = config.max_concurrent_requests(max);
    }
    config.allow_stateless = true;
    StreamableHttpClientTransport::with_client(http, config)
}
