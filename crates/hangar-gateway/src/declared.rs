//! Declared items: tools backed by one HTTP request (MCPTool), prompt
//! templates (MCPPrompt) and resources served inline or over HTTP (MCPResource).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, header};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptResult, JsonObject, Prompt, PromptArgument,
    PromptMessage, ReadResourceResult, Resource, ResourceContents, Role, Tool, ToolAnnotations,
};
use serde_json::{Map, Value};

use crate::access::Caller;
use crate::backend_http::{BackendHttp, Failure, Outgoing, replace_headers};
use crate::metrics::Metrics;
use crate::outbound::Credentials;
use crate::placement::{Placement, scalar_text};
use hangar_config::{
    Environment, GatewayConfig, HttpMethod, NameValue, PromptSpec, ResourceSpec, ToolSpec,
};
use hangar_mcp_client::CallCredentials;

/// All declared items of one config, ready to serve.
pub struct Declared {
    pub tools: Vec<Arc<DeclaredTool>>,
    pub prompts: Vec<Arc<DeclaredPrompt>>,
    pub resources: Vec<Arc<DeclaredResource>>,
}

impl Declared {
    /// Resolves headers and compiles schemas; fails on anything that would only break at call time.
    pub fn build(
        config: &GatewayConfig,
        environment: &Environment,
        http: &reqwest::Client,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let default_timeout = config.gateway.default_timeout.0;
        let tools = config
            .tools
            .iter()
            .filter_map(|spec| {
                DeclaredTool::build(spec, default_timeout, environment, http)
                    .map_err(|why| problems.push(format!("tool {}: {why}", spec.name)))
                    .ok()
                    .map(Arc::new)
            })
            .collect();
        let prompts = config
            .prompts
            .iter()
            .map(|spec| Arc::new(DeclaredPrompt::build(spec)))
            .collect();
        let resources = config
            .resources
            .iter()
            .filter_map(|spec| {
                DeclaredResource::build(spec, default_timeout, environment)
                    .map_err(|why| problems.push(format!("resource {}: {why}", spec.uri)))
                    .ok()
                    .map(Arc::new)
            })
            .collect();
        if problems.is_empty() {
            Ok(Self {
                tools,
                prompts,
                resources,
            })
        } else {
            Err(problems)
        }
    }
}

/// Configured headers with their values resolved, as a header map whose values stay out of debug output.
pub fn header_map(values: &[NameValue], environment: &Environment) -> Result<HeaderMap, String> {
    let resolved = values
        .iter()
        .map(|value| Ok((value.name.as_str(), value.resolve(environment)?)))
        .collect::<Result<Vec<_>, String>>()?;
    hangar_mcp_client::header_map(resolved.iter().map(|(name, value)| (*name, value.as_str())))
}

/// A tool whose call is one HTTP request to its backend.
pub struct DeclaredTool {
    pub tool: Tool,
    placement: Placement,
    method: HttpMethod,
    headers: HeaderMap,
    /// Tokens and identity headers beyond the static headers (`auth`).
    credentials: Option<Credentials>,
    timeout: Duration,
    input: Option<jsonschema::Validator>,
    output: Option<jsonschema::Validator>,
}

impl DeclaredTool {
    fn build(
        spec: &ToolSpec,
        default_timeout: Duration,
        environment: &Environment,
        http: &reqwest::Client,
    ) -> Result<Self, String> {
        let input_schema = spec.input_schema.clone().unwrap_or_else(|| {
            let mut schema = Map::new();
            schema.insert("type".into(), "object".into());
            schema
        });
        let compile = |schema: &JsonObject| {
            jsonschema::validator_for(&Value::Object(schema.clone())).map_err(|e| e.to_string())
        };
        let input = Some(compile(&input_schema)?);
        let output = spec.output_schema.as_ref().map(compile).transpose()?;
        let mut tool = Tool::new(
            spec.name.clone(),
            spec.description.clone().unwrap_or_default(),
            Arc::new(input_schema),
        );
        if spec.description.is_none() {
            tool.description = None;
        }
        if let Some(title) = &spec.title {
            tool = tool.with_title(title.clone());
        }
        if let Some(schema) = &spec.output_schema {
            tool = tool.with_raw_output_schema(Arc::new(schema.clone()));
        }
        if let Some(a) = &spec.annotations {
            tool = tool.with_annotations(ToolAnnotations::from_raw(
                a.title.clone(),
                a.read_only_hint,
                a.destructive_hint,
                a.idempotent_hint,
                a.open_world_hint,
            ));
        }
        Ok(Self {
            tool,
            placement: Placement::new(&spec.backend)?,
            method: spec.backend.method,
            headers: header_map(&spec.backend.headers, environment)?,
            credentials: spec.auth.as_ref().map(|auth| {
                Credentials::new(
                    format!("the backend of tool {}", spec.name),
                    auth,
                    http.clone(),
                    environment,
                )
            }),
            timeout: spec.backend.timeout.map_or(default_timeout, |t| t.0),
            input,
            output,
        })
    }

    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// Runs the tool. Every failure is a tool error (`isError`), so a client
    /// (or model) can read what went wrong; nothing here hangs past the timeout.
    pub async fn call(
        &self,
        backends: &BackendHttp,
        arguments: Option<JsonObject>,
        caller: &Caller,
        request_id: &str,
        metrics: &Metrics,
    ) -> CallToolResult {
        let arguments = Value::Object(arguments.unwrap_or_default());
        if let Some(validator) = &self.input {
            let errors: Vec<String> = validator
                .iter_errors(&arguments)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() {
                        e.to_string()
                    } else {
                        format!("{at}: {e}")
                    }
                })
                .collect();
            if !errors.is_empty() {
                metrics.backend_error(self.name(), "invalid_arguments");
                return tool_error(format!(
                    "invalid arguments for tool {}: {}",
                    self.name(),
                    errors.join("; ")
                ));
            }
        }
        let Value::Object(arguments) = arguments else {
            return tool_error(format!("tool {}: arguments must be an object", self.name()));
        };
        let placed = match self.placement.place(arguments) {
            Ok(placed) => placed,
            Err(why) => {
                metrics.backend_error(self.name(), "invalid_arguments");
                return tool_error(format!("invalid arguments for tool {}: {why}", self.name()));
            }
        };
        let credentials = match self.credentials_for(caller).await {
            Ok(credentials) => credentials,
            Err(why) => {
                metrics.backend_error(self.name(), "no_credentials");
                return tool_error(format!(
                    "tool {}: the gateway has no credentials for its backend: {why}",
                    self.name()
                ));
            }
        };
        let mut headers = self.headers.clone();
        replace_headers(&mut headers, &credentials.headers);
        for (name, value) in placed.headers {
            headers.append(name, value);
        }
        if let Some(token) = &credentials.token {
            match HeaderValue::try_from(format!("Bearer {token}")) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    headers.append(header::AUTHORIZATION, value);
                }
                Err(_) => {
                    metrics.backend_error(self.name(), "no_credentials");
                    return tool_error(format!(
                        "tool {}: the token for its backend cannot be sent in a header",
                        self.name()
                    ));
                }
            }
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.append("x-request-id", id);
        }
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/plain;q=0.9, */*;q=0.8"),
        );
        let json = placed.body.map(|body| {
            serde_json::to_vec(&body)
                .expect("a JSON value serialises")
                .into()
        });
        let outgoing = Outgoing {
            method: http_method(self.method),
            url: placed.url,
            headers,
            json,
            timeout: self.timeout,
        };
        let answer = match backends.send(outgoing).await {
            Ok(answer) => answer,
            Err(Failure::Timeout) => return self.timed_out(metrics),
            Err(Failure::Unreachable(why)) => {
                metrics.backend_error(self.name(), "unreachable");
                return tool_error(format!(
                    "the backend of tool {} is unreachable: {why}",
                    self.name()
                ));
            }
            Err(Failure::Body(why)) => {
                metrics.backend_error(self.name(), "bad_response");
                return tool_error(format!(
                    "reading the response of tool {} failed: {why}",
                    self.name()
                ));
            }
        };
        let status = answer.status;
        let content_type = answer
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        // RFC 9728: a refusal that says what the backend wants.
        let challenge = matches!(status.as_u16(), 401 | 403)
            .then(|| answer.headers.get(header::WWW_AUTHENTICATE))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = answer.body;
        if let Some(challenge) = challenge {
            metrics.backend_error(self.name(), "refused");
            return tool_error(
                hangar_mcp_client::refusal_words(
                    backends.full(),
                    &format!("the backend of tool {}", self.name()),
                    status.as_u16(),
                    &challenge,
                    "the MCPTool spec.auth",
                )
                .await,
            );
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            metrics.backend_error(self.name(), "http_status");
            return tool_error(format!(
                "the backend of tool {} answered HTTP {}: {}",
                self.name(),
                status,
                truncate(&text, 1000)
            ));
        }
        let json = if content_type.contains("json") || content_type.is_empty() {
            serde_json::from_slice::<Value>(&body).ok()
        } else {
            None
        };
        match (json, &self.output) {
            (Some(Value::Object(object)), output) => {
                let value = Value::Object(object);
                if let Some(validator) = output
                    && let Err(e) = validator.validate(&value)
                {
                    metrics.backend_error(self.name(), "output_schema");
                    return tool_error(format!(
                        "the backend of tool {} answered with data that does not match its outputSchema: {e}",
                        self.name()
                    ));
                }
                let mut result = CallToolResult::structured(value);
                // Keep the body as sent, not re-serialised, for clients that only read text.
                result.content = vec![ContentBlock::text(text)];
                result
            }
            (_, Some(_)) => {
                metrics.backend_error(self.name(), "output_schema");
                tool_error(format!(
                    "the backend of tool {} declares an outputSchema but did not answer with a JSON object",
                    self.name()
                ))
            }
            (_, None) => CallToolResult::success(vec![ContentBlock::text(text)]),
        }
    }

    /// The token and headers a call for `caller` carries beyond the static headers.
    async fn credentials_for(&self, caller: &Caller) -> Result<CallCredentials, String> {
        let Some(credentials) = &self.credentials else {
            return Ok(CallCredentials::default());
        };
        match credentials.for_call(caller).await? {
            Some(call) => Ok(call),
            None => Ok(CallCredentials {
                token: Some(credentials.own_token().await?),
                headers: Default::default(),
            }),
        }
    }

    fn timed_out(&self, metrics: &Metrics) -> CallToolResult {
        metrics.backend_error(self.name(), "timeout");
        tool_error(format!(
            "the backend of tool {} did not answer within {}",
            self.name(),
            hangar_config::DurationSpec(self.timeout)
        ))
    }
}

pub fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn http_method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    }
}

/// Replaces each `{{name}}` with its value (missing optional arguments become empty).
pub fn render(template: &str, value_of: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        out.push_str(&value_of(after[..end].trim()).unwrap_or_default());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A prompt template.
pub struct DeclaredPrompt {
    pub prompt: Prompt,
    spec: PromptSpec,
}

impl DeclaredPrompt {
    fn build(spec: &PromptSpec) -> Self {
        let arguments = spec
            .arguments
            .iter()
            .map(|a| {
                let mut argument = PromptArgument::new(a.name.clone()).with_required(a.required);
                if let Some(title) = &a.title {
                    argument = argument.with_title(title.clone());
                }
                if let Some(description) = &a.description {
                    argument = argument.with_description(description.clone());
                }
                argument
            })
            .collect::<Vec<_>>();
        let mut prompt = Prompt::new(
            spec.name.clone(),
            spec.description.clone(),
            (!arguments.is_empty()).then_some(arguments),
        );
        if let Some(title) = &spec.title {
            prompt = prompt.with_title(title.clone());
        }
        Self {
            prompt,
            spec: spec.clone(),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Renders the prompt; a missing required argument is an invalid-params error.
    pub fn get(&self, arguments: Option<JsonObject>) -> Result<GetPromptResult, ErrorData> {
        let arguments = arguments.unwrap_or_default();
        let missing: Vec<&str> = self
            .spec
            .arguments
            .iter()
            .filter(|a| a.required && arguments.get(&a.name).is_none_or(Value::is_null))
            .map(|a| a.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(ErrorData::invalid_params(
                format!(
                    "prompt {} is missing required argument(s): {}",
                    self.spec.name,
                    missing.join(", ")
                ),
                Some(serde_json::json!({ "missing": missing })),
            ));
        }
        let value_of = |name: &str| {
            arguments
                .get(name)
                .filter(|v| !v.is_null())
                .map(scalar_text)
        };
        let messages = self
            .spec
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    hangar_config::Role::User => Role::User,
                    hangar_config::Role::Assistant => Role::Assistant,
                };
                PromptMessage::new_text(role, render(&m.text, value_of))
            })
            .collect();
        let mut result = GetPromptResult::new(messages);
        if let Some(description) = &self.spec.description {
            result = result.with_description(description.clone());
        }
        Ok(result)
    }
}

enum ResourceSource {
    Text(String),
    Blob(String),
    Http {
        url: url::Url,
        method: HttpMethod,
        headers: HeaderMap,
        timeout: Duration,
    },
}

/// A resource with fixed content or an HTTP source.
pub struct DeclaredResource {
    pub resource: Resource,
    source: ResourceSource,
}

impl DeclaredResource {
    fn build(
        spec: &ResourceSpec,
        default_timeout: Duration,
        environment: &Environment,
    ) -> Result<Self, String> {
        let mut resource = Resource::new(spec.uri.clone(), spec.name.clone());
        if let Some(title) = &spec.title {
            resource = resource.with_title(title.clone());
        }
        if let Some(description) = &spec.description {
            resource = resource.with_description(description.clone());
        }
        if let Some(mime) = &spec.mime_type {
            resource = resource.with_mime_type(mime.clone());
        }
        let source = match (&spec.text, &spec.blob, &spec.http) {
            (Some(text), None, None) => {
                resource = resource.with_size(text.len() as u64);
                ResourceSource::Text(text.clone())
            }
            (None, Some(blob), None) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .map_err(|_| "blob is not valid base64".to_string())?;
                resource = resource.with_size(bytes.len() as u64);
                ResourceSource::Blob(blob.clone())
            }
            (None, None, Some(http)) => ResourceSource::Http {
                url: url::Url::parse(&http.url).map_err(|e| format!("http.url: {e}"))?,
                method: http.method,
                headers: header_map(&http.headers, environment)?,
                timeout: http.timeout.map_or(default_timeout, |t| t.0),
            },
            _ => return Err("set exactly one of text, blob and http".into()),
        };
        Ok(Self { resource, source })
    }

    pub fn uri(&self) -> &str {
        &self.resource.uri
    }

    pub async fn read(
        &self,
        backends: &BackendHttp,
        request_id: &str,
    ) -> Result<ReadResourceResult, ErrorData> {
        let uri = self.uri();
        let configured_mime = self.resource.mime_type.clone();
        let contents = match &self.source {
            ResourceSource::Text(text) => {
                let contents = ResourceContents::text(text.clone(), uri);
                with_mime(contents, configured_mime.or(Some("text/plain".into())))
            }
            ResourceSource::Blob(blob) => {
                let contents = ResourceContents::blob(blob.clone(), uri);
                with_mime(
                    contents,
                    configured_mime.or(Some("application/octet-stream".into())),
                )
            }
            ResourceSource::Http {
                url,
                method,
                headers,
                timeout,
            } => {
                let mut headers = headers.clone();
                if let Ok(id) = HeaderValue::from_str(request_id) {
                    headers.append("x-request-id", id);
                }
                let outgoing = Outgoing {
                    method: http_method(*method),
                    url: url.clone(),
                    headers,
                    json: None,
                    timeout: *timeout,
                };
                let answer = backends.send(outgoing).await.map_err(|failure| {
                    let why = match failure {
                        Failure::Timeout => format!(
                            "the source of resource {uri} did not answer within {}",
                            hangar_config::DurationSpec(*timeout)
                        ),
                        Failure::Unreachable(why) => {
                            format!("the source of resource {uri} is unreachable: {why}")
                        }
                        Failure::Body(why) => format!("reading resource {uri} failed: {why}"),
                    };
                    ErrorData::internal_error(why, None)
                })?;
                let status = answer.status;
                let served_mime = answer
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
                let body = answer.body.to_vec();
                if !status.is_success() {
                    return Err(ErrorData::internal_error(
                        format!(
                            "the source of resource {uri} answered HTTP {status}: {}",
                            truncate(&String::from_utf8_lossy(&body), 500)
                        ),
                        None,
                    ));
                }
                let mime = configured_mime.or(served_mime);
                let textual = mime.as_deref().is_none_or(is_textual);
                match String::from_utf8(body) {
                    Ok(text) if textual => with_mime(ResourceContents::text(text, uri), mime),
                    Ok(text) => with_mime(
                        ResourceContents::blob(
                            base64::engine::general_purpose::STANDARD.encode(text),
                            uri,
                        ),
                        mime,
                    ),
                    Err(bytes) => with_mime(
                        ResourceContents::blob(
                            base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes()),
                            uri,
                        ),
                        mime,
                    ),
                }
            }
        };
        Ok(ReadResourceResult::new(vec![contents]))
    }
}

fn with_mime(contents: ResourceContents, mime: Option<String>) -> ResourceContents {
    match mime {
        Some(mime) => contents.with_mime_type(mime),
        None => contents,
    }
}

fn is_textual(mime: &str) -> bool {
    let mime = mime.to_ascii_lowercase();
    mime.starts_with("text/")
        || [
            "json",
            "xml",
            "yaml",
            "javascript",
            "toml",
            "csv",
            "markdown",
        ]
        .iter()
        .any(|t| mime.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render() {
        let out = render("Hi {{ name }}, you are {{age}}{{missing}}.", |n| match n {
            "name" => Some("Ada".into()),
            "age" => Some("36".into()),
            _ => None,
        });
        assert_eq!(out, "Hi Ada, you are 36.");
        assert_eq!(render("no placeholders {{", |_| None), "no placeholders {{");
    }

    #[test]
    fn prompt_requires_its_required_arguments() {
        let spec: PromptSpec = serde_json::from_value(serde_json::json!({
            "name": "greet",
            "arguments": [{"name": "who", "required": true}, {"name": "mood"}],
            "messages": [{"text": "Greet {{who}} {{mood}}"}, {"role": "assistant", "text": "ok"}]
        }))
        .unwrap();
        let prompt = DeclaredPrompt::build(&spec);
        let err = prompt.get(None).unwrap_err();
        assert_eq!(err.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        assert!(err.message.contains("who"), "{}", err.message);
        let mut args = JsonObject::new();
        args.insert("who".into(), "Ada".into());
        let result = prompt.get(Some(args)).unwrap();
        let json = serde_json::to_value(&result.messages).unwrap();
        assert_eq!(json[0]["content"]["text"], "Greet Ada ");
        assert_eq!(json[1]["role"], "assistant");
    }
}
