//! Requests in a legacy session. In a session this replica holds live, the
//! request is handed to the session directly: JSON when the result is the
//! first thing the session sends (within [`JSON_WINDOW`]), otherwise the SSE
//! stream as rmcp writes it. In a session without a live worker here (at
//! rest, begun at rest, or live on another replica), a request that needs no
//! worker is answered as JSON without one; others go to rmcp, which restores
//! the session. Either way a request whose id is still in flight in its
//! session is refused at once (rmcp would route both answers to one stream
//! and leave the other hanging).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData, GetExtensions, GetMeta, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use tokio_util::sync::CancellationToken;

use super::{
    Accepts, Lean, Parsed, Rmcp, hold, is_known, json_response, names_version, protocol_header,
};

/// How long a session call may take and still be answered as plain JSON.
/// Slower calls get SSE, whose keep-alives and event ids suit long waits.
const JSON_WINDOW: Duration = Duration::from_secs(1);

/// The SSE keep-alive interval rmcp uses for session streams.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether rmcp would take this session request as it is: a legacy version
/// header (or none) and no per-request protocol version.
pub(super) fn is_plain(headers: &HeaderMap, request: &ClientRequest) -> bool {
    legacy_header(headers)
        && !names_version(request)
        && !matches!(request, ClientRequest::InitializeRequest(_))
}

/// A legacy `MCP-Protocol-Version` header, or none (rmcp assumes one then).
pub(super) fn legacy_header(headers: &HeaderMap) -> bool {
    match protocol_header(headers) {
        None => true,
        Some(Ok(version)) => is_known(version) && version < "2026-07-28",
        Some(Err(())) => false,
    }
}

/// Whether a session without a live worker here can be answered without
/// one: a request that sends nothing to the client before its result and
/// reaches no MCP server (a server's call may send notifications and
/// requests on the session), so the detached peer serves it.
fn answers_at_rest(lean: &Lean, request: &ClientRequest) -> bool {
    if request.get_meta().get_progress_token().is_some() {
        return false;
    }
    match request {
        ClientRequest::PingRequest(_)
        | ClientRequest::ListToolsRequest(_)
        | ClientRequest::ListPromptsRequest(_)
        | ClientRequest::ListResourcesRequest(_)
        | ClientRequest::ListResourceTemplatesRequest(_) => true,
        ClientRequest::CallToolRequest(call) => {
            let catalog = lean.gateway.catalog();
            !catalog.searching() && catalog.tool_is_answered_here(&call.params.name)
        }
        _ => false,
    }
}

/// Whether the session exists (its state is in the session store) though
/// no worker of it lives here: at rest, begun at rest, or live on another replica.
pub(super) async fn at_rest(lean: &Lean, session: &str) -> bool {
    let store = &lean.gateway.shared().session_store;
    matches!(store.load(session).await, Ok(Some(_)))
}

/// Request ids in flight per session; for a call answered without the
/// session's worker, what cancels it (rmcp's worker cancels the others).
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<Arc<str>, Calls>>);

/// A session's calls in flight: what cancels each, when this path answers it.
type Calls = HashMap<RequestId, Option<CancellationToken>>;

/// A request id held in flight until dropped.
pub struct Claim {
    in_flight: Arc<InFlight>,
    session: Arc<str>,
    id: RequestId,
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Calls>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `id` in `session`, or `None` when a request with it is in flight.
    fn claim(self: &Arc<Self>, session: &str, id: &RequestId) -> Option<Claim> {
        let mut ids = self.lock();
        let session: Arc<str> = match ids.get_key_value(session) {
            Some((key, _)) => key.clone(),
            None => session.into(),
        };
        let held = ids.entry(session.clone()).or_default();
        if held.contains_key(id) {
            return None;
        }
        held.insert(id.clone(), None);
        Some(Claim {
            in_flight: self.clone(),
            session,
            id: id.clone(),
        })
    }

    /// Cancels the call `id` of `session` if it is answered without the
    /// session's worker; `false` when it is not (rmcp's to cancel, if any).
    pub(super) fn cancel(&self, session: &str, id: &RequestId) -> bool {
        let ids = self.lock();
        match ids.get(session).and_then(|held| held.get(id)) {
            Some(Some(cancel)) => {
                cancel.cancel();
                true
            }
            _ => false,
        }
    }
}

impl Claim {
    /// What cancels the claimed call, answered without the session's worker.
    fn cancellable(&self) -> CancellationToken {
        let cancel = CancellationToken::new();
        if let Some(slot) = self
            .in_flight
            .lock()
            .get_mut(&self.session)
            .and_then(|held| held.get_mut(&self.id))
        {
            *slot = Some(cancel.clone());
        }
        cancel
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut ids = self.in_flight.lock();
        if let Some(held) = ids.get_mut(&self.session) {
            held.remove(&self.id);
            if held.is_empty() {
                ids.remove(&self.session);
            }
        }
    }
}

fn duplicate(id: RequestId) -> Response {
    let error = ErrorData::new(
        ErrorCode::INVALID_REQUEST,
        format!(
            "Invalid Request: a request with id {id} is still in flight in this session; \
             use a new id for each request"
        ),
        None,
    );
    let message = ServerJsonRpcMessage::error(error, Some(id));
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&message).expect("a JSON-RPC error serialises"),
    )
}

pub(super) async fn serve(
    lean: &Lean,
    session: String,
    accepts: Accepts,
    mut request: Request,
    next: &Rmcp,
) -> Response {
    let Some(Parsed(message)) = request.extensions_mut().remove::<Parsed>() else {
        return next.run(request).await;
    };
    let ClientJsonRpcMessage::Request(call) = message.as_ref() else {
        return next.run(request).await;
    };
    let Some(claim) = lean.in_flight.claim(&session, &call.id) else {
        return duplicate(call.id.clone());
    };
    let id: rmcp::transport::streamable_http_server::SessionId = session.as_str().into();
    if !lean.sessions.has_session(&id).await.unwrap_or(false) {
        if answers_at_rest(lean, &call.request) && at_rest(lean, &session).await {
            let (parts, _) = request.into_parts();
            let cancel = claim.cancellable();
            let answer = super::stateless::answer_directly(lean, parts, message, cancel).await;
            drop(claim);
            return json_response(
                StatusCode::OK,
                serde_json::to_vec(&answer).expect("a JSON-RPC message serialises"),
            );
        }
        // Needs its worker, or is gone: rmcp restores it or says so.
        let response = super::collapse::unless_json_only(accepts, request, next).await;
        return response.map(|body| hold(body, claim));
    }
    let mut message = Arc::unwrap_or_clone(message);
    let (parts, _) = request.into_parts();
    if let ClientJsonRpcMessage::Request(call) = &mut message {
        call.request.extensions_mut().insert(parts);
    }
    let stream = match lean.sessions.create_stream(&id, message).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::error!(%error, "cannot pass a request to its session");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Encounter an error when get session: {error}"),
            )
                .into_response();
        }
    };
    answer(lean, stream, accepts, claim).await
}

/// JSON when the first message is the result, else SSE from the start.
async fn answer(
    lean: &Lean,
    stream: impl Stream<Item = ServerSseMessage> + Send + 'static,
    accepts: Accepts,
    claim: Claim,
) -> Response {
    let mut stream = Box::pin(stream);
    let mut head = Vec::new();
    loop {
        let next = if accepts.sse {
            match tokio::time::timeout(JSON_WINDOW, stream.next()).await {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            stream.next().await
        };
        let Some(event) = next else { break };
        match event.message.as_deref() {
            Some(
                message @ (ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)),
            ) => {
                let body = serde_json::to_vec(message).expect("a JSON-RPC message serialises");
                return json_response(StatusCode::OK, body);
            }
            Some(_) if !accepts.sse => {
                // A client that takes only JSON hears only the result.
                tracing::debug!("dropping a message before the result for a JSON-only client");
            }
            Some(_) => {
                head.push(event);
                break;
            }
            // The priming event: it only matters to SSE.
            None => head.push(event),
        }
    }
    sse(lean, futures::stream::iter(head).chain(stream), claim)
}

fn sse(
    lean: &Lean,
    stream: impl Stream<Item = ServerSseMessage> + Send + 'static,
    claim: Claim,
) -> Response {
    let cancel = lean.cancel.clone();
    let events = stream
        .map(move |message| {
            let _held = &claim;
            Ok::<_, std::convert::Infallible>(event(message))
        })
        .take_until(async move { cancel.cancelled().await });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

fn event(message: ServerSseMessage) -> Event {
    let data = message.message.as_deref().map_or_else(String::new, |m| {
        serde_json::to_string(m).expect("a JSON-RPC message serialises")
    });
    let mut event = Event::default().data(data);
    if let Some(id) = message.event_id {
        event = event.id(id);
    }
    if let Some(retry) = message.retry {
        event = event.retry(retry);
    }
    event
}
