//! Forwarding a call to whoever serves the name: a declared item, a
//! federated server, or a group member by the group's strategy (retrying on
//! further members), with the session-era input rounds a call may need.

use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, CompleteRequestParams,
    CompleteResult, CompletionInfo, ContentBlock, CreateMessageRequest, ElicitRequest,
    GetPromptRequestParams, GetPromptResponse, InputRequest, InputRequests, InputResponses,
    ListRootsRequest, ReadResourceRequestParams, ReadResourceResponse, Reference, ServerRequest,
    ServerResult,
};
use rmcp::service::{RequestContext, RoleServer};

use crate::access::Kind;
use crate::audit;
use crate::catalog::{Item, Lookup, PromptTarget, ResourceTarget, Route, ToolTarget};
use crate::upstream::{Downstream, Failure, Upstream};
use crate::uri_template::MAX_URI_BYTES;

/// Most input rounds the gateway drives for a session-based client.
const MAX_INPUT_ROUNDS: usize = 10;

use super::rounds::{InputRounds, RunningCall};
use super::{CorrelationId, GatewayHandler};

impl GatewayHandler {
    /// Forwards a request to its server, or to a group member by the group's
    /// strategy (and to further members when one fails to answer).
    async fn forward(
        &self,
        route: &Route,
        call: Forwarded,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, Failure> {
        let item = call.item();
        audit::note(|trail| trail.upstream = Some(route.name().to_string()));
        if let Some(state) = call.request_state()
            && InputRounds::is_ours(state)
            && !in_session(context)
        {
            // The client answers a question the gateway asked for a 2025-era server.
            let caller = self.access(context).caller.subject.clone();
            let rounds = self.gateway.input_rounds();
            let running = rounds
                .answer(state, &caller, &call.key(), call.input_responses())
                .map_err(Failure::Rpc)?;
            return running.next(rounds, caller, call.key(), &context.ct).await;
        }
        route
            .dispatch(item, |upstream| {
                let call = call.clone();
                async move { self.forward_to(upstream, call, context).await }
            })
            .await
    }

    /// Forwards a request that may need several input rounds. Stateless
    /// clients get the `InputRequiredResult` and drive the rounds themselves;
    /// for session-based clients the gateway asks them over the session and retries.
    async fn forward_to(
        &self,
        upstream: Arc<Upstream>,
        mut call: Forwarded,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, Failure> {
        audit::note(|trail| {
            trail.member = Some(upstream.name().to_string());
            trail.circuit_open = false;
        });
        if !in_session(context) && !upstream.speaks_stateless() {
            // A 2025-era server asks for input with requests, which this client
            // can only take as InputRequiredResult rounds.
            let caller = self.access(context).caller.subject.clone();
            let running = RunningCall::start(upstream, call.clone(), self.downstream(context));
            let rounds = self.gateway.input_rounds();
            return running.next(rounds, caller, call.key(), &context.ct).await;
        }
        for _ in 0..MAX_INPUT_ROUNDS {
            let result = call.send_to(&upstream, self.downstream(context)).await?;
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

    pub(super) async fn call_tool_inner(
        &self,
        params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let access = self.access(context);
        if !access.may_use(Kind::Tool, &params.name) {
            audit::note(|trail| trail.denied = true);
            return Err(access.denied(Kind::Tool, &params.name));
        }
        let catalog = self.gateway.catalog();
        let curated = match catalog.tool(&params.name) {
            Lookup::Found(curated) => curated,
            Lookup::Clash(sources) => return Err(clash_error("tool", &params.name, &sources)),
            Lookup::Unavailable(route) => {
                return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(route.unavailable_reason()),
                ])));
            }
            Lookup::Unknown => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool `{}`", params.name),
                    None,
                ));
            }
        };
        let mut params = params;
        params.arguments = curated.arguments.apply(params.arguments.take());
        match curated.target {
            ToolTarget::Declared(tool) => {
                let result = tool
                    .call(
                        self.gateway.backends(),
                        params.arguments,
                        &access.caller,
                        &correlation_id(context),
                        self.gateway.metrics(),
                    )
                    .await;
                Ok(CallToolResponse::Complete(result))
            }
            ToolTarget::Upstream(route, original) => {
                params.name = original.into();
                // Boxed: inline, forwarding's state would make every
                // declared call's future (moved on each layer) as large.
                let forwarded =
                    super::boxed_work(self.forward(&route, Forwarded::Tool(params), context));
                match forwarded.await {
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
        }
    }

    pub(super) async fn get_prompt_inner(
        &self,
        params: GetPromptRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let access = self.access(context);
        if !access.may_use(Kind::Prompt, &params.name) {
            audit::note(|trail| trail.denied = true);
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
                    .forward(&route, Forwarded::Prompt(params), context)
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

    pub(super) async fn read_resource_inner(
        &self,
        params: ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        refuse_overlong_uri(&params.uri)?;
        let access = self.access(context);
        if !access.may_use(Kind::Resource, &params.uri) {
            audit::note(|trail| trail.denied = true);
            return Err(access.denied(Kind::Resource, &params.uri));
        }
        let catalog = self.gateway.catalog();
        match catalog.resource(&params.uri) {
            Lookup::Found(ResourceTarget::Declared(resource)) => resource
                .read(self.gateway.backends(), &correlation_id(context))
                .await
                .map(ReadResourceResponse::Complete),
            Lookup::Found(ResourceTarget::Upstream(route)) => {
                match self
                    .forward(&route, Forwarded::Resource(params), context)
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

    pub(super) async fn complete_inner(
        &self,
        mut params: CompleteRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let access = self.access(context);
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
                        let downstream = self.downstream(context);
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

    pub(super) fn resource_owner(
        &self,
        uri: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Route>, ErrorData> {
        refuse_overlong_uri(uri)?;
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
pub(super) fn in_session(context: &RequestContext<RoleServer>) -> bool {
    session_id(context).is_some()
}

/// The request's `Mcp-Session-Id`, if it has one.
pub(super) fn session_id(context: &RequestContext<RoleServer>) -> Option<&str> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
}

pub(super) fn correlation_id(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CorrelationId>())
        .map(|id| id.0.clone())
        .unwrap_or_default()
}

#[derive(Clone)]
pub(super) enum Forwarded {
    Tool(CallToolRequestParams),
    Prompt(GetPromptRequestParams),
    Resource(ReadResourceRequestParams),
}

impl Forwarded {
    /// Sends the request to `upstream` for the client call `downstream`.
    pub(super) async fn send_to(
        &self,
        upstream: &Upstream,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        match self {
            Forwarded::Tool(p) => upstream.call_tool(p.clone(), downstream).await,
            Forwarded::Prompt(p) => upstream.get_prompt(p.clone(), downstream).await,
            Forwarded::Resource(p) => upstream.read_resource(p.clone(), downstream).await,
        }
    }

    /// What is called, as a waiting input round remembers it.
    fn key(&self) -> String {
        match self {
            Forwarded::Tool(p) => format!("tool {}", p.name),
            Forwarded::Prompt(p) => format!("prompt {}", p.name),
            Forwarded::Resource(p) => format!("resource {}", p.uri),
        }
    }

    fn request_state(&self) -> Option<&str> {
        match self {
            Forwarded::Tool(p) => p.request_state.as_deref(),
            Forwarded::Prompt(p) => p.request_state.as_deref(),
            Forwarded::Resource(p) => p.request_state.as_deref(),
        }
    }

    fn input_responses(&self) -> Option<&InputResponses> {
        match self {
            Forwarded::Tool(p) => p.input_responses.as_ref(),
            Forwarded::Prompt(p) => p.input_responses.as_ref(),
            Forwarded::Resource(p) => p.input_responses.as_ref(),
        }
    }

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

pub(super) fn unexpected(route: &Route, method: &str) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "MCP server {} answered {method} with an unexpected result",
            route.name()
        ),
        None,
    )
}

pub(super) fn clash_error(kind: &str, name: &str, sources: &[String]) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "{kind} `{name}` is offered by {} and the gateway's naming.onConflict is reject; \
             enable naming.prefix or give the servers distinct prefixes",
            sources.join(" and ")
        ),
        None,
    )
}

pub(super) fn resource_not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("resource not found: {uri}"),
        Some(serde_json::json!({ "uri": uri })),
    )
}

fn refuse_overlong_uri(uri: &str) -> Result<(), ErrorData> {
    if uri.len() > MAX_URI_BYTES {
        return Err(ErrorData::invalid_params(
            format!(
                "the resource URI is {} bytes long; this gateway accepts URIs of at most {MAX_URI_BYTES} bytes",
                uri.len()
            ),
            None,
        ));
    }
    Ok(())
}
