//! A fixture upstream MCP server written for these tests from the
//! conformance suite's scenario descriptions (tool, prompt and resource names
//! and behaviours), plus a few tools the federation tests need. It is served
//! over Streamable HTTP and speaks both protocol eras; the gateway reaches it
//! with the stateless 2026-07-28 lifecycle, so input it needs from the client
//! is asked for with `InputRequiredResult`.
//!
//! Long on purpose: one server holds every scenario the suites name, so each
//! test reaches the same upstream.

#![allow(
    deprecated,
    reason = "logging is part of the protocol revisions under test"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext, SubscriptionSink};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Value, json};
use sha2::Digest;

pub const RED_PIXEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A valid, empty 8 kHz mono WAV file.
pub const SILENT_WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";
const STATE_KEY: &str = "fixture-request-state-key";

/// Shared state of one fixture server (all its sessions and requests).
#[derive(Default)]
pub struct FixtureState {
    extra_tools: Mutex<Vec<String>>,
    extra_prompts: Mutex<Vec<String>>,
    listeners: Mutex<Vec<SubscriptionSink>>,
    /// Session-based clients, which hear list changes without subscribing.
    sessions: Mutex<Vec<rmcp::Peer<RoleServer>>>,
    /// Number of extra `bulk_N` tools, for pagination tests.
    pub bulk_tools: Mutex<usize>,
    /// Tool calls seen, by name (for assertions).
    pub calls: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct Fixture {
    pub state: Arc<FixtureState>,
    name: &'static str,
}

impl Fixture {
    pub fn new(state: Arc<FixtureState>, name: &'static str) -> Self {
        Self { state, name }
    }

    fn tools(&self) -> Vec<Tool> {
        let empty = json!({"type": "object", "properties": {}});
        let mut tools: Vec<Value> = vec![
            json!({"name": "test_simple_text", "description": "Returns simple text", "inputSchema": empty}),
            json!({"name": "test_image_content", "description": "Returns an image", "inputSchema": empty}),
            json!({"name": "test_audio_content", "description": "Returns audio", "inputSchema": empty}),
            json!({"name": "test_embedded_resource", "description": "Returns an embedded resource", "inputSchema": empty}),
            json!({"name": "test_multiple_content_types", "description": "Returns mixed content", "inputSchema": empty}),
            json!({"name": "test_tool_with_logging", "description": "Logs while running", "inputSchema": empty}),
            json!({"name": "test_logging_tool", "description": "Logs only when asked to", "inputSchema": empty}),
            json!({"name": "test_error_handling", "description": "Always fails", "inputSchema": empty}),
            json!({"name": "test_tool_with_progress", "description": "Reports progress", "inputSchema": empty}),
            json!({"name": "test_sampling", "description": "Asks the client's model",
                   "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}}),
            json!({"name": "test_elicitation", "description": "Asks the user",
                   "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}}),
            json!({"name": "test_elicitation_sep1034_defaults", "description": "Elicitation with defaults", "inputSchema": empty}),
            json!({"name": "test_elicitation_sep1330_enums", "description": "Elicitation with enums", "inputSchema": empty}),
            json!({"name": "json_schema_2020_12_tool", "description": "Tool with JSON Schema 2020-12 features",
                   "inputSchema": json_schema_2020_12()}),
            json!({"name": "test_missing_capability", "description": "Needs the sampling capability", "inputSchema": empty}),
            json!({"name": "test_streaming_elicitation", "description": "Asks for input while streaming", "inputSchema": empty}),
            json!({"name": "test_trigger_tool_change", "description": "Adds a tool", "inputSchema": empty}),
            json!({"name": "test_trigger_prompt_change", "description": "Adds a prompt", "inputSchema": empty}),
            json!({"name": "test_input_required_result_elicitation", "description": "MRTR elicitation", "inputSchema": empty}),
            json!({"name": "test_input_required_result_sampling", "description": "MRTR sampling", "inputSchema": empty}),
            json!({"name": "test_input_required_result_list_roots", "description": "MRTR roots", "inputSchema": empty}),
            json!({"name": "test_input_required_result_request_state", "description": "MRTR with state", "inputSchema": empty}),
            json!({"name": "test_input_required_result_multiple_inputs", "description": "MRTR several inputs", "inputSchema": empty}),
            json!({"name": "test_input_required_result_multi_round", "description": "MRTR several rounds", "inputSchema": empty}),
            json!({"name": "test_input_required_result_tampered_state", "description": "MRTR signed state", "inputSchema": empty}),
            json!({"name": "test_input_required_result_capabilities", "description": "MRTR by capability", "inputSchema": empty}),
            json!({"name": "test_header_param", "description": "Routes on a header parameter",
                   "inputSchema": {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}, "required": ["region"]}}),
            json!({"name": "echo", "description": "Echoes its text",
                   "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}),
            json!({"name": "sleep", "description": "Sleeps for `ms` milliseconds",
                   "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer"}}, "required": ["ms"]}}),
        ];
        for name in self.state.extra_tools.lock().unwrap().iter() {
            tools.push(
                json!({"name": name, "description": "Added at runtime", "inputSchema": empty}),
            );
        }
        for i in 0..*self.state.bulk_tools.lock().unwrap() {
            tools.push(json!({"name": format!("bulk_{i:04}"), "description": "One of many", "inputSchema": empty}));
        }
        tools
            .into_iter()
            .map(|t| serde_json::from_value(t).unwrap())
            .collect()
    }

    fn prompts(&self) -> Vec<Prompt> {
        let mut prompts = vec![
            json!({"name": "test_simple_prompt", "description": "A simple prompt"}),
            json!({"name": "test_prompt_with_arguments", "description": "A prompt with arguments", "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}]}),
            json!({"name": "test_prompt_with_embedded_resource", "description": "A prompt with a resource", "arguments": [
                {"name": "resourceUri", "description": "URI of the resource to embed", "required": true}]}),
            json!({"name": "test_prompt_with_image", "description": "A prompt with an image"}),
            json!({"name": "test_input_required_result_prompt", "description": "A prompt that needs input"}),
        ];
        for name in self.state.extra_prompts.lock().unwrap().iter() {
            prompts.push(json!({"name": name, "description": "Added at runtime"}));
        }
        prompts
            .into_iter()
            .map(|p| serde_json::from_value(p).unwrap())
            .collect()
    }

    async fn broadcast(&self, tools: bool) {
        let listeners: Vec<SubscriptionSink> = self.state.listeners.lock().unwrap().clone();
        for sink in listeners {
            let _ = if tools {
                sink.notify_tool_list_changed().await
            } else {
                sink.notify_prompt_list_changed().await
            };
        }
        let sessions: Vec<rmcp::Peer<RoleServer>> = self.state.sessions.lock().unwrap().clone();
        for peer in sessions {
            let _ = if tools {
                peer.notify_tool_list_changed().await
            } else {
                peer.notify_prompt_list_changed().await
            };
        }
    }
}

fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                              "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    })
}

fn text(t: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(t)])
}

fn input_required(requests: Value, state: Option<String>) -> CallToolResponse {
    let mut result = json!({"resultType": "input_required", "inputRequests": requests});
    if let Some(state) = state {
        result["requestState"] = state.into();
    }
    CallToolResponse::InputRequired(serde_json::from_value(result).unwrap())
}

fn elicit(message: &str, schema: Value) -> Value {
    json!({"method": "elicitation/create", "params": {"message": message, "requestedSchema": schema}})
}

fn sample(prompt: &str, max_tokens: u32) -> Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}], "maxTokens": max_tokens}})
}

fn roots() -> Value {
    json!({"method": "roots/list", "params": {}})
}

fn sign(payload: &str) -> String {
    let mac = hex::encode(sha2::Sha256::digest(format!("{STATE_KEY}:{payload}")));
    format!(
        "{}.{mac}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    )
}

fn verify(state: &str) -> Option<String> {
    let (payload, mac) = state.split_once('.')?;
    let payload = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()?;
    (sign(&payload).ends_with(mac)).then_some(payload)
}

fn response<'a>(params: &'a CallToolRequestParams, key: &str) -> Option<&'a Value> {
    params
        .input_responses
        .as_ref()?
        .get(key)
        .filter(|v| v.is_object())
}

fn elicited_text(value: &Value) -> String {
    format!(
        "action={}, content={}",
        value["action"].as_str().unwrap_or("?"),
        value.get("content").cloned().unwrap_or(Value::Null)
    )
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        let capabilities: ServerCapabilities = serde_json::from_value(json!({
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"listChanged": true, "subscribe": true},
            "completions": {},
            "logging": {},
        }))
        .unwrap();
        ServerConfig::new(capabilities).with_server_info(Implementation::new(self.name, "1.0.0"))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Pages of 50, so the gateway has to follow cursors upstream too.
        let tools = self.tools();
        let start: usize = request
            .and_then(|r| r.cursor)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
            .min(tools.len());
        let end = (start + 50).min(tools.len());
        let mut result = ListToolsResult::with_all_items(tools[start..end].to_vec());
        if end < tools.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.state
            .calls
            .lock()
            .unwrap()
            .push(params.name.to_string());
        let args = params.arguments.clone().unwrap_or_default();
        let caps = context.client_capabilities().unwrap_or_default();
        let result = match params.name.as_ref() {
            "test_simple_text" => text("This is a simple text response for testing."),
            "test_image_content" => {
                CallToolResult::success(vec![ContentBlock::image(RED_PIXEL_PNG, "image/png")])
            }
            "test_audio_content" => {
                CallToolResult::success(vec![ContentBlock::audio(SILENT_WAV, "audio/wav")])
            }
            "test_embedded_resource" => CallToolResult::success(vec![ContentBlock::resource(
                ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                )
                .with_mime_type("text/plain"),
            )]),
            "test_multiple_content_types" => CallToolResult::success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(RED_PIXEL_PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        r#"{"test":"data","value":123}"#,
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ]),
            "test_tool_with_logging" | "test_logging_tool" => {
                // Stateless requests get logs only when they ask for them.
                let stateless = context.meta.protocol_version().is_some();
                if !stateless || context.meta.log_level().is_some() {
                    for (i, message) in [
                        "Tool execution started",
                        "Tool processing data",
                        "Tool execution completed",
                    ]
                    .iter()
                    .enumerate()
                    {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        let _ = context
                            .peer
                            .notify_logging_message(LoggingMessageNotificationParam::new(
                                LoggingLevel::Info,
                                json!(message),
                            ))
                            .await;
                    }
                }
                text("Tool with logging executed successfully")
            }
            "test_error_handling" => CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )]),
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if let Some(token) = &token {
                        let _ = context
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(token.clone(), progress)
                                    .with_total(100.0),
                            )
                            .await;
                    }
                }
                text("Tool with progress executed successfully")
            }
            "test_sampling" => match response(&params, "sampling") {
                Some(answer) => text(format!(
                    "LLM response: {}",
                    answer["content"]["text"].as_str().unwrap_or_default()
                )),
                None => {
                    let prompt = args
                        .get("prompt")
                        .and_then(Value::as_str)
                        .unwrap_or("Hello");
                    return Ok(input_required(
                        json!({"sampling": sample(prompt, 100)}),
                        None,
                    ));
                }
            },
            "test_elicitation" => match response(&params, "elicitation") {
                Some(answer) => text(format!("User response: {}", elicited_text(answer))),
                None => {
                    let message = args
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("Please provide your information");
                    let schema = json!({"type": "object", "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}},
                        "required": ["username", "email"]});
                    return Ok(input_required(
                        json!({"elicitation": elicit(message, schema)}),
                        None,
                    ));
                }
            },
            "test_elicitation_sep1034_defaults" => match response(&params, "defaults") {
                Some(answer) => text(format!("Elicitation completed: {}", elicited_text(answer))),
                None => {
                    let schema = json!({"type": "object", "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "description": "Verification status", "default": true}}});
                    return Ok(input_required(
                        json!({"defaults": elicit("Please review the defaults", schema)}),
                        None,
                    ));
                }
            },
            "test_elicitation_sep1330_enums" => match response(&params, "enums") {
                Some(answer) => text(format!("Elicitation completed: {}", elicited_text(answer))),
                None => {
                    let schema = json!({"type": "object", "properties": {
                        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"}]},
                        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                                       "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"}]}}}});
                    return Ok(input_required(
                        json!({"enums": elicit("Pick some options", schema)}),
                        None,
                    ));
                }
            },
            "json_schema_2020_12_tool" => text(format!("received {}", Value::Object(args))),
            "test_missing_capability" => {
                if caps.sampling.is_none() {
                    let required: ClientCapabilities =
                        serde_json::from_value(json!({"sampling": {}})).unwrap();
                    return Err(ErrorData::missing_required_client_capability(required));
                }
                text("sampling is available")
            }
            "test_streaming_elicitation" => match response(&params, "confirm") {
                Some(answer) => text(format!("confirmed: {}", elicited_text(answer))),
                None => {
                    let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
                    return Ok(input_required(
                        json!({"confirm": elicit("Continue?", schema)}),
                        None,
                    ));
                }
            },
            "test_trigger_tool_change" => {
                let name = {
                    let mut tools = self.state.extra_tools.lock().unwrap();
                    let name = format!("dynamic_tool_{}", tools.len() + 1);
                    tools.push(name.clone());
                    name
                };
                self.broadcast(true).await;
                text(format!("added tool {name}"))
            }
            "test_trigger_prompt_change" => {
                let name = {
                    let mut prompts = self.state.extra_prompts.lock().unwrap();
                    let name = format!("dynamic_prompt_{}", prompts.len() + 1);
                    prompts.push(name.clone());
                    name
                };
                self.broadcast(false).await;
                text(format!("added prompt {name}"))
            }
            "test_input_required_result_elicitation" => match response(&params, "user_name") {
                Some(answer) => text(format!(
                    "Hello, {}!",
                    answer["content"]["name"].as_str().unwrap_or("stranger")
                )),
                None => {
                    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
                    return Ok(input_required(
                        json!({"user_name": elicit("What is your name?", schema)}),
                        None,
                    ));
                }
            },
            "test_input_required_result_sampling" => match response(&params, "capital_question") {
                Some(answer) => text(format!(
                    "The model said: {}",
                    answer["content"]["text"].as_str().unwrap_or_default()
                )),
                None => {
                    return Ok(input_required(
                        json!({"capital_question": sample("What is the capital of France?", 100)}),
                        None,
                    ));
                }
            },
            "test_input_required_result_list_roots" => match response(&params, "client_roots") {
                Some(answer) => text(format!("roots: {}", answer["roots"])),
                None => return Ok(input_required(json!({"client_roots": roots()}), None)),
            },
            "test_input_required_result_request_state" => {
                match (
                    response(&params, "confirm"),
                    params.request_state.as_deref().and_then(verify),
                ) {
                    (Some(_), Some(payload)) if payload == "request-state-round-1" => {
                        text("state-ok")
                    }
                    _ => {
                        let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
                        return Ok(input_required(
                            json!({"confirm": elicit("Please confirm", schema)}),
                            Some(sign("request-state-round-1")),
                        ));
                    }
                }
            }
            "test_input_required_result_multiple_inputs" => {
                let all = ["user_name", "greeting", "client_roots"]
                    .iter()
                    .all(|k| response(&params, k).is_some());
                if all
                    && params.request_state.as_deref().and_then(verify).as_deref()
                        == Some("multiple")
                {
                    text("received all inputs")
                } else {
                    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
                    return Ok(input_required(
                        json!({"user_name": elicit("What is your name?", schema),
                               "greeting": sample("Generate a greeting", 50),
                               "client_roots": roots()}),
                        Some(sign("multiple")),
                    ));
                }
            }
            "test_input_required_result_multi_round" => {
                match params.request_state.as_deref().and_then(verify).as_deref() {
                    Some("round-2") if response(&params, "step2").is_some() => {
                        text("completed after two rounds")
                    }
                    Some("round-1") if response(&params, "step1").is_some() => {
                        let schema = json!({"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]});
                        return Ok(input_required(
                            json!({"step2": elicit("Step 2: What is your favorite color?", schema)}),
                            Some(sign("round-2")),
                        ));
                    }
                    _ => {
                        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
                        return Ok(input_required(
                            json!({"step1": elicit("Step 1: What is your name?", schema)}),
                            Some(sign("round-1")),
                        ));
                    }
                }
            }
            "test_input_required_result_tampered_state" => match &params.request_state {
                Some(state) => match verify(state) {
                    Some(_) => text("state verified"),
                    None => {
                        return Err(ErrorData::invalid_params(
                            "requestState failed its integrity check",
                            None,
                        ));
                    }
                },
                None => {
                    let schema = json!({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]});
                    return Ok(input_required(
                        json!({"confirm": elicit("Please confirm", schema)}),
                        Some(sign("tamper-me")),
                    ));
                }
            },
            "test_input_required_result_capabilities" => {
                if params.input_responses.is_some() {
                    text("thanks for the input")
                } else {
                    let mut requests = serde_json::Map::new();
                    if caps.sampling.is_some() {
                        requests.insert("sample".into(), sample("Say hi", 20));
                    }
                    if caps.elicitation.is_some() {
                        let schema =
                            json!({"type": "object", "properties": {"ok": {"type": "boolean"}}});
                        requests.insert("ask".into(), elicit("Okay?", schema));
                    }
                    if caps.roots.is_some() {
                        requests.insert("roots".into(), roots());
                    }
                    if requests.is_empty() {
                        text("nothing to ask this client")
                    } else {
                        return Ok(input_required(Value::Object(requests), None));
                    }
                }
            }
            "test_header_param" => text(format!(
                "region {}",
                args.get("region")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )),
            "echo" => text(args.get("text").and_then(Value::as_str).unwrap_or_default()),
            "sleep" => {
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(format!("slept {ms} ms"))
            }
            name if self
                .state
                .extra_tools
                .lock()
                .unwrap()
                .iter()
                .any(|t| t == name) =>
            {
                text(format!("{name} ran"))
            }
            name if name.starts_with("bulk_") => text(format!("{name} ran")),
            name => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {name}"),
                    None,
                ));
            }
        };
        Ok(CallToolResponse::Complete(result))
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(self.prompts()))
    }

    async fn get_prompt(
        &self,
        params: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let args = params.arguments.clone().unwrap_or_default();
        let arg = |name: &str| -> Result<String, ErrorData> {
            args.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("missing required argument {name}"), None)
                })
        };
        let messages = match params.name.as_str() {
            "test_simple_prompt" => vec![PromptMessage::new_text(
                Role::User,
                "This is a simple prompt for testing.",
            )],
            "test_prompt_with_arguments" => vec![PromptMessage::new_text(
                Role::User,
                format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    arg("arg1")?,
                    arg("arg2")?
                ),
            )],
            "test_prompt_with_embedded_resource" => vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(
                        ResourceContents::text(
                            "Embedded resource content for testing.",
                            arg("resourceUri")?,
                        )
                        .with_mime_type("text/plain"),
                    ),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ],
            "test_prompt_with_image" => vec![
                PromptMessage::new(Role::User, ContentBlock::image(RED_PIXEL_PNG, "image/png")),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ],
            "test_input_required_result_prompt" => {
                match params
                    .input_responses
                    .as_ref()
                    .and_then(|r| r.get("user_context"))
                {
                    Some(answer) => vec![PromptMessage::new_text(
                        Role::User,
                        format!(
                            "Use this context: {}",
                            answer["content"]["context"].as_str().unwrap_or_default()
                        ),
                    )],
                    None => {
                        let schema = json!({"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]});
                        let result = json!({"resultType": "input_required", "inputRequests": {
                            "user_context": elicit("What context should the prompt use?", schema)}});
                        return Ok(GetPromptResponse::InputRequired(
                            serde_json::from_value(result).unwrap(),
                        ));
                    }
                }
            }
            name if self
                .state
                .extra_prompts
                .lock()
                .unwrap()
                .iter()
                .any(|p| p == name) =>
            {
                vec![PromptMessage::new_text(Role::User, format!("{name} text"))]
            }
            name => {
                return Err(ErrorData::invalid_params(
                    format!("unknown prompt {name}"),
                    None,
                ));
            }
        };
        Ok(GetPromptResponse::Complete(GetPromptResult::new(messages)))
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = vec![
            Resource::new("test://static-text", "static-text")
                .with_description("A static text resource")
                .with_mime_type("text/plain"),
            Resource::new("test://static-binary", "static-binary")
                .with_description("A static image")
                .with_mime_type("image/png"),
            Resource::new("test://watched-resource", "watched-resource")
                .with_description("A resource to subscribe to")
                .with_mime_type("text/plain"),
        ];
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let template = ResourceTemplate::new("test://template/{id}/data", "template-data")
            .with_description("Data for an id")
            .with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    async fn read_resource(
        &self,
        params: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = params.uri.as_str();
        let contents = match uri {
            "test://static-text" => {
                ResourceContents::text("This is the content of the static text resource.", uri)
                    .with_mime_type("text/plain")
            }
            "test://static-binary" => {
                ResourceContents::blob(RED_PIXEL_PNG, uri).with_mime_type("image/png")
            }
            "test://watched-resource" => {
                ResourceContents::text("watched", uri).with_mime_type("text/plain")
            }
            _ => match uri
                .strip_prefix("test://template/")
                .and_then(|rest| rest.strip_suffix("/data"))
            {
                Some(id) if !id.is_empty() && !id.contains('/') => ResourceContents::text(
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
                        .to_string(),
                    uri,
                )
                .with_mime_type("application/json"),
                _ => {
                    return Err(ErrorData::resource_not_found(
                        "Resource not found",
                        Some(json!({"uri": uri})),
                    ));
                }
            },
        };
        Ok(ReadResourceResponse::Complete(ReadResourceResult::new(
            vec![contents],
        )))
    }

    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn complete(
        &self,
        params: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let prefix = params.argument.value.to_lowercase();
        let values: Vec<String> = ["paris", "park", "party", "test-value"]
            .iter()
            .filter(|v| v.starts_with(&prefix))
            .map(|v| v.to_string())
            .collect();
        Ok(CompleteResult::new(
            CompletionInfo::with_all_values(values).unwrap(),
        ))
    }

    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        self.state.sessions.lock().unwrap().push(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.state
            .listeners
            .lock()
            .unwrap()
            .push(context.sink().clone());
        context.cancelled().await;
        Ok(())
    }
}
