//! The MCP server the gateway presents: one handler instance per client
//! session (or per stateless request), answering from the current catalog.

// Sampling, roots, logging and resources/subscribe are deprecated by SEP-2577 but remain
// part of the session-based revisions this gateway serves and forwards.
#![expect(deprecated)]

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, CompleteRequestParams,
    CompleteResult, CompletionInfo, ContentBlock, CreateMessageRequest, ElicitRequest, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, Implementation, InitializeRequestParams,
    InitializeResult, InputRequest, InputRequests, InputResponses, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListRootsRequest, ListToolsResult,
    LoggingLevel, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, Reference, RequestMetaObject, ServerCapabilities, ServerConfig,
    ServerRequest, ServerResult, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use tracing::Instrument;

use crate::access::{Access, Caller, Kind};
use crate::catalog::{Item, Lookup, PromptTarget, ResourceTarget, Route, ToolTarget, page};
use crate::gateway::Gateway;
use crate::upstream::{Downstream, Failure, Upstream};

/// Most input rounds the gateway drives for a session-based client.
const MAX_INPUT_ROUNDS: usize = 10;

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
    log_level: Mutex<Option<LoggingLevel>>,
}

impl GatewayHandler {
    pub fn new(gateway: Gateway) -> Self {
        let id = gateway.next_session_id();
        Self {
            gateway,
            session: Arc::new(Session {
                id,
                log_level: Mutex::new(None),
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
    async fn observe<T>(
        &self,
        method: &'static str,
        context: &RequestContext<RoleServer>,
        work: impl Future<Output = Result<T, ErrorData>>,
    ) -> Result<T, ErrorData> {
        let started = Instant::now();
        let span = tracing::info_span!("mcp", request_id = %correlation_id(context), method);
        let result = work.instrument(span.clone()).await;
        let seconds = started.elapsed().as_secs_f64();
        self.gateway
            .metrics()
            .observe_request(method, result.is_ok(), seconds);
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!(ms = seconds * 1000.0, "handled"),
            Err(e) => tracing::info!(ms = seconds * 1000.0, code = e.code.0, error = %e.message, "request failed"),
        });
        result
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
        }
    }

    /// Forwards a request to its server, or to a group member by the group's
    /// strategy (and to further members when one fails to answer).
    async fn forward(
        &self,
        route: &Route,
        call: Forwarded,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, Failure> {
        let item = call.item();
        route
            .dispatch(item, |upstream| {
                let call = call.clone();
                async move { self.forward_to(&upstream, call, context).await }
            })
            .await
    }

    /// Forwards a request that may need several input rounds. Stateless
    /// clients get the `InputRequiredResult` and drive the rounds themselves;
    /// for session-based clients the gateway asks them over the session and retries.
    async fn forward_to(
        &self,
        upstream: &Upstream,
        mut call: Forwarded,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, Failure> {
        for _ in 0..MAX_INPUT_ROUNDS {
            let downstream = self.downstream(context);
            let result = match &call {
                Forwarded::Tool(p) => upstream.call_tool(p.clone(), downstream).await,
                Forwarded::Prompt(p) => upstream.get_prompt(p.clone(), downstream).await,
                Forwarded::Resource(p) => upstream.read_resource(p.clone(), downstream).await,
            }?;
            let ServerResult::InputRequiredResult(input) = &result else {
                return Ok(result);
            };
            if !in_session(context) {
                return Ok(result);
            }
            let responses = ask_client(context, input.input_requests.clone().unwrap_or_default())
                .await
                .map_err(Failure::Rpc)?;
            call.retry_with(responses, input.request_state.clone());
        }
        Err(Failure::Gateway(format!(
            "MCP server {} still asked for input after {MAX_INPUT_ROUNDS} rounds",
            upstream.name()
        )))
    }

    async fn call_tool_inner(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let access = self.access(&context);
        if !access.may_use(Kind::Tool, &params.name) {
            return Err(access.denied(Kind::Tool, &params.name));
        }
        let catalog = self.gateway.catalog();
        match catalog.tool(&params.name) {
            Lookup::Found(ToolTarget::Declared(tool)) => {
                let result = tool
                    .call(
                        self.gateway.http(),
                        params.arguments,
                        &correlation_id(&context),
                        self.gateway.metrics(),
                    )
                    .await;
                Ok(CallToolResponse::Complete(result))
            }
            Lookup::Found(ToolTarget::Upstream(route, original)) => {
                let mut params = params;
                params.name = original.into();
                match self
                    .forward(&route, Forwarded::Tool(params), &context)
                    .await
                {
                    Ok(ServerResult::CallToolResult(result)) => {
                        Ok(CallToolResponse::Complete(result))
                    }
                    Ok(ServerResult::InputRequiredResult(result)) => {
                        Ok(CallToolResponse::InputRequired(result))
                    }
                    Ok(ServerResult::CreateTaskResult(result)) => {
                        Ok(CallToolResponse::Task(result))
                    }
                    Ok(_) => Err(unexpected(&route, "tools/call")),
                    Err(Failure::Rpc(error)) => Err(error),
                    // The caller (often a model) should read why the tool failed.
                    Err(Failure::Unavailable(message) | Failure::Gateway(message)) => {
                        Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                            ContentBlock::text(message),
                        ])))
                    }
                }
            }
            Lookup::Clash(sources) => Err(clash_error("tool", &params.name, &sources)),
            Lookup::Unavailable(route) => {
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(route.unavailable_reason()),
                ])))
            }
            Lookup::Unknown => Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", params.name),
                None,
            )),
        }
    }

    async fn get_prompt_inner(
        &self,
        params: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let access = self.access(&context);
        if !access.may_use(Kind::Prompt, &params.name) {
            return Err(access.denied(Kind::Prompt, &params.name));
        }
        let catalog = self.gateway.catalog();
        match catalog.prompt(&params.name) {
            Lookup::Found(PromptTarget::Declared(prompt)) => prompt
                .get(params.arguments)
                .map(GetPromptResponse::Complete),
            Lookup::Found(PromptTarget::Upstream(route, original)) => {
                let mut params = params;
                params.name = original;
                match self
                    .forward(&route, Forwarded::Prompt(params), &context)
                    .await
                    .map_err(Failure::into_error)?
                {
                    ServerResult::GetPromptResult(result) => {
                        Ok(GetPromptResponse::Complete(result))
                    }
                    ServerResult::InputRequiredResult(result) => {
                        Ok(GetPromptResponse::InputRequired(result))
                    }
                    _ => Err(unexpected(&route, "prompts/get")),
                }
            }
            Lookup::Clash(sources) => Err(clash_error("prompt", &params.name, &sources)),
            Lookup::Unavailable(route) => {
                Err(ErrorData::internal_error(route.unavailable_reason(), None))
            }
            Lookup::Unknown => Err(ErrorData::invalid_params(
                format!("unknown prompt `{}`", params.name),
                None,
            )),
        }
    }

    async fn read_resource_inner(
        &self,
        params: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let access = self.access(&context);
        if !access.may_use(Kind::Resource, &params.uri) {
            return Err(access.denied(Kind::Resource, &params.uri));
        }
        let catalog = self.gateway.catalog();
        match catalog.resource(&params.uri) {
            Lookup::Found(ResourceTarget::Declared(resource)) => resource
                .read(self.gateway.http(), &correlation_id(&context))
                .await
                .map(ReadResourceResponse::Complete),
            Lookup::Found(ResourceTarget::Upstream(route)) => {
                match self
                    .forward(&route, Forwarded::Resource(params), &context)
                    .await
                    .map_err(Failure::into_error)?
                {
                    ServerResult::ReadResourceResult(result) => {
                        Ok(ReadResourceResponse::Complete(result))
                    }
                    ServerResult::InputRequiredResult(result) => {
                        Ok(ReadResourceResponse::InputRequired(result))
                    }
                    _ => Err(unexpected(&route, "resources/read")),
                }
            }
            Lookup::Clash(sources) => Err(clash_error("resource", &params.uri, &sources)),
            Lookup::Unavailable(route) => {
                Err(ErrorData::internal_error(route.unavailable_reason(), None))
            }
            Lookup::Unknown => Err(resource_not_found(&params.uri)),
        }
    }

    async fn complete_inner(
        &self,
        mut params: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let access = self.access(&context);
        let referenced = match &params.r#ref {
            Reference::Prompt(prompt) => Some((Kind::Prompt, prompt.name.as_str())),
            Reference::Resource(template) => Some((Kind::Resource, template.uri.as_str())),
            _ => None,
        };
        if let Some((kind, name)) = referenced
            && !access.may_use(kind, name)
        {
            return Err(access.denied(kind, name));
        }
        let catalog = self.gateway.catalog();
        let route = match &mut params.r#ref {
            Reference::Prompt(prompt) => match catalog.prompt(&prompt.name) {
                Lookup::Found(PromptTarget::Upstream(route, original)) => {
                    prompt.name = original;
                    Some(route)
                }
                Lookup::Found(PromptTarget::Declared(_)) => None,
                _ => {
                    return Err(ErrorData::invalid_params(
                        format!("unknown prompt `{}`", prompt.name),
                        None,
                    ));
                }
            },
            Reference::Resource(template) => catalog.template_owner(&template.uri),
            _ => None,
        };
        match route {
            Some(route) if route.supports_completions() => {
                let completed = route
                    .dispatch(Item::Any, |upstream| {
                        let params = params.clone();
                        let downstream = self.downstream(&context);
                        async move { upstream.complete(params, downstream).await }
                    })
                    .await
                    .map_err(Failure::into_error)?;
                match completed {
                    ServerResult::CompleteResult(result) => Ok(result),
                    _ => Err(unexpected(&route, "completion/complete")),
                }
            }
            // Declared prompts and servers without completions offer no suggestions.
            _ => Ok(CompleteResult::new(CompletionInfo::default())),
        }
    }

    fn resource_owner(
        &self,
        uri: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Route>, ErrorData> {
        let access = self.access(context);
        if !access.may_use(Kind::Resource, uri) {
            return Err(access.denied(Kind::Resource, uri));
        }
        match self.gateway.catalog().resource(uri) {
            Lookup::Found(ResourceTarget::Upstream(route)) => Ok(Some(route)),
            // Declared resources never change while a config is loaded; a reload says so via list_changed.
            Lookup::Found(ResourceTarget::Declared(_)) => Ok(None),
            Lookup::Clash(sources) => Err(clash_error("resource", uri, &sources)),
            Lookup::Unavailable(route) => {
                Err(ErrorData::internal_error(route.unavailable_reason(), None))
            }
            Lookup::Unknown => Err(resource_not_found(uri)),
        }
    }
}

/// Whether the request belongs to a session (initialize handshake), which can
/// carry server-to-client requests; stateless requests cannot.
fn in_session(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<http::request::Parts>()
        .is_some_and(|parts| parts.headers.contains_key("mcp-session-id"))
}

fn correlation_id(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CorrelationId>())
        .map(|id| id.0.clone())
        .unwrap_or_default()
}

#[derive(Clone)]
enum Forwarded {
    Tool(CallToolRequestParams),
    Prompt(GetPromptRequestParams),
    Resource(ReadResourceRequestParams),
}

impl Forwarded {
    fn item(&self) -> Item<'_> {
        match self {
            Forwarded::Tool(p) => Item::Tool(&p.name),
            Forwarded::Prompt(p) => Item::Prompt(&p.name),
            Forwarded::Resource(p) => Item::Resource(&p.uri),
        }
    }

    fn retry_with(&mut self, responses: InputResponses, state: Option<String>) {
        match self {
            Forwarded::Tool(p) => {
                p.input_responses = Some(responses);
                p.request_state = state;
            }
            Forwarded::Prompt(p) => {
                p.input_responses = Some(responses);
                p.request_state = state;
            }
            Forwarded::Resource(p) => {
                p.input_responses = Some(responses);
                p.request_state = state;
            }
        }
    }
}

/// Asks a session-based client the questions an upstream returned as an
/// `InputRequiredResult`, as ordinary server-to-client requests. Runs in the
/// request's own task so each request rides the SSE stream of the call.
async fn ask_client(
    context: &RequestContext<RoleServer>,
    requests: InputRequests,
) -> Result<InputResponses, ErrorData> {
    let mut responses = InputResponses::new();
    for (key, request) in requests {
        let request = match request {
            InputRequest::CreateMessage(r) => {
                ServerRequest::CreateMessageRequest(CreateMessageRequest::new(r.params))
            }
            InputRequest::Elicitation(r) => {
                ServerRequest::ElicitRequest(ElicitRequest::new(r.params))
            }
            InputRequest::ListRoots(_) => {
                ServerRequest::ListRootsRequest(ListRootsRequest::default())
            }
            other => {
                return Err(ErrorData::internal_error(
                    format!("the server asked for input the gateway cannot relay: {other:?}"),
                    None,
                ));
            }
        };
        let answer = context
            .peer
            .send_request(request)
            .await
            .map_err(|e| match e {
                rmcp::service::ServiceError::McpError(error) => error,
                other => ErrorData::internal_error(
                    format!("asking the client for input failed: {other}"),
                    None,
                ),
            })?;
        let value = match answer {
            ClientResult::CreateMessageResult(r) => serde_json::to_value(r),
            ClientResult::ElicitResult(r) => serde_json::to_value(r),
            ClientResult::ListRootsResult(r) => serde_json::to_value(r),
            other => serde_json::to_value(other),
        }
        .map_err(|e| {
            ErrorData::internal_error(format!("the client's answer cannot be encoded: {e}"), None)
        })?;
        responses.insert(key, value);
    }
    Ok(responses)
}

fn unexpected(route: &Route, method: &str) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "MCP server {} answered {method} with an unexpected result",
            route.name()
        ),
        None,
    )
}

fn clash_error(kind: &str, name: &str, sources: &[String]) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "{kind} `{name}` is offered by {} and the gateway's naming.onConflict is reject; \
             enable naming.prefix or give the servers distinct prefixes",
            sources.join(" and ")
        ),
        None,
    )
}

fn resource_not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("resource not found: {uri}"),
        Some(serde_json::json!({ "uri": uri })),
    )
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
        tracing::info!(
            request_id = %correlation_id(&context),
            client = %request.client_info.name,
            version = %request.protocol_version,
            "client session starting"
        );
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.gateway.register_session(self.session.id, context.peer);
    }

    /// Lets the transport check `Mcp-Param-*` routing headers against the tool's input schema.
    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.gateway.catalog().tool_definition(name).cloned()
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
            let tools = visible(catalog.tools(), &access, Kind::Tool, |t| &t.name);
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
        let ctx = context.clone();
        self.observe("tools/call", &ctx, self.call_tool_inner(request, context))
            .await
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
        let ctx = context.clone();
        self.observe("prompts/get", &ctx, self.get_prompt_inner(request, context))
            .await
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
        let ctx = context.clone();
        self.observe(
            "resources/read",
            &ctx,
            self.read_resource_inner(request, context),
        )
        .await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let ctx = context.clone();
        self.observe(
            "completion/complete",
            &ctx,
            self.complete_inner(request, context),
        )
        .await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.observe("logging/setLevel", &context, async {
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
            match self.resource_owner(&request.uri, &context)? {
                Some(route) => match route.subscription_holder() {
                    Some(upstream) => upstream
                        .subscribe(request.uri.clone(), self.session.id, context.peer.clone())
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
                    .unsubscribe(request.uri.clone(), self.session.id)
                    .await
                    .map_err(Failure::into_error)?;
            }
            Ok(())
        })
        .await
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .prompts_list_changed()
                .resources_list_changed()
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.gateway.subscribe_changes();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                change = changes.recv() => {
                    let change = match change {
                        Ok(change) => change,
                        // Missed some: tell the client everything may have changed.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            crate::catalog::Changes { tools: true, prompts: true, resources: true }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
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
