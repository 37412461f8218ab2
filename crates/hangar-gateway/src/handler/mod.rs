//! The MCP server the gateway presents: one handler instance per client
//! session (or per stateless request), answering from the current catalog.

// Sampling, roots, logging and resources/subscribe are deprecated by SEP-2577 but remain
// part of the session-based revisions this gateway serves and forwards.
#![expect(deprecated)]

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, LoggingLevel, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, RequestMetaObject, ServerCapabilities,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use tracing::Instrument;

use crate::access::{Access, Caller, Kind};
use crate::catalog::page;
use crate::gateway::Gateway;
use crate::upstream::{Downstream, Failure, SessionClient};

mod audited;
mod follow;
mod forward;
mod meta;
mod rounds;

use audited::Audited;

use forward::{correlation_id, in_session};
pub use meta::CALL_TOOL;
use meta::Meta;
pub use rounds::InputRounds;

/// How long a client's `initialize` waits for its sessions of their own
/// with servers (`clientSessions`) to open.
const CLIENT_SESSIONS_HEAD_START: std::time::Duration = std::time::Duration::from_secs(10);

/// The request id assigned by the HTTP layer, carried in the request's HTTP parts.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

#[derive(Clone)]
pub struct GatewayHandler {
    gateway: Gateway,
    session: Arc<Session>,
}

struct Session {
    id: u64,
    /// Shared with the gateway's list of sessions, which relays log messages by it.
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

impl GatewayHandler {
    pub fn new(gateway: Gateway) -> Self {
        let id = gateway.next_session_id();
        Self {
            gateway,
            session: Arc::new(Session {
                id,
                log_level: Arc::new(Mutex::new(None)),
            }),
        }
    }

    /// What the request's caller may use, as the HTTP layer found.
    fn access(&self, context: &RequestContext<RoleServer>) -> Arc<Access> {
        let attached = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Access>>());
        match attached {
            Some(access) => access.clone(),
            // Only requests that did not come through the HTTP layer lack it.
            None if self.gateway.config().auth.is_some() => Arc::new(Access::nothing()),
            None => Arc::new(Access::everything(Caller::default())),
        }
    }

    fn log_level(&self) -> Option<LoggingLevel> {
        *self
            .session
            .log_level
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Times the request, counts it, and logs it under the HTTP request's id.
    ///
    /// `work` goes to the heap at once (see [`boxed_work`]).
    fn observe<T>(
        &self,
        method: &'static str,
        context: &RequestContext<RoleServer>,
        work: impl Future<Output = Result<T, ErrorData>>,
    ) -> impl Future<Output = Result<T, ErrorData>> {
        let work = boxed_work(work);
        async move {
            let started = Instant::now();
            let span = own_span(method, context);
            let result = match &span {
                Some(span) => work.instrument(span.clone()).await,
                None => work.await,
            };
            let seconds = started.elapsed().as_secs_f64();
            self.gateway
                .metrics()
                .observe_request(method, result.is_ok(), seconds);
            let log = || match &result {
                Ok(_) => tracing::debug!(mcp_method = method, ms = seconds * 1000.0, "handled"),
                Err(e) => {
                    tracing::info!(mcp_method = method, ms = seconds * 1000.0, code = e.code.0, error = %e.message, "request failed")
                }
            };
            match &span {
                Some(span) => span.in_scope(log),
                None => log(),
            }
            result
        }
    }

    /// Keeps the client's session from resting (`shared::rest`): a restored
    /// session would not have what this request sets up.
    fn keep_awake(&self, context: &RequestContext<RoleServer>) {
        self.keep_session_awake(&context.extensions);
    }

    /// [`Self::keep_awake`], from what rmcp passes with a request or notification.
    fn keep_session_awake(&self, extensions: &rmcp::model::Extensions) {
        let session = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok());
        if let Some(session) = session {
            self.gateway.shared().rest.pin(session);
        }
    }

    /// The client call, as upstream forwarding needs it.
    fn downstream(&self, context: &RequestContext<RoleServer>) -> Downstream {
        let session = in_session(context);
        let mut meta = RequestMetaObject::new();
        for (key, value) in context.meta.iter() {
            // Protocol keys and the progress token are re-issued per upstream request.
            if key != "progressToken" && !key.starts_with("io.modelcontextprotocol/") {
                meta.insert(key.clone(), value.clone());
            }
        }
        Downstream {
            peer: context.peer.clone(),
            request_id: context.id.clone(),
            progress_token: context.meta.get_progress_token(),
            legacy: session,
            // Session clients get logs unless they asked to filter; stateless ones only on request.
            log_level: if session {
                Some(self.log_level().unwrap_or(LoggingLevel::Debug))
            } else {
                context.meta.log_level()
            },
            capabilities: context.client_capabilities().unwrap_or_default(),
            meta,
            cancel: context.ct.clone(),
            access: self.access(context),
            asks: None,
            // Only servers with `clientSessions` need it: not built per call otherwise.
            session: (session && self.gateway.gives_client_sessions())
                .then(|| self.session_client(context)),
        }
    }

    /// The session-based client making the request, as the owner of the
    /// sessions of its own that servers with `clientSessions` give it.
    fn session_client(&self, context: &RequestContext<RoleServer>) -> SessionClient {
        self.client_of(&context.peer, &context.extensions)
    }

    /// Opens the client's sessions of its own with the servers that give
    /// them (`clientSessions`) before the client's session begins, as a
    /// client talking to a server directly has its session from the start:
    /// what a server asks or announces as a session begins reaches it then.
    async fn begin_client_sessions(&self, context: &RequestContext<RoleServer>) {
        if !self.gateway.gives_client_sessions() {
            return;
        }
        let client = self.session_client(context);
        let opening: Vec<_> = self
            .gateway
            .runtime()
            .upstreams
            .iter()
            .filter(|upstream| upstream.spec().client_sessions > 0)
            .cloned()
            .map(|upstream| {
                let client = client.clone();
                tokio::spawn(async move { upstream.begin_client_session(&client).await })
            })
            .collect();
        // A slow server must not hold the client's initialize: past this,
        // the sessions go on opening and the client's first call waits.
        let _ = tokio::time::timeout(
            CLIENT_SESSIONS_HEAD_START,
            futures::future::join_all(opening),
        )
        .await;
    }

    /// A session of its own with a server lives in this replica, so the
    /// client's session must not rest while it may have one.
    fn client_of(
        &self,
        peer: &rmcp::service::Peer<RoleServer>,
        extensions: &rmcp::model::Extensions,
    ) -> SessionClient {
        if self.gateway.gives_client_sessions() {
            self.keep_session_awake(extensions);
        }
        SessionClient {
            id: self.session.id,
            peer: peer.clone(),
            capabilities: peer
                .peer_info()
                .map(|info| info.capabilities.clone())
                .unwrap_or_default(),
            log_level: self.session.log_level.clone(),
        }
    }
}

impl GatewayHandler {
    /// `initialize` of a session that begins at rest (`crate::lean`): no
    /// worker to tell about the client, and no sessions of its own to open
    /// (the lean path leaves gateways with `clientSessions` to rmcp).
    pub(crate) fn begin_session(
        &self,
        request: &InitializeRequestParams,
        request_id: &str,
    ) -> Result<InitializeResult, ErrorData> {
        let result = self.negotiate_initialize(request)?;
        log_session_start(request, request_id);
        Ok(result)
    }
}

fn log_session_start(request: &InitializeRequestParams, request_id: &str) {
    tracing::info!(
        request_id,
        client = %request.client_info.name,
        version = %request.protocol_version,
        "client session starting"
    );
}

/// The span a request's logs go under, when it needs one of its own. Served
/// within its HTTP request's span (the lean path), it has one already: a
/// span more per request, made and entered on every poll, was a twentieth of
/// the CPU per call (and recording the method into the HTTP request's span
/// costs about as much, as the JSON formatter parses and rewrites the span's
/// fields). Served by rmcp's session worker, the request is outside that
/// span and gets one carrying the HTTP request's id.
fn own_span(method: &'static str, context: &RequestContext<RoleServer>) -> Option<tracing::Span> {
    if crate::http::within_request_span() {
        return None;
    }
    Some(tracing::info_span!("mcp", request_id = %correlation_id(context), method))
}

/// `work` on the heap, for the wrappers every request passes through
/// (`observe`, `audited`) and for what a call spawns. An `async fn` taking a
/// future keeps it twice in its own state, as its argument and as what it
/// awaits, so each wrapper doubled the size of what it wrapped: a
/// `tools/call` future was ~69 KB, and moving it (on every layer that takes
/// it) was a tenth of the gateway's CPU per call. Boxed, each wrapper holds a
/// pointer.
fn boxed_work<F: Future>(work: F) -> std::pin::Pin<Box<F>> {
    Box::pin(work)
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        if let Some((server, mut capabilities, instructions)) = self
            .gateway
            .mirrored()
            .and_then(|upstream| upstream.identity())
        {
            // The bridge announces restarts of its child, so lists can always change.
            if let Some(tools) = capabilities.tools.as_mut() {
                tools.list_changed = Some(true);
            }
            if let Some(prompts) = capabilities.prompts.as_mut() {
                prompts.list_changed = Some(true);
            }
            if let Some(resources) = capabilities.resources.as_mut() {
                resources.list_changed = Some(true);
            }
            let mut info = ServerConfig::new(capabilities);
            if let Some(server) = server {
                info = info.with_server_info(server);
            }
            if let Some(instructions) = instructions {
                info = info.with_instructions(instructions);
            }
            return info;
        }
        let config = self.gateway.config();
        let capabilities: ServerCapabilities = serde_json::from_value(serde_json::json!({
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"listChanged": true, "subscribe": true},
            "completions": {},
            "logging": {},
        }))
        .expect("static capabilities");
        let mut info = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            config.gateway.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        if let Some(instructions) = &config.gateway.instructions {
            info = info.with_instructions(instructions.clone());
        }
        info
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let restored = context
            .extensions
            .get::<rmcp::transport::streamable_http_server::session::SessionRestoreMarker>()
            .is_some();
        if restored {
            // A session woken from rest (or begun on another replica).
            tracing::debug!(client = %request.client_info.name, "client session restored");
        } else {
            log_session_start(&request, &correlation_id(&context));
        }
        context.peer.set_peer_info(request.clone());
        self.begin_client_sessions(&context).await;
        self.negotiate_initialize(&request)
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        for upstream in &self.gateway.runtime().upstreams {
            upstream.roots_changed(self.session.id).await;
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let client = self.client_of(&context.peer, &context.extensions);
        self.gateway.register_session(client);
    }

    /// Lets the transport check `Mcp-Param-*` routing headers against the tool's input schema.
    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        let catalog = self.gateway.catalog();
        catalog
            .searching()
            .then(|| meta::definition(name))
            .flatten()
            .or_else(|| catalog.tool_definition(name))
            .cloned()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.observe("tools/list", &context, async {
            self.gateway.discover_idle_servers();
            let catalog = self.gateway.catalog();
            let size = self.gateway.config().gateway.page_size as usize;
            let access = self.access(&context);
            // The meta-tools show only what the caller may use, so everyone sees them.
            let tools = if catalog.searching() {
                Cow::Borrowed(meta::definitions())
            } else {
                visible(catalog.tools(), &access, Kind::Tool, |t| &t.name)
            };
            let (tools, next) = page(&tools, cursor(&request), size)?;
            let mut result = ListToolsResult::with_all_items(tools);
            result.next_cursor = next;
            Ok(result)
        })
        .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let request = if self.gateway.catalog().searching() {
            match Meta::of(request) {
                Meta::Catalog(request) => request,
                // A search reads the catalog, as tools/list does: neither audited nor a tool's metric.
                Meta::Search { query, limit } => {
                    let found = async { Ok(self.search_tools(&query, limit, &context)) };
                    let found = self.observe("tools/call", &context, found).await?;
                    return Ok(CallToolResponse::Complete(found));
                }
                Meta::Invalid(why) => return Ok(CallToolResponse::Complete(meta::invalid(why))),
            }
        } else {
            request
        };
        let name = request.name.clone();
        let call = Audited {
            method: "tools/call",
            name: &name,
            arguments: self.audited_arguments(request.arguments.as_ref()),
        };
        let work = self.audited(call, &context, self.call_tool_inner(request, &context));
        self.observe("tools/call", &context, work).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.observe("prompts/list", &context, async {
            self.gateway.discover_idle_servers();
            let catalog = self.gateway.catalog();
            let size = self.gateway.config().gateway.page_size as usize;
            let access = self.access(&context);
            let prompts = visible(catalog.prompts(), &access, Kind::Prompt, |p| &p.name);
            let (prompts, next) = page(&prompts, cursor(&request), size)?;
            let mut result = ListPromptsResult::with_all_items(prompts);
            result.next_cursor = next;
            Ok(result)
        })
        .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request.name.clone();
        let call = Audited {
            method: "prompts/get",
            name: &name,
            arguments: self.audited_arguments(request.arguments.as_ref()),
        };
        let work = self.audited(call, &context, self.get_prompt_inner(request, &context));
        self.observe("prompts/get", &context, work).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.observe("resources/list", &context, async {
            self.gateway.discover_idle_servers();
            let catalog = self.gateway.catalog();
            let size = self.gateway.config().gateway.page_size as usize;
            let access = self.access(&context);
            let resources = visible(catalog.resources(), &access, Kind::Resource, |r| &r.uri);
            let (resources, next) = page(&resources, cursor(&request), size)?;
            let mut result = ListResourcesResult::with_all_items(resources);
            result.next_cursor = next;
            Ok(result)
        })
        .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.observe("resources/templates/list", &context, async {
            let access = self.access(&context);
            let mut templates = self.gateway.catalog().templates();
            templates.retain(|t| access.may_use(Kind::Resource, &t.uri_template));
            let size = self.gateway.config().gateway.page_size as usize;
            let (templates, next) = page(&templates, cursor(&request), size)?;
            let mut result = ListResourceTemplatesResult::with_all_items(templates);
            result.next_cursor = next;
            Ok(result)
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let call = Audited {
            method: "resources/read",
            name: &uri,
            arguments: None,
        };
        let work = self.audited(call, &context, self.read_resource_inner(request, &context));
        self.observe("resources/read", &context, work).await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.observe(
            "completion/complete",
            &context,
            self.complete_inner(request, &context),
        )
        .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.observe("logging/setLevel", &context, async {
            self.keep_awake(&context);
            *self
                .session
                .log_level
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(request.level);
            Ok(())
        })
        .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.observe("resources/subscribe", &context, async {
            self.keep_awake(&context);
            match self.resource_owner(&request.uri, &context)? {
                Some(route) => match route.subscription_holder() {
                    Some(upstream) => upstream
                        .subscribe_session(request.uri.clone(), self.session_client(&context))
                        .await
                        .map_err(Failure::into_error),
                    None => Err(ErrorData::new(
                        ErrorCode::METHOD_NOT_FOUND,
                        format!(
                            "MCP server {} does not support resource subscriptions",
                            route.name()
                        ),
                        None,
                    )),
                },
                None => Ok(()),
            }
        })
        .await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.observe("resources/unsubscribe", &context, async {
            for upstream in self
                .resource_owner(&request.uri, &context)?
                .map(|route| route.subscription_holders())
                .unwrap_or_default()
            {
                upstream
                    .unsubscribe_session(request.uri.clone(), self.session.id)
                    .await
                    .map_err(Failure::into_error)?;
            }
            Ok(())
        })
        .await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(follow::accepted(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.gateway.subscribe_changes();
        // Held for as long as the stream lasts.
        let _followed = self.follow_resources(&context).await;
        loop {
            tokio::select! {
                _ = context.cancelled() => break,
                change = changes.recv() => {
                    let change = match change {
                        Ok(change) => change,
                        // Missed some: tell the client everything may have changed.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            crate::catalog::Changes { tools: true, prompts: true, resources: true }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    };
                    let sink = context.sink();
                    let accepted = sink.accepted();
                    // Send only what the client asked for; the sink rejects the rest anyway.
                    if change.tools && accepted.tools_list_changed == Some(true) {
                        let _ = sink.notify_tool_list_changed().await;
                    }
                    if change.prompts && accepted.prompts_list_changed == Some(true) {
                        let _ = sink.notify_prompt_list_changed().await;
                    }
                    if change.resources && accepted.resources_list_changed == Some(true) {
                        let _ = sink.notify_resource_list_changed().await;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The items a caller may see, borrowed when that is all of them.
fn visible<'a, T: Clone>(
    items: &'a [T],
    access: &Access,
    kind: Kind,
    name: impl Fn(&T) -> &str,
) -> Cow<'a, [T]> {
    if access.everything_visible() {
        Cow::Borrowed(items)
    } else {
        Cow::Owned(
            items
                .iter()
                .filter(|i| access.may_use(kind, name(i)))
                .cloned()
                .collect(),
        )
    }
}

fn cursor(request: &Option<PaginatedRequestParams>) -> Option<&str> {
    request.as_ref().and_then(|r| r.cursor.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::service::Service;

    /// What every `tools/call` passes through stays small: it is moved on
    /// each layer that takes it (`boxed_work`). Before the wrappers boxed
    /// their work, the call's future was ~69 KB.
    #[tokio::test]
    async fn a_tool_calls_future_stays_small() {
        let config = hangar_config::GatewayConfig::parse(
            "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\n\
             tools:\n  - name: echo\n    backend: {url: \"http://127.0.0.1:1/echo\"}\n",
            "test",
        )
        .expect("a valid config");
        let gateway =
            Gateway::start(config, Arc::new(crate::metrics::Metrics::new())).expect("a gateway");
        let handler = GatewayHandler::new(gateway);
        let peer = crate::lean::detached_peer(handler.clone());
        let context = RequestContext::new(rmcp::model::NumberOrString::Number(1), peer);
        let call = serde_json::json!({"name": "echo", "arguments": {}});
        let request: rmcp::model::ClientRequest =
            serde_json::from_value(serde_json::json!({"method": "tools/call", "params": call}))
                .expect("a tools/call request");
        let params: CallToolRequestParams = serde_json::from_value(call).expect("call params");

        let call_tool = std::mem::size_of_val(&handler.call_tool(params, context.clone()));
        assert!(
            call_tool <= 2048,
            "tools/call's future is {call_tool} bytes"
        );
        // rmcp's dispatch over every method, around ours.
        let dispatch = std::mem::size_of_val(&handler.handle_request(request, context));
        assert!(
            dispatch <= 16 * 1024,
            "the request's future is {dispatch} bytes"
        );
    }
}
