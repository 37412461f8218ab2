//! The lean request path: the common `POST /mcp` requests answered without
//! rmcp's Streamable HTTP server layer, which costs more per call than the
//! call itself (a body parsed twice more and re-serialised, a service loop,
//! two tasks and their channels per stateless request, SSE for every
//! session answer).
//!
//! - Stateless 2026-07-28 requests that can have no message before their
//!   result (no progress token, no log level) call the handler directly and
//!   get plain JSON ([`stateless`]).
//! - Requests in a session this replica holds go to the session directly:
//!   a single immediate result is plain JSON, anything else SSE; a request id
//!   already in flight in the session is refused at once ([`session`]).
//! - `initialize` begins a session at rest, with none of rmcp's per-session
//!   state until a request needs it ([`begin`]); requests that need no
//!   worker are answered in such a session without one ([`session`]).
//! - Clients that accept only JSON get JSON everywhere, and `initialize`
//!   answers JSON ([`collapse`]).
//!
//! Everything else (other methods, unusual headers, sessions held by another
//! replica, browsers' `Origin` checks) goes to rmcp unchanged, which also
//! produces every error answer; this path only takes requests rmcp would
//! accept, and answers them as rmcp would.

mod begin;
mod collapse;
mod session;
mod stateless;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, ProtocolVersion};
use rmcp::service::{Peer, RoleServer};
use rmcp::transport::StreamableHttpService;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use crate::handler::GatewayHandler;
use crate::shared::manager::ReplicaSessions;

pub use session::InFlight;
#[cfg(test)]
pub(crate) use stateless::detached_peer;

/// rmcp's Streamable HTTP service: what serves the requests this path does not take.
pub struct Rmcp(pub StreamableHttpService<GatewayHandler, ReplicaSessions>);

impl Rmcp {
    pub async fn run(&self, request: Request) -> Response {
        self.0.handle(request).await.map(axum::body::Body::new)
    }
}

/// The message `check_jsonrpc` parsed, so that nothing parses it again.
#[derive(Clone)]
pub struct Parsed(pub Arc<ClientJsonRpcMessage>);

/// State of the lean path, shared by every request.
pub struct Lean {
    gateway: Gateway,
    sessions: Arc<ReplicaSessions>,
    /// Answers stateless requests; they keep no per-client state.
    handler: GatewayHandler,
    /// The peer of direct stateless calls. Its service loop has ended, so
    /// anything sent to it fails at once: stateless requests taken here
    /// neither get notifications nor allow server-to-client requests.
    peer: Peer<RoleServer>,
    in_flight: Arc<InFlight>,
    /// Host values accepted as they are; others go to rmcp's checks.
    hosts: Arc<[String]>,
    cancel: CancellationToken,
}

impl Lean {
    /// Needs a Tokio runtime (it starts the detached peer's loop, which ends at once).
    pub fn new(
        gateway: Gateway,
        sessions: Arc<ReplicaSessions>,
        cancel: CancellationToken,
    ) -> Self {
        let handler = GatewayHandler::new(gateway.clone());
        let peer = stateless::detached_peer(handler.clone());
        let hosts = gateway
            .config()
            .gateway
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Self {
            gateway,
            sessions,
            handler,
            peer,
            in_flight: Arc::default(),
            hosts,
            cancel,
        }
    }

    /// Whether rmcp's Host and Origin checks would certainly pass: the Host
    /// is listed as it is (or any host is allowed) and there is no Origin.
    fn plainly_allowed(&self, headers: &HeaderMap) -> bool {
        if headers.contains_key(header::ORIGIN) {
            return false;
        }
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let bare = host
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(host.as_str(), |(name, _)| name);
        self.hosts
            .iter()
            .any(|allowed| allowed == "*" || *allowed == host || *allowed == bare)
    }
}

/// What the `Accept` header admits, read the simple way; anything unusual
/// (weights, parameters) is left to rmcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepts {
    pub json: bool,
    pub sse: bool,
}

impl Accepts {
    pub(crate) fn read(headers: &HeaderMap) -> Option<Self> {
        let mut accepts = Accepts {
            json: false,
            sse: false,
        };
        for value in headers.get_all(header::ACCEPT) {
            for item in value.to_str().ok()?.split(',') {
                let item = item.trim();
                if item.contains(';') {
                    return None;
                }
                accepts.json |= item.eq_ignore_ascii_case("application/json");
                accepts.sse |= item.eq_ignore_ascii_case("text/event-stream");
            }
        }
        Some(accepts)
    }
}

fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or(v).trim();
            essence.eq_ignore_ascii_case("application/json")
        })
}

/// The `MCP-Protocol-Version` header, when present and readable.
fn protocol_header(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    headers
        .get("mcp-protocol-version")
        .map(|v| v.to_str().map_err(|_| ()))
}

fn is_known(version: &str) -> bool {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|v| v.as_str() == version)
}

/// Takes the `POST /mcp` requests the lean path serves; passes the rest on.
pub async fn serve(lean: &Lean, request: Request, next: &Rmcp) -> Response {
    if request.method() != Method::POST || !lean.plainly_allowed(request.headers()) {
        return next.run(request).await;
    }
    let (Some(accepts), true) = (
        Accepts::read(request.headers()),
        is_json_body(request.headers()),
    ) else {
        return next.run(request).await;
    };
    let Some(Parsed(message)) = request.extensions().get::<Parsed>().cloned() else {
        return next.run(request).await;
    };
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ClientJsonRpcMessage::Request(call) = message.as_ref() else {
        if let (Some(id), ClientJsonRpcMessage::Notification(n)) = (&session, message.as_ref())
            && session::legacy_header(request.headers())
        {
            return begin::notified(lean, id, &n.notification, accepts, request, next).await;
        }
        return collapse::unless_json_only(accepts, request, next).await;
    };
    match session {
        Some(id) if accepts.json && session::is_plain(request.headers(), &call.request) => {
            session::serve(lean, id, accepts, request, next).await
        }
        None if accepts.json && stateless::is_plain(lean, request.headers(), &call.request) => {
            drop(message);
            stateless::serve(lean, request).await
        }
        None if matches!(call.request, ClientRequest::InitializeRequest(_)) && accepts.json => {
            begin::begin(lean, call, request, next).await
        }
        _ => collapse::unless_json_only(accepts, request, next).await,
    }
}

/// Whether a request's own `_meta` names a protocol version.
fn names_version(request: &ClientRequest) -> bool {
    request.get_meta().protocol_version().is_some()
}

/// Keeps `guard` until the body is done (or dropped with its connection).
pub fn hold<G: Send + 'static>(body: axum::body::Body, guard: G) -> axum::body::Body {
    use futures::StreamExt;
    axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    }))
}

fn json_response(status: axum::http::StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
