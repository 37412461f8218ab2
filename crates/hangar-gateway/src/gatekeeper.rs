//! What stands between a client and `/mcp`: authentication (401 with the
//! protected-resource metadata), session checks against the shared session
//! store (503 while it is unreachable, 404 once a session expired), and rate
//! limits (429, or a JSON-RPC error inside a session).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::SessionManager;

use crate::access::{Access, Caller};
use crate::audit::{Attempt, Outcome, Trail, Verdict};
use crate::auth::{Authenticator, Refusal, challenge};
use crate::forwarded::TrustedProxies;
use crate::gateway::Gateway;
use crate::handler::CorrelationId;
use crate::lean::Parsed;
use crate::shared::manager::ReplicaSessions;
use crate::shared::ratelimit::Decision;
use crate::shared::sessions::SessionCheck;
use hangar_config::{AuthSettings, Limit};

/// JSON-RPC error code for a request refused by a rate limit.
pub const RATE_LIMITED: i32 = -32029;
/// JSON-RPC error code for a session request while the session store is unreachable.
pub const SESSIONS_UNAVAILABLE: i32 = -32030;

/// State of the middlewares, shared by every request behind an `Arc`.
pub struct Gatekeeper {
    gateway: Gateway,
    sessions: Arc<ReplicaSessions>,
    max_body: usize,
    /// Who may say which address a caller has (read at start, like `allowedHosts`).
    proxies: TrustedProxies,
    /// The authenticator for the current `auth` section, rebuilt when it changes.
    authenticator: Arc<Mutex<Option<Current>>>,
}

/// An authenticator and the settings it was built from.
type Current = (AuthSettings, Arc<Authenticator>);

impl Gatekeeper {
    pub fn new(gateway: Gateway, sessions: Arc<ReplicaSessions>, max_body: usize) -> Self {
        let proxies = TrustedProxies::new(&gateway.config().gateway.trusted_proxies);
        Self {
            gateway,
            sessions,
            max_body,
            proxies,
            authenticator: Arc::default(),
        }
    }

    fn authenticator(&self) -> Option<Arc<Authenticator>> {
        let config = self.gateway.config();
        let settings = config.auth.as_ref()?;
        let mut cached = self.authenticator.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((current, authenticator)) if current == settings => Some(authenticator.clone()),
            _ => {
                let authenticator = Arc::new(Authenticator::new(
                    settings,
                    self.gateway.http().clone(),
                    self.gateway.environment(),
                ));
                *cached = Some((settings.clone(), authenticator.clone()));
                Some(authenticator)
            }
        }
    }
}

/// Attaches the caller's [`Access`] to the request, or refuses it.
pub async fn authenticate(
    keeper: &Gatekeeper,
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| keeper.proxies.client_address(c.0.ip(), request.headers()));
    let access = match keeper.authenticator() {
        None => Access::everything(Caller {
            address,
            ..Caller::default()
        }),
        Some(authenticator) => {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match authenticator.authenticate(authorization).await {
                Ok(mut access) => {
                    access.caller.address = address;
                    access
                }
                Err(refusal) => {
                    let path = keeper.gateway.config().gateway.path.clone();
                    let resource = authenticator.resource(request.headers(), &path);
                    return refuse(keeper, &refusal, &resource);
                }
            }
        }
    };
    request.extensions_mut().insert(Arc::new(access));
    next(request).await
}

fn refuse(keeper: &Gatekeeper, refusal: &Refusal, resource: &str) -> Response {
    let (status, reason, body) = match refusal {
        Refusal::Missing => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            serde_json::json!({
                "error_description": "this MCP gateway needs a bearer token; the resource_metadata in WWW-Authenticate says where to get one",
            }),
        ),
        Refusal::Invalid(why) => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            serde_json::json!({"error": "invalid_token", "error_description": why}),
        ),
        Refusal::Unavailable(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "auth_unavailable",
            serde_json::json!({"error": "temporarily_unavailable", "error_description": why}),
        ),
    };
    keeper.gateway.metrics().rejected(reason);
    if let Refusal::Invalid(why) | Refusal::Unavailable(why) = refusal {
        tracing::info!(reason = %why, "request refused by authentication");
    }
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge(refusal, resource)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET /.well-known/oauth-protected-resource[/…]`: RFC 9728 metadata.
pub async fn metadata(State(keeper): State<Arc<Gatekeeper>>, headers: HeaderMap) -> Response {
    let Some(authenticator) = keeper.authenticator() else {
        return (
            StatusCode::NOT_FOUND,
            "this gateway requires no authorization, so it has no protected-resource metadata",
        )
            .into_response();
    };
    let config = keeper.gateway.config();
    let resource = authenticator.resource(&headers, &config.gateway.path);
    let name = config.gateway.name.clone();
    let mut response = axum::Json(authenticator.metadata(&resource, &name)).into_response();
    // Public information that browser-based clients fetch from other origins.
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The parts of a JSON-RPC message the gatekeeper needs.
#[derive(Debug, Default, serde::Deserialize)]
struct Envelope {
    id: Option<serde_json::Value>,
    method: Option<String>,
    params: Option<EnvelopeParams>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct EnvelopeParams {
    name: Option<String>,
    uri: Option<String>,
}

impl Envelope {
    /// Taken from the message `check_jsonrpc` parsed, which every `POST`
    /// that gets here has (the body is read only where it has none).
    fn of(parts: &axum::http::request::Parts, body: &[u8]) -> Self {
        use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
        if parts.method != axum::http::Method::POST {
            return Self::default();
        }
        let Some(Parsed(message)) = parts.extensions.get::<Parsed>() else {
            return serde_json::from_slice(body).unwrap_or_default();
        };
        let id = |id: &rmcp::model::RequestId| serde_json::to_value(id).ok();
        match message.as_ref() {
            ClientJsonRpcMessage::Request(call) => {
                let (name, uri) = match &call.request {
                    ClientRequest::CallToolRequest(r) => (Some(r.params.name.to_string()), None),
                    ClientRequest::GetPromptRequest(r) => (Some(r.params.name.clone()), None),
                    ClientRequest::ReadResourceRequest(r) => (None, Some(r.params.uri.clone())),
                    _ => (None, None),
                };
                Self {
                    id: id(&call.id),
                    method: Some(call.request.method().to_string()),
                    params: Some(EnvelopeParams { name, uri }),
                }
            }
            ClientJsonRpcMessage::Response(response) => Self {
                id: id(&response.id),
                ..Self::default()
            },
            ClientJsonRpcMessage::Error(error) => Self {
                id: error.id.as_ref().and_then(id),
                ..Self::default()
            },
            ClientJsonRpcMessage::Notification(_) => Self::default(),
        }
    }
}

/// Session checks and rate limits. Runs after the body was validated as one JSON-RPC message.
pub async fn guard(
    keeper: &Gatekeeper,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, keeper.max_body).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
                .into_response();
        }
    };
    let envelope = Envelope::of(&parts, &bytes);
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let access = parts.extensions.get::<Arc<Access>>().cloned();
    let owner = access
        .as_ref()
        .filter(|a| a.caller.subject.is_some())
        .map(|a| a.caller.identity());
    let initialize = session.is_none() && envelope.method.as_deref() == Some("initialize");
    let shared = keeper.gateway.shared().clone();

    if let Some(id) = &session {
        match shared.sessions.check(id).await {
            Err(unavailable) => {
                return sessions_unavailable(keeper, &envelope, &unavailable.0);
            }
            Ok(SessionCheck::Gone) => {
                // Another replica closed it, or it idled out: drop what this replica holds.
                let _ = keeper.sessions.close_session(&id.as_str().into()).await;
                return (
                    StatusCode::NOT_FOUND,
                    "Not Found: the session expired or was closed; start a new one with initialize",
                )
                    .into_response();
            }
            Ok(SessionCheck::Live {
                owner: Some(session_owner),
            }) if owner.as_ref() != Some(&session_owner) => {
                keeper.gateway.metrics().rejected("forbidden");
                return (
                    StatusCode::FORBIDDEN,
                    "Forbidden: this session was begun by another caller",
                )
                    .into_response();
            }
            Ok(SessionCheck::Live { .. }) => {}
        }
    } else if initialize
        && let Some(link) = &shared.link
        && !link.is_up()
    {
        return sessions_unavailable(keeper, &envelope, &link.unavailable().0);
    } else if initialize {
        let most = keeper.gateway.config().gateway.max_sessions;
        if shared.rest.awake() >= most as usize {
            return session_cap_reached(keeper, &envelope, most);
        }
    }

    let called = Called::of(keeper, &envelope, &bytes);
    if let (Some(id), Some(method)) = (&envelope.id, &envelope.method)
        && let Some(limited) = rate_limit(keeper, access.as_deref(), &called, method).await
    {
        keeper.gateway.metrics().rejected("rate_limited");
        rate_limited(keeper, &parts, access.as_deref(), &called, &bytes);
        return limited.response(id.clone(), session.is_some() || initialize);
    }

    // The session stays awake while this request (or its stream) is open.
    // An id no session has (rmcp answers 404) must not count as awake.
    let open = session
        .as_deref()
        .filter(|id| shared.sessions.may_exist(id))
        .map(|id| shared.rest.open(id));
    let response = next(Request::from_parts(parts, axum::body::Body::from(bytes))).await;
    if let Some(open) = open {
        return response.map(|body| crate::lean::hold(body, open));
    }
    let new_session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .filter(|_| initialize)
        .map(str::to_string);
    let Some(id) = new_session else {
        return response;
    };
    // rmcp only logs a failure to store a new session; a session no other
    // replica can find must not reach the client.
    let stored = match shared.sessions.check(&id).await {
        Ok(SessionCheck::Live { .. }) => Ok(()),
        Ok(SessionCheck::Gone) => Err("the new session could not be stored".to_string()),
        Err(unavailable) => Err(unavailable.0),
    };
    let bound = match (&stored, &owner) {
        (Ok(()), Some(owner)) => shared.sessions.bind(&id, owner).await.map_err(|e| e.0),
        _ => stored,
    };
    match bound {
        Ok(()) => {
            drop(shared.rest.open(&id));
            response
        }
        Err(why) => {
            let _ = keeper.sessions.close_session(&id.as_str().into()).await;
            sessions_unavailable(keeper, &envelope, &why)
        }
    }
}

fn sessions_unavailable(keeper: &Gatekeeper, envelope: &Envelope, why: &str) -> Response {
    keeper.gateway.metrics().rejected("sessions_unavailable");
    let message = format!(
        "Service Unavailable: the gateway's session store is unreachable: {why}. \
         Session-based requests fail until it is back (retry shortly); \
         stateless 2026-07-28 requests keep working"
    );
    no_session(envelope, message, "1")
}

fn session_cap_reached(keeper: &Gatekeeper, envelope: &Envelope, most: u32) -> Response {
    keeper.gateway.metrics().rejected("session_cap");
    let message = format!(
        "Service Unavailable: this gateway replica holds its most sessions ({most}, \
         gateway.maxSessions); retry later, or send stateless 2026-07-28 requests, \
         which need no session"
    );
    // Idle sessions are put to rest (and stop counting) within a minute or so.
    no_session(envelope, message, "30")
}

/// HTTP 503 with a JSON-RPC error for a request that cannot have a session now.
fn no_session(envelope: &Envelope, message: String, retry_after: &'static str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": envelope.id.clone().unwrap_or(serde_json::Value::Null),
        "error": {"code": SESSIONS_UNAVAILABLE, "message": message},
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    response
}

/// A request that ran out of tokens.
struct Limited {
    retry_after: Duration,
    which: String,
    limit: Limit,
}

impl Limited {
    fn response(&self, id: serde_json::Value, in_session: bool) -> Response {
        let seconds = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": RATE_LIMITED,
                "message": format!(
                    "Rate limit exceeded: {} allows {} requests per {}; retry in {seconds} s",
                    self.which, self.limit.requests, self.limit.period
                ),
                "data": {"retryAfterSeconds": seconds},
            },
        });
        // Inside a session the refusal is the request's JSON-RPC answer; a
        // stateless request gets the HTTP status as well.
        let status = if in_session {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

/// What a request calls, as the handler will see it. With tool search on, a
/// `call_tool` stands for the tool it names, whose limit and record apply.
struct Called<'a> {
    method: Option<&'static str>,
    name: Cow<'a, str>,
    /// Through `call_tool`: the call's arguments are in its `arguments` argument.
    unwrapped: bool,
}

impl<'a> Called<'a> {
    fn of(keeper: &Gatekeeper, envelope: &'a Envelope, body: &'a [u8]) -> Self {
        let method = match envelope.method.as_deref() {
            Some("tools/call") => Some("tools/call"),
            Some("prompts/get") => Some("prompts/get"),
            Some("resources/read") => Some("resources/read"),
            _ => None,
        };
        let params = envelope.params.as_ref();
        let name = match method {
            Some("resources/read") => params.and_then(|p| p.uri.as_deref()),
            _ => params.and_then(|p| p.name.as_deref()),
        }
        .unwrap_or_default();
        let searching = method == Some("tools/call")
            && name == crate::handler::CALL_TOOL
            && keeper.gateway.catalog().searching();
        match searching.then(|| unwrapped_name(body)).flatten() {
            Some(inner) => Self {
                method,
                name: Cow::Owned(inner),
                unwrapped: true,
            },
            None => Self {
                method,
                name: Cow::Borrowed(name),
                unwrapped: false,
            },
        }
    }
}

/// The tool a `call_tool` request names, read again from its body: only
/// those pay for it. `None` when it names none (the handler refuses it).
fn unwrapped_name(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Message {
        params: Params,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        arguments: Arguments,
    }
    #[derive(serde::Deserialize)]
    struct Arguments {
        name: String,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    Some(message.params.arguments.name)
}

/// Counts and audits a call refused by a rate limit, as the handler does the calls it answers.
fn rate_limited(
    keeper: &Gatekeeper,
    parts: &axum::http::request::Parts,
    access: Option<&Access>,
    called: &Called<'_>,
    body: &[u8],
) {
    let Some(method) = called.method else {
        return;
    };
    // Read again only for a record: the envelope leaves arguments out to stay cheap.
    #[derive(serde::Deserialize)]
    struct WithArguments {
        params: Option<ArgumentsOnly>,
    }
    #[derive(serde::Deserialize)]
    struct ArgumentsOnly {
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let arguments = keeper
        .gateway
        .auditor()
        .filter(|_| method != "resources/read")
        .and_then(|auditor| {
            let mut sent = serde_json::from_slice::<WithArguments>(body)
                .ok()
                .and_then(|m| m.params)
                .and_then(|p| p.arguments);
            if called.unwrapped {
                sent = match sent.and_then(|mut a| a.remove("arguments")) {
                    Some(serde_json::Value::Object(inner)) => Some(inner),
                    _ => None,
                };
            }
            auditor.arguments(sent.as_ref())
        });
    let anonymous = Caller::default();
    keeper.gateway.account(
        &Attempt {
            method,
            name: &called.name,
            arguments,
            caller: access.map_or(&anonymous, |a| &a.caller),
            session_id: parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok()),
            request_id: parts
                .extensions
                .get::<CorrelationId>()
                .map(|id| id.0.as_str())
                .unwrap_or_default(),
        },
        &Verdict {
            outcome: Outcome::RateLimited,
            error_code: Some(RATE_LIMITED),
            trail: Trail::default(),
            elapsed: Duration::ZERO,
        },
        false,
    );
}

async fn rate_limit(
    keeper: &Gatekeeper,
    access: Option<&Access>,
    called: &Called<'_>,
    method: &str,
) -> Option<Limited> {
    let config = keeper.gateway.config();
    let limits = config.rate_limit.as_ref()?;
    let rate = &keeper.gateway.shared().rate;
    if let Some(limit) = &limits.per_client {
        let identity = access
            .map(|a| a.caller.identity())
            .unwrap_or_else(|| "anonymous".into());
        if let Decision::Limited { retry_after } =
            rate.take(&format!("client:{identity}"), limit).await
        {
            return Some(Limited {
                retry_after,
                which: format!("the per-client limit for {identity}"),
                limit: limit.clone(),
            });
        }
    }
    let tool = called.name.as_ref();
    if method == "tools/call"
        && !tool.is_empty()
        && let Some(limit) = limits.for_tool(tool)
        && let Decision::Limited { retry_after } = rate.take(&format!("tool:{tool}"), limit).await
    {
        return Some(Limited {
            retry_after,
            which: format!("tool `{tool}` (all clients together)"),
            limit: limit.clone(),
        });
    }
    None
}
