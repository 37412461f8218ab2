//! The gateway's client side of one upstream connection: progress, log
//! messages and server-to-client requests (sampling, elicitation, roots) go
//! back to the client call they belong to; list changes go to the supervisor.

use std::sync::Arc;
use std::time::Duration;

use hangar_mcp_client::authorized::RELATED_REQUEST_META;
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, Implementation,
    ListRootsRequest, ListRootsResult, LoggingLevel, LoggingMessageNotificationParam,
    NotificationMetaObject, ProgressNotificationParam, ProtocolVersion, RequestId,
    ResourceUpdatedNotificationParam, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, Peer, RequestContext,
    RoleClient, RoleServer, RunningService, ServiceError,
};
use rmcp::{ClientHandler, ErrorData};
use tokio::sync::mpsc;

use super::ledger::RelayTurn;
use super::link::Link;
use super::{AskedInput, Downstream, Upstream};

/// How long a notification waits for the ones received before it to be
/// relayed: one stuck on a slow client must not hold the rest forever.
const TURN_LIMIT: Duration = Duration::from_secs(5);

impl UpstreamClient {
    /// Passes a server-to-client request on to the client call it belongs
    /// to, or, on a client's session of its own, outside any call, to that
    /// client, as the server would reach it directly.
    async fn relay_request(
        &self,
        request: ServerRequest,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<rmcp::model::ClientResult, ErrorData> {
        if let Some(call) = self.link.call_for(origin) {
            refuse_unsupported(&request, &call.capabilities)?;
            if !call.legacy {
                return ask_stateless(&call, request).await;
            }
            let mut request = request;
            tag_origin(&mut request, &call.request_id);
            return send_to_client(&call.peer, request).await;
        }
        let Some(owner) = self.link.owner() else {
            return Err(ErrorData::invalid_request(
                "the gateway cannot tell which client call this request belongs to (it came outside any call, or while several calls shared one stream to the server); `clientSessions` on the server gives each client a session of its own",
                None,
            ));
        };
        refuse_unsupported(&request, &owner.capabilities)?;
        send_to_client(&owner.peer, request).await
    }
}

async fn send_to_client(
    peer: &Peer<RoleServer>,
    request: ServerRequest,
) -> Result<rmcp::model::ClientResult, ErrorData> {
    peer.send_request(request).await.map_err(|e| match e {
        ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(format!("relaying to the client failed: {other}"), None),
    })
}

/// A stateless client is asked by the call that waits for its answer (as an
/// `InputRequiredResult` round; see `handler::rounds`).
async fn ask_stateless(
    downstream: &Downstream,
    request: ServerRequest,
) -> Result<rmcp::model::ClientResult, ErrorData> {
    let Some(asks) = &downstream.asks else {
        return Err(ErrorData::invalid_request(
            "the client uses the stateless 2026-07-28 protocol and its call cannot take input rounds",
            None,
        ));
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    asks.send(AskedInput { request, answer })
        .await
        .map_err(|_| ErrorData::invalid_request("the client's call has ended", None))?;
    answered.await.unwrap_or_else(|_| {
        Err(ErrorData::internal_error(
            "the client did not answer the gateway's InputRequiredResult in time",
            None,
        ))
    })
}

/// The gateway asks upstreams for everything (see [`gateway_capabilities`]); a
/// request the calling client did not declare it can answer stops here.
fn refuse_unsupported(
    request: &ServerRequest,
    capabilities: &ClientCapabilities,
) -> Result<(), ErrorData> {
    let missing = match request {
        ServerRequest::CreateMessageRequest(_) if capabilities.sampling.is_none() => "sampling",
        ServerRequest::ElicitRequest(r) => match (&r.params, &capabilities.elicitation) {
            (_, None) => "elicitation",
            (ElicitRequestParams::UrlElicitationParams { .. }, Some(e)) if e.url.is_none() => {
                "URL elicitation"
            }
            _ => return Ok(()),
        },
        ServerRequest::ListRootsRequest(_) if capabilities.roots.is_none() => "roots",
        _ => return Ok(()),
    };
    Err(ErrorData::invalid_request(
        format!("the client calling through the gateway does not support {missing}"),
        None,
    ))
}

fn tag_origin(request: &mut ServerRequest, origin: &RequestId) {
    // Lets the client's session put the request on the SSE stream of the call it belongs to.
    let marker = OriginatingRequestId(origin.clone());
    match request {
        ServerRequest::CreateMessageRequest(r) => {
            r.extensions.insert(marker);
        }
        ServerRequest::ElicitRequest(r) => {
            r.extensions.insert(marker);
        }
        ServerRequest::ListRootsRequest(r) => {
            r.extensions.insert(marker);
        }
        _ => {}
    }
}

/// Events from an upstream connection to its supervisor.
pub(super) enum Event {
    ListChanged,
}

/// The gateway's client side of one upstream connection. List changes on
/// the gateway's session go to its supervisor, which lists again; on a
/// client's own session to that client (the gateway's session hears of
/// changes to what it lists; what a server adds for one session alone is not
/// in the gateway's lists).
pub(super) struct UpstreamClient {
    pub(super) upstream: Arc<Upstream>,
    pub(super) link: Arc<Link>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) info: ClientConfig,
}

pub(crate) fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl UpstreamClient {
    /// Passes a log message on to the client call it belongs to: the one on
    /// whose response stream it came (marked by the transport), else the
    /// only call in flight (stdio has one stream for everything). One that
    /// belongs to no call (the server's standalone stream, or stdio with
    /// several calls in flight) goes to the clients of the session: the
    /// client whose own it is, or all the gateway's session clients.
    async fn relay_log(
        &self,
        mut params: LoggingMessageNotificationParam,
        mut meta: NotificationMetaObject,
    ) {
        tracing::debug!(server = self.upstream.name(), level = ?params.level, data = %params.data, "upstream log message");
        let related = meta
            .0
            .remove(RELATED_REQUEST_META)
            .and_then(|id| serde_json::from_value::<RequestId>(id).ok());
        // The rest of the server's `_meta` goes on with the message.
        params.meta = (!meta.0.is_empty()).then_some(meta);
        let marked = related.is_some();
        let origin = related.map(InboundStreamOrigin::OutboundRequest);
        match self.link.call_for(origin.as_ref()) {
            Some(call) => {
                if call
                    .log_level
                    .is_some_and(|min| level_rank(params.level) >= level_rank(min))
                {
                    let _ = call.peer.notify_logging_message(params).await;
                }
            }
            // Marked for a call that has ended: its client is gone.
            None if marked => {}
            None => (self.upstream.standalone_log)(self.upstream.name(), params, self.link.owner()),
        }
    }

    /// Passes a progress notification on to the client call it belongs to.
    async fn relay_progress(&self, params: ProgressNotificationParam) {
        if let Some(downstream) = self.link.call_with_progress(&params.progress_token)
            && let Some(token) = downstream.progress_token.clone()
        {
            let mut params = params;
            params.progress_token = token;
            let _ = downstream.peer.notify_progress(params).await;
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self
            .relay_request(request, context.extensions.get())
            .await?
        {
            rmcp::model::ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(ErrorData::internal_error(
                "the client answered sampling with another result type",
                None,
            )),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self
            .relay_request(request, context.extensions.get())
            .await?
        {
            rmcp::model::ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(ErrorData::internal_error(
                "the client answered elicitation with another result type",
                None,
            )),
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.relay_request(request, context.extensions.get()).await {
            Ok(rmcp::model::ClientResult::ListRootsResult(result)) => Ok(result),
            Ok(_) => Err(ErrorData::internal_error(
                "the client answered roots/list with another result type",
                None,
            )),
            // Roots are optional context: the gateway's session, asked outside a call, has none.
            Err(_) if self.link.owner().is_none() => Ok(ListRootsResult::default()),
            Err(error) => Err(error),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        context: NotificationContext<RoleClient>,
    ) {
        let upstream_token = params.progress_token.clone();
        if let Some(turn) = context.extensions.get::<RelayTurn>() {
            let relays = &self.link.relays;
            relays
                .progress_turn(&upstream_token, *turn, TURN_LIMIT)
                .await;
        }
        self.relay_progress(params).await;
        self.link.relays.relayed(&upstream_token);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        mut context: NotificationContext<RoleClient>,
    ) {
        if let Some(turn) = context.extensions.get::<RelayTurn>() {
            self.link.relays.log_turn(*turn, TURN_LIMIT).await;
        }
        // rmcp keeps the message's `_meta` in the extensions, not in `params`.
        let meta = context
            .extensions
            .remove::<NotificationMetaObject>()
            .unwrap_or_default();
        self.relay_log(params, meta).await;
        self.link.relays.relayed_log();
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        match self.link.owner() {
            // Subscribed on the client's own session (`resources/subscribe`).
            Some(owner) => {
                let _ = owner.peer.notify_resource_updated(params).await;
            }
            None => self.upstream.notify_subscribers(params).await,
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed(|peer| async move { peer.notify_tool_list_changed().await })
            .await;
    }
    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed(|peer| async move { peer.notify_prompt_list_changed().await })
            .await;
    }
    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed(|peer| async move { peer.notify_resource_list_changed().await })
            .await;
    }
}

impl UpstreamClient {
    /// A list changed: on a client's own session the client hears it
    /// (`notify`); on the gateway's the supervisor lists again.
    async fn list_changed<F: Future<Output = Result<(), ServiceError>>>(
        &self,
        notify: impl FnOnce(Peer<RoleServer>) -> F,
    ) {
        match self.link.owner() {
            Some(owner) => drop(notify(owner.peer.clone()).await),
            None => drop(self.events.send(Event::ListChanged)),
        }
    }
}

/// What the gateway's own session with a server declares: everything a
/// client may answer, as each call's client is checked on its own.
pub(super) fn gateway_capabilities() -> ClientCapabilities {
    serde_json::from_value(serde_json::json!({
        "sampling": {},
        "elicitation": {"form": {}, "url": {}},
        "roots": {}
    }))
    .expect("static capabilities")
}

pub(super) fn client_info(capabilities: ClientCapabilities) -> ClientConfig {
    let mut info = ClientConfig::new(
        capabilities,
        Implementation::new("hangar-gateway", env!("CARGO_PKG_VERSION")),
    );
    info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
    info
}

pub(super) type Client = RunningService<RoleClient, UpstreamClient>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_the_calling_client_cannot_answer_are_refused() {
        let request = |method: &str, params: serde_json::Value| -> ServerRequest {
            serde_json::from_value(serde_json::json!({"method": method, "params": params})).unwrap()
        };
        let capabilities = |value: serde_json::Value| -> ClientCapabilities {
            serde_json::from_value(value).unwrap()
        };
        let url = request(
            "elicitation/create",
            serde_json::json!({"mode": "url", "message": "Sign in", "url": "https://example.com", "elicitationId": "1"}),
        );
        let form = request(
            "elicitation/create",
            serde_json::json!({"message": "Name?", "requestedSchema": {"type": "object", "properties": {}}}),
        );
        let roots = request("roots/list", serde_json::json!({}));
        let form_only = capabilities(serde_json::json!({"elicitation": {}}));
        let both = capabilities(serde_json::json!({"elicitation": {"form": {}, "url": {}}}));
        let refusal = refuse_unsupported(&url, &form_only).unwrap_err();
        assert!(refusal.message.contains("URL elicitation"), "{refusal:?}");
        assert!(refuse_unsupported(&form, &form_only).is_ok());
        assert!(refuse_unsupported(&url, &both).is_ok());
        let none = capabilities(serde_json::json!({}));
        assert!(
            refuse_unsupported(&form, &none)
                .unwrap_err()
                .message
                .contains("elicitation")
        );
        assert!(
            refuse_unsupported(&roots, &none)
                .unwrap_err()
                .message
                .contains("roots")
        );
    }

    #[test]
    fn log_levels_rank_by_severity() {
        let ordered = [
            LoggingLevel::Debug,
            LoggingLevel::Info,
            LoggingLevel::Notice,
            LoggingLevel::Warning,
            LoggingLevel::Error,
            LoggingLevel::Critical,
            LoggingLevel::Alert,
            LoggingLevel::Emergency,
        ];
        for pair in ordered.windows(2) {
            assert!(level_rank(pair[0]) < level_rank(pair[1]), "{pair:?}");
        }
    }
}
