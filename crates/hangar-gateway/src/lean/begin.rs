//! Legacy sessions that begin at rest. rmcp begins every session with a
//! worker task, a service loop and their channels (about 60 KiB); most
//! session requests need none of it (`super::session`). Here `initialize`
//! stores the session's state, as a session put to rest keeps it
//! (`crate::shared::rest`), and answers; `notifications/initialized` of a
//! session at rest is acknowledged. rmcp restores the session, replaying
//! both, when a request first needs its worker (a GET stream, a forwarded
//! call, `logging/setLevel`, a subscription).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    ClientNotification, ClientRequest, InitializeRequestParams, JsonRpcRequest,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_server::SessionManager as _;
use rmcp::transport::streamable_http_server::session::SessionState;

use super::{
    Accepts, Lean, Rmcp, collapse, is_known, json_response, names_version, protocol_header,
};
use crate::handler::CorrelationId;

/// Whether this `initialize` may begin a session at rest: rmcp would take
/// its headers as they are, and nothing of the session must live from the
/// start (servers with `clientSessions` open the client's own sessions as
/// it begins; a bridge mirrors its child).
fn may_begin(lean: &Lean, headers: &HeaderMap, params: &InitializeRequestParams) -> bool {
    let requested = params.protocol_version.as_str();
    let header_agrees = match protocol_header(headers) {
        None => true,
        Some(Ok(version)) => version == requested && is_known(version),
        Some(Err(())) => false,
    };
    // rmcp checks these routing headers against the body; left to it.
    let routed = headers.keys().any(|k| {
        matches!(k.as_str(), "mcp-method" | "mcp-name") || k.as_str().starts_with("mcp-param-")
    });
    header_agrees
        && !routed
        && !lean.gateway.gives_client_sessions()
        && lean.gateway.mirrored().is_none()
}

/// Answers `initialize` (`call`, the request's parsed message) with a new
/// session at rest, as plain JSON, when it may begin one; else rmcp begins it.
pub(super) async fn begin(
    lean: &Lean,
    call: &JsonRpcRequest<ClientRequest>,
    request: Request,
    next: &Rmcp,
) -> Response {
    let ClientRequest::InitializeRequest(initialize) = &call.request else {
        return next.run(request).await;
    };
    if names_version(&call.request) || !may_begin(lean, request.headers(), &initialize.params) {
        return collapse::to_json(request, next).await;
    }
    let correlation = request
        .extensions()
        .get::<CorrelationId>()
        .map(|id| id.0.as_str())
        .unwrap_or_default();
    // A version nothing here can agree to: rmcp words the refusal.
    let Ok(result) = lean.handler.begin_session(&initialize.params, correlation) else {
        return collapse::to_json(request, next).await;
    };
    let session = uuid::Uuid::new_v4().to_string();
    let state = SessionState::new(initialize.params.clone());
    if let Err(error) = lean
        .gateway
        .shared()
        .session_store
        .store(&session, &state)
        .await
    {
        // As rmcp does: the caller (`crate::gatekeeper`) checks that the session can be found.
        tracing::warn!(%error, "cannot store a new session");
    }
    let answer =
        ServerJsonRpcMessage::response(ServerResult::InitializeResult(result), call.id.clone());
    let mut response = json_response(
        StatusCode::OK,
        serde_json::to_vec(&answer).expect("a JSON-RPC message serialises"),
    );
    response.headers_mut().insert(
        "mcp-session-id",
        HeaderValue::from_str(&session).expect("a UUID is a header value"),
    );
    response
}

/// Notifications to a session without its worker here that need none:
/// `notifications/initialized`, which rmcp replays when it restores the
/// session, and `notifications/cancelled` of a call answered without the
/// worker. Others, and sessions live here or unknown, are rmcp's.
pub(super) async fn notified(
    lean: &Lean,
    session: &str,
    notification: &ClientNotification,
    accepts: Accepts,
    request: Request,
    next: &Rmcp,
) -> Response {
    if let ClientNotification::CancelledNotification(cancelled) = notification
        && let Some(id) = &cancelled.params.request_id
        && lean.in_flight.cancel(session, id)
    {
        return StatusCode::ACCEPTED.into_response();
    }
    if !matches!(notification, ClientNotification::InitializedNotification(_))
        || lean
            .sessions
            .has_session(&session.into())
            .await
            .unwrap_or(true)
        || !super::session::at_rest(lean, session).await
    {
        return collapse::unless_json_only(accepts, request, next).await;
    }
    StatusCode::ACCEPTED.into_response()
}
