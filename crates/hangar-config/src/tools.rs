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
    /// Absolute `http://` or `https://` URL; its path may hold `{name}`
    /// templates, each filled by an argument placed `in: path`.
    pub url: String,
    /// Arguments not placed by `arguments` become query parameters for GET and
    /// DELETE (and when one argument is the whole body), otherwise properties of the JSON body.
    #[serde(default)]
    pub method: HttpMethod,
    /// Where named arguments go in the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<ArgumentPlacement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValue>,
    /// Defaults to `gateway.defaultTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationSpec>,
}

/// Where one argument of a call goes in the backend request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArgumentPlacement {
    /// The argument's name in the tool's `inputSchema`.
    pub argument: String,
    #[serde(rename = "in")]
    pub location: ArgumentLocation,
    /// The name on the wire (path template, query key, header or body property)
    /// when it differs from the argument's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ArgumentPlacement {
    pub fn wire_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.argument)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ArgumentLocation {
    /// Fills the URL's `{name}` template, percent-encoded as one path segment.
    Path,
    Query,
    Header,
    /// A property of the JSON body object.
    Body,
    /// The JSON body itself (for bodies that are not objects of arguments).
    WholeBody,
}

/// Headers an argument may not set: what HTTP itself or the gateway decides
/// (OpenAPI ignores header parameters named Accept, Content-Type and Authorization too).
pub const RESERVED_ARGUMENT_HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "host",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-request-id",
];

/// The `{name}` templates in a URL's path, in order.
pub fn url_templates(url: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        names.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    names
}

impl HttpBackend {
    /// What is wrong with the argument placements; `at` says where they are.
    fn placement_problems(&self, at: &str, problems: &mut Vec<String>) {
        let mut seen = std::collections::BTreeSet::new();
        let mut whole_body = 0;
        let mut body_properties = 0;
        for (i, placement) in self.arguments.iter().enumerate() {
            let here = format!("{at}.arguments[{i}]");
            if !seen.insert(placement.argument.as_str()) {
                problems.push(format!(
                    "{here}: argument `{}` is placed twice",
                    placement.argument
                ));
            }
            match placement.location {
                ArgumentLocation::Path
                    if !url_templates(&self.url).contains(&placement.wire_name()) =>
                {
                    problems.push(format!(
                        "{here}: `{}` is placed in the path but {at}.url has no `{{{}}}`",
                        placement.argument,
                        placement.wire_name()
                    ));
                }
                ArgumentLocation::Header => {
                    let name = placement.wire_name().to_ascii_lowercase();
                    if RESERVED_ARGUMENT_HEADERS.contains(&name.as_str()) {
                        problems.push(format!(
                            "{here}: an argument may not set the `{name}` header"
                        ));
                    } else if !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                        || name.is_empty()
                    {
                        problems.push(format!("{here}: `{name}` is not a header name"));
                    }
                }
                ArgumentLocation::Body => body_properties += 1,
                ArgumentLocation::WholeBody => whole_body += 1,
                ArgumentLocation::Path | ArgumentLocation::Query => {}
            }
        }
        if (whole_body > 0 || body_properties > 0) && self.method.uses_query() {
            problems.push(format!(
                "{at}.arguments: {} sends no body, so no argument can go in it",
                self.method.as_str()
            ));
        }
        if whole_body > 1 || (whole_body == 1 && body_properties > 0) {
            problems.push(format!(
                "{at}.arguments: an argument that is the whole body leaves no room for other body arguments"
            ));
        }
        for template in url_templates(&self.url) {
            let filled = self
                .arguments
                .iter()
                .any(|p| p.location == ArgumentLocation::Path && p.wire_name() == template);
            if !filled {
                problems.push(format!(
                    "{at}.url: no argument is placed in the path for `{{{template}}}`"
                ));
            }
        }
    }

    /// Where arguments the placements do not name go.
    pub fn unplaced_location(&self) -> ArgumentLocation {
        let whole_body = self
            .arguments
            .iter()
            .any(|p| p.location == ArgumentLocation::WholeBody);
        if self.method.uses_query() || whole_body {
            ArgumentLocation::Query
        } else {
            ArgumentLocation::Body
        }
    }
}

impl ToolSpec {
    /// What is wrong with this tool on its own; `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if let Err(why) = check_tool_name(&self.name) {
            problems.push(format!("{at}.name: {why}"));
        }
        check_http_url(&self.backend.url, &format!("{at}.backend.url"), problems);
        self.backend
            .placement_problems(&format!("{at}.backend"), problems);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(backend: &str) -> Vec<String> {
        let tool: ToolSpec =
            serde_saphyr::from_str(&format!("name: t\nbackend: {backend}\n")).unwrap();
        let mut problems = Vec::new();
        tool.problems("tools[0]", &mut problems);
        problems
    }

    #[test]
    fn argument_placements_that_cannot_work_are_named() {
        assert!(problems(
            r#"{url: "http://x/books/{id}", method: GET, arguments: [{argument: id, in: path}]}"#
        )
        .is_empty());
        let unfilled = problems(r#"{url: "http://x/books/{id}", method: GET}"#);
        assert_eq!(
            unfilled,
            ["tools[0].backend.url: no argument is placed in the path for `{id}`"]
        );
        let found = problems(
            r#"{url: "http://x/a", method: GET, arguments: [
                {argument: id, in: path},
                {argument: token, in: header, name: Authorization},
                {argument: id, in: query},
                {argument: doc, in: wholeBody}]}"#,
        );
        let joined = found.join("\n");
        for expected in [
            "`id` is placed in the path but tools[0].backend.url has no `{id}`",
            "may not set the `authorization` header",
            "argument `id` is placed twice",
            "GET sends no body",
        ] {
            assert!(joined.contains(expected), "{expected}:\n{joined}");
        }
        let crowded = problems(
            r#"{url: "http://x/a", method: POST, arguments: [
                {argument: doc, in: wholeBody}, {argument: note, in: body}]}"#,
        );
        assert!(crowded.join("").contains("whole body"), "{crowded:?}");
    }
}
