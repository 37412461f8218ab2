//! Test parts for shared state and security: an MCP client speaking raw HTTP
//! (so one session can be driven through several gateway replicas, and
//! statuses and headers can be checked), and an upstream MCP server that
//! counts how often it is listed, reports progress slowly and records the
//! headers it receives.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support code"
)]

pub mod upstream;

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub data: Option<Value>,
}

/// An HTTP answer to an MCP request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON-RPC response (from a JSON body or the last SSE event carrying one), or the raw JSON body.
    pub message: Value,
    /// SSE events, when the answer was a stream.
    pub events: Vec<Event>,
    pub text: String,
}

impl Reply {
    pub fn result(&self) -> &Value {
        assert!(
            self.message.get("result").is_some(),
            "expected a result, got HTTP {} {}",
            self.status,
            self.text
        );
        &self.message["result"]
    }

    pub fn error(&self) -> &Value {
        assert!(
            self.message.get("error").is_some(),
            "expected an error, got HTTP {} {}",
            self.status,
            self.text
        );
        &self.message["error"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The text of a `tools/call` result's first content block.
    pub fn tool_text(&self) -> String {
        self.result()["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A raw MCP-over-HTTP client.
#[derive(Clone)]
pub struct Raw {
    http: reqwest::Client,
    token: Option<String>,
}

impl Default for Raw {
    fn default() -> Self {
        Self::new()
    }
}

impl Raw {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            token: None,
        }
    }

    pub fn with_token(token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..Self::new()
        }
    }

    fn post(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// A stateless (2026-07-28) request.
    pub async fn stateless(&self, url: &str, method: &str, params: Value) -> Reply {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw-test-client", "version": "1"},
        });
        let mut request = self
            .post(
                url,
                &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            )
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        let name = params.get("name").or_else(|| params.get("uri"));
        if let Some(name) = name.and_then(Value::as_str) {
            request = request.header("mcp-name", name);
        }
        read(request.send().await.expect("the gateway answers")).await
    }

    /// Begins a session-based (2025-11-25) session; returns its id.
    pub async fn initialize(&self, url: &str) -> String {
        let reply = self.try_initialize(url).await;
        assert_eq!(reply.status, StatusCode::OK, "initialize: {}", reply.text);
        let id = reply
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let notified = self
            .post(
                url,
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", "2025-11-25")
            .send()
            .await
            .unwrap();
        assert_eq!(notified.status(), StatusCode::ACCEPTED);
        id
    }

    pub async fn try_initialize(&self, url: &str) -> Reply {
        let body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-test-client", "version": "1"},
            },
        });
        read(
            self.post(url, &body)
                .send()
                .await
                .expect("the gateway answers"),
        )
        .await
    }

    fn session_post(
        &self,
        url: &str,
        session: &str,
        id: u64,
        method: &str,
        params: Value,
    ) -> reqwest::RequestBuilder {
        self.post(
            url,
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
    }

    /// A request in a session, sent to `url` (any replica).
    pub async fn call(
        &self,
        url: &str,
        session: &str,
        id: u64,
        method: &str,
        params: Value,
    ) -> Reply {
        let response = self
            .session_post(url, session, id, method, params)
            .send()
            .await
            .expect("the gateway answers");
        read(response).await
    }

    /// Sends a request in a session and reads its SSE stream only until
    /// `keep` events arrived; then drops the connection. Returns those events.
    pub async fn call_and_break(
        &self,
        url: &str,
        session: &str,
        id: u64,
        method: &str,
        params: Value,
        keep: usize,
    ) -> Vec<Event> {
        let response = self
            .session_post(url, session, id, method, params)
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), StatusCode::OK);
        let mut events = Vec::new();
        let mut buffer = String::new();
        let mut body = response.bytes_stream();
        while events.len() < keep {
            let chunk = body
                .next()
                .await
                .expect("the stream stays open until the response")
                .expect("reading the stream");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            events.extend(drain_events(&mut buffer));
        }
        // Dropping the body closes the connection mid-stream.
        events
    }

    /// Resumes a session's stream after `last_event_id` on `url` (any replica).
    pub async fn resume(&self, url: &str, session: &str, last_event_id: &str) -> Reply {
        let mut request = self
            .http
            .get(url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("last-event-id", last_event_id);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("the gateway answers")).await
    }

    /// Ends a session.
    pub async fn delete(&self, url: &str, session: &str) -> StatusCode {
        let mut request = self
            .http
            .delete(url)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the gateway answers").status()
    }
}

/// Reads a whole answer: JSON, or an SSE stream up to its end.
async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let sse = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = response.text().await.unwrap_or_default();
    if sse {
        let mut buffer = text.clone();
        buffer.push_str("\n\n");
        let events = drain_events(&mut buffer);
        let message = events
            .iter()
            .rev()
            .filter_map(|e| e.data.clone())
            .find(|d| d.get("result").is_some() || d.get("error").is_some())
            .unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            message,
            events,
            text,
        }
    } else {
        Reply {
            status,
            headers,
            message: serde_json::from_str(&text).unwrap_or(Value::Null),
            events: Vec::new(),
            text,
        }
    }
}

/// Takes the complete events off the front of `buffer`.
fn drain_events(buffer: &mut String) -> Vec<Event> {
    let mut events = Vec::new();
    let normalized = buffer.replace("\r\n", "\n");
    let mut rest = normalized.as_str();
    while let Some(end) = rest.find("\n\n") {
        let block = &rest[..end];
        rest = &rest[end + 2..];
        let mut event = Event {
            id: None,
            data: None,
        };
        let mut data = String::new();
        for line in block.lines() {
            if let Some(id) = line.strip_prefix("id:") {
                event.id = Some(id.trim().to_string());
            } else if let Some(chunk) = line.strip_prefix("data:") {
                data.push_str(chunk.trim_start());
            }
        }
        if !data.is_empty() {
            event.data = serde_json::from_str(&data).ok();
        }
        if event.id.is_some() || event.data.is_some() {
            events.push(event);
        }
    }
    *buffer = rest.to_string();
    events
}

/// The progress values of the `notifications/progress` events, in order.
pub fn progress(events: &[Event]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| e.data.as_ref())
        .filter(|d| d["method"] == "notifications/progress")
        .filter_map(|d| d["params"]["progress"].as_f64())
        .collect()
}
