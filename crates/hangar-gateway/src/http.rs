//! The HTTP face of the gateway: MCP at `/mcp`, plus `/metrics`, `/healthz`
//! and `/readyz`, with a correlation id and metrics on every request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::gateway::Gateway;
use crate::handler::{CorrelationId, GatewayHandler};

/// The Streamable HTTP transport settings the config asks for.
fn transport_config(gateway: &Gateway, cancel: CancellationToken) -> StreamableHttpServerConfig {
    let settings = &gateway.config().gateway;
    let any_host = settings.allowed_hosts.iter().any(|h| h == "*");
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel)
        .with_max_request_body_bytes(
            usize::try_from(settings.max_request_body_bytes).unwrap_or(usize::MAX),
        )
        .with_legacy_session_mode(true)
        // Stateless requests whose handler sends nothing before its result get plain JSON.
        .with_json_response(true);
    config = if any_host {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(settings.allowed_hosts.clone())
    };
    let origins = if settings.allowed_origins.is_empty() && !any_host {
        // A browser page may only talk to us from a host we serve under.
        settings
            .allowed_hosts
            .iter()
            .flat_map(|h| origins_for_host(h))
            .collect()
    } else {
        settings.allowed_origins.clone()
    };
    if origins.is_empty() {
        config.disable_allowed_origins()
    } else {
        config.with_allowed_origins(origins)
    }
}

fn origins_for_host(host: &str) -> Vec<String> {
    let bare_ipv6 = host.parse::<std::net::Ipv6Addr>().is_ok();
    let authority = if bare_ipv6 {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let has_port = !bare_ipv6
        && authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    let port = if has_port { "" } else { ":*" };
    vec![
        format!("http://{authority}{port}"),
        format!("https://{authority}{port}"),
    ]
}

/// The whole HTTP application.
pub fn router(gateway: Gateway, cancel: CancellationToken) -> Router {
    let settings = gateway.config().gateway.clone();
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.channel_capacity = 64;
    sessions.session_config.keep_alive = Some(settings.session_idle_timeout.0);
    let sessions = Arc::new(sessions);
    let factory_gateway = gateway.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(factory_gateway.clone())),
        sessions,
        transport_config(&gateway, cancel),
    );
    Router::new()
        .route_service("/mcp", mcp)
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            correlate,
        ))
        .with_state(gateway)
}

async fn metrics(State(gateway): State<Gateway>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gateway.metrics().render(),
    )
}

async fn readyz(State(gateway): State<Gateway>) -> impl IntoResponse {
    let (ready, detail) = gateway.readiness();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(detail))
}

/// Gives each request an id (the caller's `X-Request-Id`, or a new one), logs
/// under it, echoes it back, and counts `/mcp` requests by status.
async fn correlate(State(gateway): State<Gateway>, mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(CorrelationId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("http", request_id = %id, method = %method, path = %path);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if path == "/mcp" {
        gateway
            .metrics()
            .observe_http(method.as_str(), response.status().as_u16());
        span.in_scope(|| {
            tracing::debug!(
                status = response.status().as_u16(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "http request"
            )
        });
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Serves until `cancel` fires, then drains connections for up to `drain`.
pub async fn serve(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let app = router(gateway, cancel.child_token());
    let shutdown = cancel.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await });
    tokio::select! {
        result = server => result,
        // Long-lived SSE streams would hold graceful shutdown open forever.
        _ = async { cancel.cancelled().await; tokio::time::sleep(drain).await } => Ok(()),
    }
}
