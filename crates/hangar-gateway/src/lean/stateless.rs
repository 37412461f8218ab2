//! Stateless (2026-07-28) requests that can have nothing to send before
//! their result: the handler called directly, the result as plain JSON.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ErrorCode, GetMeta, ServerJsonRpcMessage};
use rmcp::service::{Peer, RequestContext, RoleServer, Service};
use tokio_util::sync::CancellationToken;

use super::{Lean, Parsed, is_known, json_response, protocol_header};
use crate::handler::GatewayHandler;

/// A peer whose service loop ends at once (its input is empty): what is
/// sent to it fails, and a request that raced the end gets an error when
/// the loop drops its pending answers.
pub(crate) fn detached_peer(handler: GatewayHandler) -> Peer<RoleServer> {
    let transport = (
        futures::sink::drain::<rmcp::service::TxJsonRpcMessage<RoleServer>>(),
        futures::stream::empty::<rmcp::service::RxJsonRpcMessage<RoleServer>>(),
    );
    let running = rmcp::service::serve_directly(handler, transport, None);
    running.peer().clone()
}

/// Whether rmcp would serve this stateless request as it is and send
/// nothing before its result: a method this path serves, per-request
/// protocol metadata matching the header, `Mcp-Method`/`Mcp-Name` headers
/// equal to the body, no `Mcp-Param-*` headers to check, and neither a
/// progress token nor a log level to send notifications for.
pub(super) fn is_plain(lean: &Lean, headers: &HeaderMap, request: &ClientRequest) -> bool {
    let name = match request {
        ClientRequest::CallToolRequest(r) => Some(r.params.name.as_ref()),
        ClientRequest::GetPromptRequest(r) => Some(r.params.name.as_str()),
        ClientRequest::ReadResourceRequest(r) => Some(r.params.uri.as_str()),
        ClientRequest::ListToolsRequest(_)
        | ClientRequest::ListPromptsRequest(_)
        | ClientRequest::ListResourcesRequest(_)
        | ClientRequest::ListResourceTemplatesRequest(_) => None,
        _ => return false,
    };
    let meta = request.get_meta();
    let Some(version) = meta.protocol_version() else {
        return false;
    };
    let header_matches = matches!(protocol_header(headers), Some(Ok(v)) if v == version.as_str());
    if !header_matches
        || !is_known(version.as_str())
        || version.as_str() < "2026-07-28"
        || !meta.missing_required_keys(&version).is_empty()
        || meta.get_progress_token().is_some()
        || meta.log_level().is_some()
    {
        return false;
    }
    if headers.keys().any(|k| k.as_str().starts_with("mcp-param-")) {
        return false;
    }
    if single(headers, "mcp-method") != Some(request.method()) {
        return false;
    }
    if let Some(name) = name {
        let named = single(headers, "mcp-name");
        if named != Some(name) || name.starts_with("=?base64?") {
            return false;
        }
    }
    if let ClientRequest::CallToolRequest(call) = request
        && lean
            .gateway
            .catalog()
            .tool_promotes_to_headers(&call.params.name)
    {
        // Arguments promoted to headers are rmcp's to check.
        return false;
    }
    true
}

fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

pub(super) async fn serve(lean: &Lean, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let Some(Parsed(message)) = parts.extensions.remove::<Parsed>() else {
        unreachable!("the caller checked the parsed message");
    };
    let message = answer_directly(lean, parts, message, CancellationToken::new()).await;
    let status = status(&message);
    json_response(
        status,
        serde_json::to_vec(&message).expect("a JSON-RPC message serialises"),
    )
}

/// The handler's answer to a request, called with the detached peer;
/// `cancel` stops it, as does dropping this future (its client went away).
pub(super) async fn answer_directly(
    lean: &Lean,
    parts: axum::http::request::Parts,
    message: Arc<ClientJsonRpcMessage>,
    cancel: CancellationToken,
) -> ServerJsonRpcMessage {
    let ClientJsonRpcMessage::Request(call) = Arc::unwrap_or_clone(message) else {
        unreachable!("the caller checked it is a request");
    };
    let mut request = call.request;
    let mut context = RequestContext::new(call.id.clone(), lean.peer.clone());
    context.ct = cancel;
    context.meta = std::mem::take(request.get_meta_mut());
    context.extensions.insert(parts);
    let _cancel_on_drop = context.ct.clone().drop_guard();
    match lean.handler.handle_request(request, context).await {
        Ok(result) => ServerJsonRpcMessage::response(result, call.id),
        Err(error) => ServerJsonRpcMessage::error(error, Some(call.id)),
    }
}

/// The HTTP status rmcp gives a stateless answer.
fn status(message: &ServerJsonRpcMessage) -> StatusCode {
    let ServerJsonRpcMessage::Error(error) = message else {
        return StatusCode::OK;
    };
    match error.error.code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}
