//! The HTTP face of the gateway: MCP at `/mcp`, plus `/metrics`, `/healthz`,
//! `/readyz` and, when clients must authenticate, the protected-resource
//! metadata at `/.well-known/oauth-protected-resource`, with a correlation id
//! and metrics on every request.

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

use crate::gatekeeper::{Gatekeeper, authenticate, guard, metadata};
use crate::gateway::Gateway;
use crate::guidance::{EventIds, guide};
use crate::handler::{CorrelationId, GatewayHandler};
use crate::lean::{Lean, Parsed, Rmcp};
use crate::shared::manager::ReplicaSessions;

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
    let shared = gateway.shared().clone();
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.channel_capacity = 64;
    // With Redis this only frees this replica's copy; Redis expires the session itself.
    sessions.session_config.keep_alive = Some(settings.session_idle_timeout.0);
    if let Some(events) = &shared.events {
        sessions = sessions.with_event_store(events.clone());
    }
    let sessions = Arc::new(ReplicaSessions::new(sessions, shared.rest.clone()));
    let factory_gateway = gateway.clone();
    tokio::spawn(rest_idle_sessions(
        gateway.clone(),
        sessions.clone(),
        shared.clone(),
        cancel.clone(),
    ));
    let lean = Lean::new(gateway.clone(), sessions.clone(), cancel.clone());
    let mut transport = transport_config(&gateway, cancel);
    transport.session_store = Some(shared.session_store.clone());
    let rmcp = Rmcp(StreamableHttpService::new(
        move || Ok(GatewayHandler::new(factory_gateway.clone())),
        sessions.clone(),
        transport,
    ));
    let limit = usize::try_from(settings.max_request_body_bytes).unwrap_or(usize::MAX);
    let body_limits = BodyLimits {
        bytes: limit,
        timeout: settings.connections.body_timeout.0,
    };
    let keeper = Arc::new(Gatekeeper::new(gateway.clone(), sessions, limit));
    let endpoint = Arc::new(Endpoint {
        keeper: keeper.clone(),
        body_limits,
        event_ids: if shared.events.is_some() {
            EventIds::Redis
        } else {
            EventIds::Local
        },
        lean,
        rmcp,
    });
    let mcp = tower::service_fn(move |request: Request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, std::convert::Infallible>(endpoint.serve(request).await) }
    });
    let well_known = Router::new()
        .route("/.well-known/oauth-protected-resource", get(metadata))
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(metadata),
        )
        .with_state(keeper);
    let beside_mcp = Router::new()
        .merge(well_known)
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(settings.allowed_hosts.clone()),
            check_host,
        ));
    Router::new()
        .route_service(&settings.path, mcp)
        .merge(beside_mcp)
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            correlate,
        ))
        .with_state(gateway)
}

/// The steps of one `/mcp` request, in order, as one service: as axum
/// layers, each would clone and box the rest of the stack per request. A
/// batch goes through them once per message.
struct Endpoint {
    keeper: Arc<Gatekeeper>,
    body_limits: BodyLimits,
    event_ids: EventIds,
    lean: Lean,
    rmcp: Rmcp,
}

impl Endpoint {
    async fn serve(self: Arc<Self>, request: Request) -> Response {
        let one = |request| {
            let endpoint = self.clone();
            async move { endpoint.serve_one(request).await }
        };
        crate::batch::serve(one, request, self.body_limits).await
    }

    async fn serve_one(&self, request: Request) -> Response {
        authenticate(&self.keeper, request, async |request| {
            check_jsonrpc(self.body_limits, request, async |request| {
                guide(self.event_ids, request, async |request| {
                    guard(&self.keeper, request, async |request| {
                        crate::lean::serve(&self.lean, request, &self.rmcp).await
                    })
                    .await
                })
                .await
            })
            .await
        })
        .await
    }
}

/// Puts idle sessions to rest and forgets expired ones, until `cancel`.
async fn rest_idle_sessions(
    gateway: Gateway,
    sessions: Arc<ReplicaSessions>,
    shared: Arc<crate::shared::Shared>,
    cancel: CancellationToken,
) {
    let every = (shared.rest.after() / 2).max(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        sessions.rest().await;
        // A resting session's peer (and its channel) must not outlive its worker.
        gateway.forget_closed_sessions();
        if let crate::shared::sessions::Sessions::Memory(memory) = shared.sessions.as_ref() {
            memory.expire();
        }
    }
}

async fn metrics(State(gateway): State<Gateway>) -> impl IntoResponse {
    if let Some(link) = &gateway.shared().link {
        gateway.metrics().set_redis_up(link.is_up());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gateway.metrics().render(),
    )
}

async fn readyz(State(gateway): State<Gateway>) -> impl IntoResponse {
    let (ready, mut detail) = gateway.readiness();
    // Reported, not a reason to be unready: stateless traffic works without it.
    detail["sharedState"] = gateway.shared().status().await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(detail))
}

/// DNS-rebinding protection for the paths beside the MCP endpoint (rmcp
/// guards that one with the same list): a page whose name was rebound to
/// this gateway sends its own name as `Host` and is refused. An IP address
/// as `Host` is accepted too, as kubelet probes and Prometheus send it; a
/// rebinding page cannot send one (its origin is a name).
async fn check_host(
    State(allowed): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if host_allowed(&allowed, host) {
        return next.run(request).await;
    }
    (
        StatusCode::FORBIDDEN,
        format!("Forbidden: Host `{host}` is not one this gateway serves (gateway.allowedHosts)"),
    )
        .into_response()
}

fn host_allowed(allowed: &[String], host: &str) -> bool {
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let name = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    allowed.iter().any(|entry| {
        entry == "*"
            || entry.eq_ignore_ascii_case(name)
            || entry.eq_ignore_ascii_case(authority.as_str())
    })
}

/// How much of a request body the gateway reads, and for how long it waits.
#[derive(Clone, Copy)]
pub(crate) struct BodyLimits {
    bytes: usize,
    timeout: Duration,
}

/// Answers malformed JSON-RPC with the JSON-RPC errors clients expect (the
/// transport alone would refuse such bodies with a bare HTTP status), and
/// refuses oversized or slow bodies before reading them fully.
async fn check_jsonrpc(
    body_limits: BodyLimits,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if request.method() != axum::http::Method::POST {
        return next(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&parts.headers, body, body_limits).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let stateless = parts
        .headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= "2026-07-28");
    let mut parts = parts;
    match jsonrpc_problem(&bytes, stateless) {
        Err(error) => return *error,
        Ok(message) => {
            parts.extensions.insert(Parsed(Arc::new(message)));
        }
    }
    next(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The whole body within the size and time limits; a declared length over
/// the limit is refused before reading.
pub(crate) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limits: BodyLimits,
) -> Result<axum::body::Bytes, Response> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limits.bytes) {
        return Err(too_large(limits.bytes));
    }
    match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.bytes)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(too_large(limits.bytes)),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "Request Timeout: the body did not arrive within {}",
                hangar_config::DurationSpec(limits.timeout)
            ),
        )
            .into_response()),
    }
}

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Payload Too Large: the request body exceeds the gateway's limit of {limit} bytes"),
    )
        .into_response()
}

fn jsonrpc_error(
    status: StatusCode,
    id: serde_json::Value,
    code: i32,
    message: String,
) -> Response {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Why `params` do not fit a standard MCP request `method`, when they do not.
fn params_mismatch(method: &str, params: Option<&serde_json::Value>) -> Option<String> {
    use rmcp::model::*;
    fn check<T: serde::de::DeserializeOwned>(params: Option<&serde_json::Value>) -> Option<String> {
        let params = params.cloned().unwrap_or_else(|| serde_json::json!({}));
        serde_json::from_value::<T>(params)
            .err()
            .map(|e| e.to_string())
    }
    match method {
        "tools/call" => check::<CallToolRequestParams>(params),
        "prompts/get" => check::<GetPromptRequestParams>(params),
        "resources/read" => check::<ReadResourceRequestParams>(params),
        "resources/subscribe" | "resources/unsubscribe" => check::<SubscribeRequestParams>(params),
        "completion/complete" => check::<CompleteRequestParams>(params),
        "initialize" => check::<InitializeRequestParams>(params),
        "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
            check::<Option<PaginatedRequestParams>>(params)
        }
        _ => None,
    }
}

/// Methods the stateless revision removed; the transport answers them with 404 and -32601.
const REMOVED_IN_STATELESS: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The body as one JSON-RPC message, or the error response for a body that
/// is not one valid JSON-RPC message.
fn jsonrpc_problem(
    bytes: &[u8],
    stateless: bool,
) -> Result<rmcp::model::ClientJsonRpcMessage, Box<Response>> {
    jsonrpc_message(bytes, stateless)
        .map_err(|problem| problem.unwrap_or_else(|| Box::new(invalid(bytes))))
}

/// The message, or why not: `Err(Some)` for bad params of a known method,
/// `Err(None)` when the body is no message at all.
fn jsonrpc_message(
    bytes: &[u8],
    stateless: bool,
) -> Result<rmcp::model::ClientJsonRpcMessage, Option<Box<Response>>> {
    use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
    if let Some(call) = crate::tool_call_message::parse(bytes) {
        return Ok(call);
    }
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(bytes).map_err(|_| None)?;
    // Params that do not fit a standard method parse as a custom request;
    // that is a params error, not an unknown method.
    let ClientJsonRpcMessage::Request(request) = &message else {
        return Ok(message);
    };
    let ClientRequest::CustomRequest(custom) = &request.request else {
        return Ok(message);
    };
    let per_request_version = custom
        .params
        .as_ref()
        .and_then(|p| p.pointer("/_meta/io.modelcontextprotocol~1protocolVersion"))
        .is_some();
    if (stateless || per_request_version) && REMOVED_IN_STATELESS.contains(&custom.method.as_str())
    {
        return Ok(message);
    }
    let Some(why) = params_mismatch(&custom.method, custom.params.as_ref()) else {
        return Ok(message);
    };
    let id = serde_json::to_value(&request.id).unwrap_or_default();
    Err(Some(Box::new(jsonrpc_error(
        StatusCode::OK,
        id,
        -32602,
        format!("Invalid params for {}: {why}", custom.method),
    ))))
}

/// The error response for a body that is not one JSON-RPC message.
fn invalid(bytes: &[u8]) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                serde_json::Value::Null,
                -32700,
                format!("Parse error: the body is not JSON ({e})"),
            );
        }
    };
    // Batches (arrays) were answered by `crate::batch` before this.
    let Some(object) = value.as_object() else {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            serde_json::Value::Null,
            -32600,
            "Invalid Request: a JSON-RPC message must be a JSON object".to_string(),
        );
    };
    let id = object.get("id").cloned().unwrap_or(serde_json::Value::Null);
    // MCP ids are strings or integers; rmcp keeps integers as i64.
    let valid_id = match &id {
        serde_json::Value::String(_) => true,
        serde_json::Value::Number(number) => number.is_i64(),
        _ => false,
    };
    if let serde_json::Value::Number(number) = &id
        && !valid_id
    {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            serde_json::Value::Null,
            -32600,
            format!(
                "Invalid Request: the id {number} is not one MCP allows: send a string, or an integer from -2^63 to 2^63-1"
            ),
        );
    }
    match (
        object.get("jsonrpc").and_then(|v| v.as_str()),
        object.get("method"),
    ) {
        (Some("2.0"), Some(serde_json::Value::String(method))) if valid_id => {
            let why = params_mismatch(method, object.get("params"))
                .unwrap_or_else(|| "they do not match the method's schema".to_string());
            jsonrpc_error(
                StatusCode::OK,
                id,
                -32602,
                format!("Invalid params for {method}: {why}"),
            )
        }
        (Some("2.0"), Some(serde_json::Value::String(_))) if !object.contains_key("id") => (
            StatusCode::BAD_REQUEST,
            "Bad Request: a notification with invalid params was ignored",
        )
            .into_response(),
        _ => jsonrpc_error(
            StatusCode::BAD_REQUEST,
            if valid_id {
                id
            } else {
                serde_json::Value::Null
            },
            -32600,
            "Invalid Request: expected {\"jsonrpc\": \"2.0\", \"method\": ..., \"id\": ...}"
                .to_string(),
        ),
    }
}

/// A random (version 4) UUID from the thread's generator: `Uuid::new_v4`
/// asks the kernel for every id, a system call per request on the hot path.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// The name of `correlate`'s span.
const REQUEST_SPAN: &str = "http";

/// Whether the caller runs within `correlate`'s span of an HTTP request.
pub(crate) fn within_request_span() -> bool {
    tracing::Span::current()
        .metadata()
        .is_some_and(|span| span.name() == REQUEST_SPAN && span.target() == module_path!())
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
        .unwrap_or_else(new_request_id);
    request.extensions_mut().insert(CorrelationId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!(REQUEST_SPAN, request_id = %id, method = %method, path = %path);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if path == gateway.config().gateway.path {
        let status = response.status().as_u16();
        gateway.metrics().observe_http(method.as_str(), status);
        // Time to the response head: SSE bodies keep streaming after this.
        // Counted in the metrics; logged per request only at debug (a line
        // per call at info would cost more than the call under load).
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        span.in_scope(|| tracing::debug!(status, ms, "mcp request"));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Serves until `cancel` fires, then drains connections for up to `drain`.
/// Serves until `stop`, then drains: new connections are refused and open
/// ones finish the request they serve (a call in flight is answered) for up
/// to `drain`. Only then do sessions and event streams end: ending them at
/// `stop` would cut the calls in flight.
pub async fn serve(
    gateway: Gateway,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
    drain: Duration,
) -> std::io::Result<()> {
    let limits = gateway.config().gateway.connections.clone();
    let sessions = CancellationToken::new();
    let _end_sessions = sessions.clone().drop_guard();
    let app = router(gateway, sessions);
    crate::connections::serve(app, listener, &limits, stop, drain).await
}

#[cfg(test)]
mod tests {
    use super::{host_allowed, new_request_id};

    #[test]
    fn new_request_ids_are_random_uuids() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1000, "no id repeats");
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
        }
    }

    #[test]
    fn hosts_beside_mcp_are_the_allowed_names_or_ip_addresses() {
        let allowed = ["localhost".to_string(), "gw.example:8443".to_string()];
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST",
            "gw.example:8443",
        ] {
            assert!(host_allowed(&allowed, host), "{host}");
        }
        for host in ["10.1.2.3:8080", "127.0.0.1", "[::1]:8080"] {
            assert!(host_allowed(&allowed, host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "gw.example:9999",
            "",
            "a b",
        ] {
            assert!(!host_allowed(&allowed, host), "{host}");
        }
        assert!(host_allowed(&["*".to_string()], "anything.example"));
    }
}
