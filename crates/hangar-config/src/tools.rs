//! The `tools` section: tools whose implementation is one HTTP request (MCPTool).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use hangar_api::HttpMethod;

use crate::outbound::UpstreamAuth;
use crate::values::{DurationSpec, NameValue, check_http_url, check_name_values, check_timeout};

/// A tool whose implementation is one HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolSpec {
    /// Tool name as clients see it: 1-128 of `A-Z a-z 0-9 _ - .`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments; calls are validated against it before the backend is called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Map<String, Value>>,
    /// JSON Schema of the structured result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotationsSpec>,
    /// The HTTP request a call becomes.
    pub backend: HttpBackend,
    /// Credentials for the backend beyond static headers, as for servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<UpstreamAuth>,
}

/// Hints about a tool's behaviour, passed to clients unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolAnnotationsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

/// An HTTP endpoint the gateway calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBackend {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// For GET and DELETE the arguments become query parameters; otherwise the JSON body.
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Defaults to `gateway.defaultTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

impl ToolSpec {
    /// What is wrong with this tool on its own; `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if let Err(why) = check_tool_name(&self.name) {
            problems.push(format!("{at}.name: {why}"));
        }
        check_http_url(&self.backend.url, &format!("{at}.backend.url"), problems);
        check_name_values(
            &self.backend.headers,
            &format!("{at}.backend.headers"),
            problems,
        );
        check_timeout(
            self.backend.timeout,
            &format!("{at}.backend.timeout"),
            problems,
        );
        if let Some(auth) = &self.auth {
            auth.problems(&format!("{at}.auth"), problems);
            auth.header_problems(
                &self.backend.headers,
                &format!("{at}.backend.headers"),
                problems,
            );
        }
        for (field, schema) in [
            ("inputSchema", &self.input_schema),
            ("outputSchema", &self.output_schema),
        ] {
            if let Some(schema) = schema {
                if let Err(why) = jsonschema::validator_for(&Value::Object(schema.clone())) {
                    problems.push(format!("{at}.{field}: not a usable JSON Schema: {why}"));
                }
                if schema.get("type").is_some_and(|t| t != "object") {
                    problems.push(format!(
                        "{at}.{field}: must describe an object (\"type\": \"object\")"
                    ));
                }
            }
        }
    }
}

pub(crate) fn is_tool_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// MCP tool names: 1-128 characters of `A-Z a-z 0-9 _ - .`.
pub fn check_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 {
        return Err(format!("`{name}` must be 1-128 characters long"));
    }
    if !name.chars().all(is_tool_name_char) {
        return Err(format!("`{name}` may only contain A-Z a-z 0-9 _ - ."));
    }
    Ok(())
}
