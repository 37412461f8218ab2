//! JSON-RPC batches, for the one MCP revision that had them (2025-03-26;
//! 2025-06-18 removed them). rmcp takes one message per request, so a batch
//! is answered by sending each of its messages through the whole MCP stack
//! (authentication, limits, routing) as a request of its own, in order, and
//! collecting the responses into one JSON array. Where the revision has no
//! batches they are refused with an error that says so.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::http::{BodyLimits, read_body};

/// The revision whose sessions may send batches.
const BATCH_REVISION: &str = "2025-03-26";

/// Answers a batch, or hands any other request to `mcp` untouched (its
/// body read once, within the endpoint's size and time limits).
pub(crate) async fn serve<Answered: Future<Output = Response>>(
    mcp: impl Fn(Request) -> Answered,
    request: Request,
    limits: BodyLimits,
) -> Response {
    if request.method() != axum::http::Method::POST {
        return mcp(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&parts.headers, body, limits).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let is_batch = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if !is_batch {
        return mcp(Request::from_parts(parts, Body::from(bytes))).await;
    }
    let Ok(messages) = serde_json::from_slice::<Vec<Value>>(&bytes) else {
        // Not JSON after all: the stack's own parse error says where.
        return mcp(Request::from_parts(parts, Body::from(bytes))).await;
    };
    if let Some(why) = refusal(&parts.headers) {
        return error(StatusCode::BAD_REQUEST, Value::Null, why);
    }
    if messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            "Invalid Request: an empty batch".into(),
        );
    }
    let mut answers = Vec::new();
    for message in messages {
        let id = message.get("id").cloned();
        let mut single = Request::from_parts(parts.clone(), Body::from(message.to_string()));
        single.headers_mut().remove(header::CONTENT_LENGTH);
        single.headers_mut().insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let response = mcp(single).await;
        if let Some(answer) = answer(response, id.as_ref()).await {
            answers.push(answer);
        }
    }
    if answers.is_empty() {
        // Only notifications and responses: nothing to answer.
        return StatusCode::ACCEPTED.into_response();
    }
    (StatusCode::OK, axum::Json(Value::Array(answers))).into_response()
}

/// Why a batch is refused here, if it is: only inside a session of the
/// revision that had batches. A client of a later revision names its own
/// in `MCP-Protocol-Version`; one that sends none is taken to be 2025-03-26,
/// as the later revisions tell servers to assume.
fn refusal(headers: &axum::http::HeaderMap) -> Option<String> {
    let revision = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok());
    let in_session = headers.contains_key("mcp-session-id");
    match (in_session, revision) {
        (true, None) => None,
        (true, Some(BATCH_REVISION)) => None,
        (_, Some(revision)) => Some(format!(
            "Invalid Request: batches are not part of MCP {revision} (only {BATCH_REVISION} had them); \
             send one JSON-RPC message per request"
        )),
        (false, None) => Some(format!(
            "Invalid Request: batches belong to {BATCH_REVISION} sessions; initialize one first, \
             or send one JSON-RPC message per request"
        )),
    }
}

/// The JSON-RPC answer within one message's response: `None` for an
/// accepted notification or response (HTTP 202).
async fn answer(response: Response, id: Option<&Value>) -> Option<Value> {
    if response.status() == StatusCode::ACCEPTED {
        return None;
    }
    let status = response.status();
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let found = if is_stream {
        answer_in_stream(response.into_body(), id).await
    } else {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .ok();
        bytes.and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    };
    Some(found.filter(|v| v.get("jsonrpc").is_some()).unwrap_or_else(|| {
        json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": {
            "code": -32603,
            "message": format!("Internal error: this batch entry was answered with HTTP {status} and no JSON-RPC message"),
        }})
    }))
}

/// The response to `id` among the events of a request's stream (progress
/// and log notifications before it are not part of a batch's answer).
async fn answer_in_stream(body: Body, id: Option<&Value>) -> Option<Value> {
    let mut stream = body.into_data_stream();
    let mut pending = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        pending.extend_from_slice(&chunk);
        while let Some(end) = find(&pending, b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            let data: String = String::from_utf8_lossy(&event)
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect::<Vec<_>>()
                .join("\n");
            let Ok(message) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let is_answer = message.get("result").is_some() || message.get("error").is_some();
            if is_answer && message.get("id") == id {
                return Some(message);
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn error(status: StatusCode, id: Value, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": message}});
    (status, axum::Json(body)).into_response()
}
