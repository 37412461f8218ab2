//! Requests in a legacy session this replica holds, handed to the session
//! directly: JSON when the result is the first thing the session sends
//! (within [`JSON_WINDOW`]), otherwise the SSE stream as rmcp writes it; and a
//! request whose id is still in flight in its session is refused at once
//! (rmcp would route both answers to one stream and leave the other hanging).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData, GetExtensions, RequestId,
    ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::ServerSseMessage;

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
    let legacy_header = match protocol_header(headers) {
        None => true,
        Some(Ok(version)) => is_known(version) && version < "2026-07-28",
        Some(Err(())) => false,
    };
    legacy_header
        && !names_version(request)
        && !matches!(request, ClientRequest::InitializeRequest(_))
}

/// Request ids in flight per session.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<Arc<str>, HashSet<RequestId>>>);

/// A request id held in flight until dropped.
pub struct Claim {
    in_flight: Arc<InFlight>,
    session: Arc<str>,
    id: RequestId,
}

impl InFlight {
    /// Holds `id` in `session`, or `None` when a request with it is in flight.
    fn claim(self: &Arc<Self>, session: &str, id: &RequestId) -> Option<Claim> {
        let mut ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let session: Arc<str> = match ids.get_key_value(session) {
            Some((key, _)) => key.clone(),
            None => session.into(),
        };
        if !ids.entry(session.clone()).or_default().insert(id.clone()) {
            return None;
        }
        Some(Claim {
            in_flight: self.clone(),
            session,
            id: id.clone(),
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut ids = self.in_flight.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = ids.get_mut(&self.session) {
            set.remove(&self.id);
            if set.is_empty() {
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
    let id: rmcp::transport::streamable_http_server::SessionId = session.into();
    if !lean.sessions.has_session(&id).await.unwrap_or(false) {
        // Held by another replica (or gone): rmcp restores it or says so.
        let response = next.run(request).await;
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
