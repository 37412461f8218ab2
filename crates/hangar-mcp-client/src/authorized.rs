//! A Streamable HTTP client that presents credentials which change: a token
//! fetched (and refreshed) for the connection, or one a request carries for
//! its caller. An upstream's refusal (401 or 403 with `WWW-Authenticate`,
//! RFC 9728) becomes that request's answer in words — a tool error for a tool
//! call — instead of a broken connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{
    CallToolResult, ClientJsonRpcMessage, ClientRequest, ContentBlock, ErrorCode, ErrorData,
    GetExtensions, JsonRpcError, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Error as SseError, Sse};

/// The connection's own token, fetched when needed.
pub trait Authorizer: Send + Sync + 'static {
    /// A bearer token for the next request, or why there is none.
    fn token(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// Credentials one request carries for its caller (put in its extensions):
/// they replace the connection's own token on that request.
#[derive(Clone, Default)]
pub struct CallCredentials {
    pub token: Option<Arc<str>>,
    pub headers: Arc<http::HeaderMap>,
}

impl std::fmt::Debug for CallCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `reqwest` with changing credentials; see the module documentation.
#[derive(Clone)]
pub struct AuthorizedHttp {
    http: reqwest::Client,
    /// Names the server in refusals.
    server: Arc<str>,
    own: Option<Arc<dyn Authorizer>>,
}

impl AuthorizedHttp {
    pub fn new(http: reqwest::Client, server: &str, own: Option<Arc<dyn Authorizer>>) -> Self {
        Self {
            http,
            server: server.into(),
            own,
        }
    }

    async fn own_token(&self) -> Result<Option<String>, String> {
        match &self.own {
            Some(own) => own.token().await.map(Some),
            None => Ok(None),
        }
    }
}

/// Words for a refusal (401 or 403 with the `WWW-Authenticate` `challenge`)
/// from `who` (e.g. "MCP server x"), with what its protected-resource
/// metadata says it wants when that can be read quickly; `fix` names the
/// field that gives the gateway credentials (e.g. "the MCPServer's spec.auth").
pub async fn refusal_words(
    http: &reqwest::Client,
    who: &str,
    status: u16,
    challenge: &str,
    fix: &str,
) -> String {
    let parameter = |name: &str| challenge_parameter(challenge, name);
    let mut words = format!("{who} refused the gateway's request (HTTP {status}");
    if let Some(error) = parameter("error") {
        words.push_str(&format!(": {error}"));
    }
    if let Some(description) = parameter("error_description") {
        words.push_str(&format!(", {description}"));
    }
    words.push(')');
    if let Some(scope) = parameter("scope") {
        words.push_str(&format!("; it asks for scope `{scope}`"));
    }
    if let Some(metadata) = parameter("resource_metadata") {
        words.push_str(&format!("; its protected-resource metadata is {metadata}"));
        if let Some(servers) = authorization_servers(http, &metadata).await {
            words.push_str(&format!(
                ", naming the authorization server(s) {}",
                servers.join(", ")
            ));
        }
    }
    words.push_str(&format!(
        ". Give {fix} (oauth2ClientCredentials or tokenExchange) with a client that \
         authorization server accepts for this resource"
    ));
    words
}

async fn authorization_servers(http: &reqwest::Client, metadata: &str) -> Option<Vec<String>> {
    let response = http
        .get(metadata)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let document: serde_json::Value = response.json().await.ok()?;
    let servers: Vec<String> = document
        .get("authorization_servers")?
        .as_array()?
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    (!servers.is_empty()).then_some(servers)
}

/// One `name=value` (or `name="value"`) parameter of a `WWW-Authenticate` challenge.
fn challenge_parameter(challenge: &str, name: &str) -> Option<String> {
    let mut rest = challenge;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = &rest[at + name.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let Some(value) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or_default(),
            None => value.split([',', ' ']).next().unwrap_or_default(),
        };
        return Some(value.to_string());
    }
    None
}

/// The answer to `message` saying `words`: a tool error for a tool call, a
/// JSON-RPC error for other requests; `None` for anything else.
fn answer_in_words(message: &ClientJsonRpcMessage, words: String) -> Option<ServerJsonRpcMessage> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let id = request.id.clone();
    Some(match &request.request {
        ClientRequest::CallToolRequest(_) => JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id,
            result: ServerResult::CallToolResult(CallToolResult::error(vec![ContentBlock::text(
                words,
            )])),
        }),
        _ => JsonRpcMessage::Error(JsonRpcError {
            jsonrpc: JsonRpcVersion2_0,
            id: Some(id),
            error: ErrorData::new(ErrorCode::INTERNAL_ERROR, words, None),
        }),
    })
}

fn call_credentials(message: &ClientJsonRpcMessage) -> Option<CallCredentials> {
    match message {
        JsonRpcMessage::Request(request) => request
            .request
            .extensions()
            .get::<CallCredentials>()
            .cloned(),
        _ => None,
    }
}

type Failure = StreamableHttpError<reqwest::Error>;

/// `_meta` key of a log message that came on the response stream of a
/// request: that request's id. Log messages carry no request id of their
/// own, and rmcp marks only requests with the stream they came on.
pub const RELATED_REQUEST_META: &str = "io.mcp-hangar/relatedRequest";

/// `stream` (the response to `message`) with each `notifications/message`
/// marked with `message`'s id under [`RELATED_REQUEST_META`].
fn mark_log_messages(
    stream: BoxStream<'static, Result<Sse, SseError>>,
    message: &ClientJsonRpcMessage,
) -> BoxStream<'static, Result<Sse, SseError>> {
    let JsonRpcMessage::Request(request) = message else {
        return stream;
    };
    let Ok(id) = serde_json::to_value(&request.id) else {
        return stream;
    };
    stream
        .map(move |event| {
            event.map(|mut sse| {
                if let Some(data) = sse.data.as_deref()
                    && data.contains("notifications/message")
                    && let Ok(mut parsed) = serde_json::from_str::<serde_json::Value>(data)
                    && parsed["method"] == "notifications/message"
                    && let Some(params) = parsed["params"].as_object_mut()
                {
                    let meta = params
                        .entry("_meta")
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    // A `_meta` that is no object is the server's to explain; leave it.
                    if let Some(meta) = meta.as_object_mut() {
                        meta.insert(RELATED_REQUEST_META.into(), id.clone());

                        sse.data = Some(parsed.to_string());
                    }
                }
                sse
            })
        })
        .boxed()
}

/// rmcp's own limit (not public there), for the calls that name none; its
/// transport always names one.
const DEFAULT_MAX_SSE_EVENT_SIZE: usize = 16 * 1024 * 1024;

impl StreamableHttpClient for AuthorizedHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        self.post_message_with_max_sse_event_size(
            uri,
            message,
            session_id,
            None,
            custom_headers,
            DEFAULT_MAX_SSE_EVENT_SIZE,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        let token = match call_credentials(&message) {
            Some(call) => {
                for (name, value) in call.headers.iter() {
                    custom_headers.insert(name.clone(), value.clone());
                }
                call.token.as_deref().map(str::to_string)
            }
            None => match self.own_token().await {
                Ok(token) => token,
                Err(why) => {
                    let words = format!(
                        "MCP server {}: the gateway has no token to call it with: {why}",
                        self.server
                    );
                    return match answer_in_words(&message, words.clone()) {
                        Some(answer) => Ok(StreamableHttpPostResponse::Json(
                            answer,
                            session_id.map(|s| s.to_string()),
                        )),
                        None => Err(StreamableHttpError::UnexpectedServerResponse(words.into())),
                    };
                }
            },
        };
        let sent = self
            .http
            .post_message_with_max_sse_event_size(
                uri,
                message.clone(),
                session_id.clone(),
                token,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        let (status, challenge, refused) = match sent {
            Ok(StreamableHttpPostResponse::Sse(stream, session)) => {
                return Ok(StreamableHttpPostResponse::Sse(
                    mark_log_messages(stream, &message),
                    session,
                ));
            }
            Err(StreamableHttpError::AuthRequired(e)) => (
                401,
                e.www_authenticate_header.clone(),
                StreamableHttpError::AuthRequired(e),
            ),
            Err(StreamableHttpError::InsufficientScope(e)) => (
                403,
                e.www_authenticate_header.clone(),
                StreamableHttpError::InsufficientScope(e),
            ),
            other => return other,
        };
        let words = refusal_words(
            &self.http,
            &format!("MCP server {}", self.server),
            status,
            &challenge,
            "the MCPServer spec.auth",
        )
        .await;
        match answer_in_words(&message, words) {
            Some(answer) => Ok(StreamableHttpPostResponse::Json(
                answer,
                session_id.map(|s| s.to_string()),
            )),
            None => Err(refused),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Failure> {
        let token = self.own_token().await.ok().flatten();
        self.http
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            None,
            custom_headers,
            DEFAULT_MAX_SSE_EVENT_SIZE,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Failure> {
        let token = self
            .own_token()
            .await
            .map_err(|why| StreamableHttpError::UnexpectedServerResponse(why.into()))?;
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                token,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_log_messages_with_room_for_the_mark_are_marked() {
        let event = |data: &str| {
            Ok(Sse {
                event: None,
                data: Some(data.to_string()),
                id: None,
                retry: None,
            })
        };
        let events = vec![
            event(
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"a"}}"#,
            ),
            event(
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"b","_meta":"odd"}}"#,
            ),
            event(
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1,"data":"notifications/message"}}"#,
            ),
            event("notifications/message but no JSON"),
            event(r#"{"jsonrpc":"2.0","id":7,"result":{}}"#),
        ];
        let request: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!(
            {"jsonrpc": "2.0", "id": 7, "method": "ping"}
        ))
        .unwrap();
        let marked: Vec<String> =
            mark_log_messages(futures::stream::iter(events).boxed(), &request)
                .map(|event| event.unwrap().data.unwrap())
                .collect()
                .await;
        let first: serde_json::Value = serde_json::from_str(&marked[0]).unwrap();
        assert_eq!(first["params"]["_meta"][RELATED_REQUEST_META], 7);
        assert_eq!(first["params"]["data"], "a");
        assert!(marked[1].contains(r#""_meta":"odd""#), "{}", marked[1]);
        assert!(!marked[2].contains(RELATED_REQUEST_META));
        assert_eq!(marked[3], "notifications/message but no JSON");
        assert!(!marked[4].contains(RELATED_REQUEST_META));
    }

    #[test]
    fn challenge_parameters_are_read_quoted_or_bare_and_by_whole_name() {
        let challenge = r#"Bearer error="invalid_token", error_description="The audience is wrong", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope=tools"#;
        assert_eq!(
            challenge_parameter(challenge, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_parameter(challenge, "error_description").as_deref(),
            Some("The audience is wrong")
        );
        assert_eq!(
            challenge_parameter(challenge, "resource_metadata").as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(
            challenge_parameter(challenge, "scope").as_deref(),
            Some("tools")
        );
        assert_eq!(challenge_parameter("Bearer realm=x", "error"), None);
    }
}
