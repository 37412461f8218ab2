//! Answers for requests the MCP transport would meet with a bare status or a
//! surprise, so a person trying the gateway with curl learns what to send:
//!
//! - `Accept: */*` (curl's default), `application/*` or no `Accept` admit
//!   JSON and SSE, and are read as the transport needs them spelled;
//! - a request with neither a session nor a protocol version gets a JSON-RPC
//!   error naming both ways in (rmcp: plain-text "Session ID is required"),
//!   after the transport's own checks (Host, Origin, Accept, Content-Type);
//! - a `Last-Event-ID` this gateway never issued gets 400 with why (rmcp: an
//!   empty 200 stream, after which clients reconnect with the same id forever);
//! - a session `DELETE` answers 200, as the SDKs expect (rmcp: 202).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta};

use crate::lean::Parsed;

/// The first protocol revision without sessions.
const STATELESS: &str = "2026-07-28";

/// Whether resumable events live in Redis (ids `<stream>/<entry>`) or in
/// this replica's sessions (rmcp's ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventIds {
    Redis,
    Local,
}

pub async fn guide(
    ids: EventIds,
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let method = request.method().clone();
    read_wildcard_accept(&method, request.headers_mut());
    let sessionless = (method == Method::POST)
        .then(|| sessionless_id(&request))
        .flatten();
    if method == Method::GET
        && let Some(id) = request
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
        && !issued(ids, id)
    {
        let message = format!(
            "Bad Request: Last-Event-ID {id:?} is not an event id this gateway issued, so there is nothing to resume; open the stream again without Last-Event-ID"
        );
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let mut response = next(request).await;
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::OK;
    }
    match sessionless {
        // Only the transport's own refusal is replaced: its Host, Origin,
        // Accept and Content-Type checks come first and keep their answers.
        Some(id) if response.status() == StatusCode::BAD_REQUEST => {
            explain_session_required(id, response).await
        }
        _ => response,
    }
}

/// Rewrites an `Accept` that admits JSON and SSE only through wildcards (or
/// is absent) to the explicit types the transport checks for.
fn read_wildcard_accept(method: &Method, headers: &mut HeaderMap) {
    let mut json = false;
    let mut sse = false;
    let mut any = headers.get(header::ACCEPT).is_none();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { return };
        for item in value.split(',') {
            let essence = item.split(';').next().unwrap_or(item).trim();
            match essence.to_ascii_lowercase().as_str() {
                "application/json" => json = true,
                "text/event-stream" => sse = true,
                "*/*" => any = true,
                "application/*" => json = true,
                "text/*" => sse = true,
                _ => {}
            }
        }
    }
    let wanted = match *method {
        // A POST answers JSON or, when the server sends more than the result, SSE.
        Method::POST => {
            let (json, sse) = (json || any, sse || any);
            match (json, sse) {
                (true, true) => "application/json, text/event-stream",
                (true, false) => "application/json",
                _ => return,
            }
        }
        Method::GET if any || sse => "text/event-stream",
        _ => return,
    };
    headers.insert(header::ACCEPT, HeaderValue::from_static(wanted));
}

/// The id of a POST request that belongs to no session and names no
/// protocol version, which the transport refuses with "Session ID is required".
fn sessionless_id(request: &Request) -> Option<serde_json::Value> {
    let headers = request.headers();
    if headers.contains_key("mcp-session-id") {
        return None;
    }
    let stateless_header = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= STATELESS);
    if stateless_header {
        return None;
    }
    let Parsed(message) = request.extensions().get::<Parsed>()?;
    // A notification needs no answer; the transport's status is enough.
    let ClientJsonRpcMessage::Request(call) = message.as_ref() else {
        return None;
    };
    if matches!(call.request, ClientRequest::InitializeRequest(_))
        || call.request.get_meta().protocol_version().is_some()
    {
        return None;
    }
    Some(serde_json::to_value(&call.id).unwrap_or_default())
}

/// The transport's plain-text "Session ID is required", as a JSON-RPC error
/// that names both ways in; any other 400 is passed on as it was.
async fn explain_session_required(id: serde_json::Value, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4096).await else {
        return (parts.status, "Bad Request").into_response();
    };
    if !String::from_utf8_lossy(&bytes).contains("Session ID is required") {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let message = format!(
        "This request belongs to no session and names no protocol version. Either begin a session: POST initialize (protocolVersion 2025-11-25 or earlier), then send the Mcp-Session-Id header it answers with, and MCP-Protocol-Version, on every request; or send it stateless: headers MCP-Protocol-Version: {STATELESS} and Mcp-Method: <the method> (and Mcp-Name: <the tool, prompt or resource URI> with tools/call, prompts/get and resources/read), and in params _meta {{\"io.modelcontextprotocol/protocolVersion\": \"{STATELESS}\", \"io.modelcontextprotocol/clientCapabilities\": {{}}}}."
    );
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": -32600, "message": message},
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Whether `id` has the form of the event ids this gateway hands out.
fn issued(ids: EventIds, id: &str) -> bool {
    match ids {
        EventIds::Redis => crate::shared::events::is_event_id(id),
        EventIds::Local => id
            .parse::<rmcp::transport::streamable_http_server::session::local::EventId>()
            .is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(method: Method, given: Option<&str>) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(given) = given {
            headers.insert(header::ACCEPT, HeaderValue::from_str(given).unwrap());
        }
        read_wildcard_accept(&method, &mut headers);
        headers
            .get(header::ACCEPT)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn wildcards_and_no_accept_admit_what_the_transport_needs() {
        let both = Some("application/json, text/event-stream".to_string());
        assert_eq!(accept(Method::POST, Some("*/*")), both);
        assert_eq!(accept(Method::POST, None), both);
        assert_eq!(accept(Method::POST, Some("application/json, text/*")), both);
        assert_eq!(
            accept(Method::POST, Some("application/*")),
            Some("application/json".into())
        );
        assert_eq!(
            accept(Method::POST, Some("text/html")),
            Some("text/html".into()),
            "a client that wants neither is left to the transport's 406"
        );
        assert_eq!(
            accept(Method::GET, Some("*/*")),
            Some("text/event-stream".into())
        );
    }

    #[test]
    fn event_ids_of_either_store_are_recognised() {
        assert!(issued(EventIds::Local, "3"));
        assert!(issued(EventIds::Local, "3/7"));
        assert!(!issued(EventIds::Local, "garbage"));
        assert!(issued(EventIds::Redis, "abc/1700000000000-0"));
        assert!(issued(EventIds::Redis, "abc/m12"));
        assert!(!issued(EventIds::Redis, "garbage"));
        assert!(!issued(EventIds::Redis, "abc/x"));
    }
}
