//! SSE answers of rmcp turned into plain JSON: for clients that accept only
//! `application/json` (rmcp refuses them with 406), and for `initialize`,
//! which always has exactly one immediate result.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Accepts, Rmcp};

/// Largest SSE answer read whole to turn it into JSON.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

pub(super) async fn unless_json_only(accepts: Accepts, request: Request, next: &Rmcp) -> Response {
    if accepts.json && !accepts.sse {
        to_json(request, next).await
    } else {
        next.run(request).await
    }
}

/// Lets rmcp answer as SSE, then answers the result it streamed as JSON;
/// messages before the result (notifications) are dropped.
pub(super) async fn to_json(mut request: Request, next: &Rmcp) -> Response {
    request.headers_mut().insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    let response = next.run(request).await;
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_ANSWER).await {
        Ok(bytes) => bytes,
        Err(error) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the answer could not be read whole: {error}"),
            )
                .into_response();
        }
    };
    let Some(result) = result_of(&String::from_utf8_lossy(&text)) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request ended without a result",
        )
            .into_response();
    };
    parts.headers.remove(header::CACHE_CONTROL);
    parts.headers.remove("x-accel-buffering");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(result))
}

/// The data of the first event that is a JSON-RPC result or error.
fn result_of(sse: &str) -> Option<String> {
    let sse = sse.replace("\r\n", "\n");
    sse.split("\n\n").find_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let data = data.join("\n");
        let value: serde_json::Value = serde_json::from_str(&data).ok()?;
        let is_answer = value.get("method").is_none()
            && (value.get("result").is_some() || value.get("error").is_some());
        is_answer.then_some(data)
    })
}

#[cfg(test)]
mod tests {
    use super::result_of;

    #[test]
    fn the_result_is_the_first_answer_after_priming_and_notifications() {
        let sse = "id: 0\nretry: 3000\ndata:\n\n\
                   data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                   id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert_eq!(
            result_of(sse).as_deref(),
            Some("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}")
        );
        assert_eq!(result_of("id: 0\ndata:\n\n"), None);
    }
}
