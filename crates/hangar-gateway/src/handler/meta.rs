//! Tool search's meta-tools (config `toolSearch`): clients list
//! `search_tools` and `call_tool` instead of the catalog. A search answers
//! from the catalog's index with the tools the caller may use; a `call_tool`
//! is unwrapped into the `tools/call` it stands for, which then passes
//! curation, authorization, the audit and metrics like any other (the
//! gatekeeper's rate limits read the same unwrapped name). Catalog tools stay
//! callable by name; a catalog tool named like a meta-tool only through
//! `call_tool`.

use std::sync::LazyLock;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock, JsonObject, Tool};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use super::GatewayHandler;
use crate::access::Kind;

pub const SEARCH_TOOLS: &str = "search_tools";
pub const CALL_TOOL: &str = "call_tool";
/// The longest query searched: ranking cost grows with the query's words.
const MAX_QUERY_BYTES: usize = 1024;

static DEFINITIONS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    serde_json::from_value(json!([
        {
            "name": SEARCH_TOOLS,
            "title": "Search tools",
            "description": "Finds the tools of this gateway that best match a query \
                (say in a few words what you want to do), best first, each with its full \
                definition: name, title, description, inputSchema and more. Then call one \
                with call_tool.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What the tool should do, e.g. `create an issue in a GitHub repository`."},
                    "limit": {"type": "integer", "minimum": 1, "description": "How many tools to return at most (the gateway may return fewer)."},
                },
                "required": ["query"],
            },
            "outputSchema": {
                "type": "object",
                "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
                "required": ["tools"],
            },
            "annotations": {"readOnlyHint": true, "openWorldHint": false},
        },
        {
            "name": CALL_TOOL,
            "title": "Call a tool",
            "description": "Calls a tool that search_tools found, by its name, with arguments \
                as its inputSchema describes. Answers what the tool answers.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The tool's name, as search_tools gave it."},
                    "arguments": {"type": "object", "description": "The tool's arguments."},
                },
                "required": ["name"],
            },
        },
    ]))
    .expect("the meta-tools' definitions are valid tools")
});

/// What clients list with tool search on.
pub fn definitions() -> &'static [Tool] {
    &DEFINITIONS
}

/// A meta-tool's definition, by name.
pub fn definition(name: &str) -> Option<&'static Tool> {
    DEFINITIONS.iter().find(|t| t.name == name)
}

/// What a `tools/call` asks for with tool search on.
pub enum Meta {
    Search {
        query: String,
        limit: Option<u64>,
    },
    /// A catalog tool's call: the one a `call_tool` stands for, or a direct one.
    Catalog(CallToolRequestParams),
    /// A meta-tool called with arguments it cannot take: why, for the caller.
    Invalid(String),
}

impl Meta {
    pub fn of(mut request: CallToolRequestParams) -> Self {
        match request.name.as_ref() {
            SEARCH_TOOLS => search(&request.arguments.unwrap_or_default()),
            CALL_TOOL => {
                let arguments = request.arguments.take().unwrap_or_default();
                unwrap(request, arguments)
            }
            _ => Meta::Catalog(request),
        }
    }
}

fn search(arguments: &JsonObject) -> Meta {
    let Some(query) = arguments.get("query").and_then(Value::as_str) else {
        return Meta::Invalid(format!(
            "{SEARCH_TOOLS} needs `query`: a string saying what the tool should do"
        ));
    };
    if query.len() > MAX_QUERY_BYTES {
        return Meta::Invalid(format!(
            "the query is {} bytes long; {SEARCH_TOOLS} takes at most {MAX_QUERY_BYTES}: \
             say in a few words what the tool should do",
            query.len()
        ));
    }
    let limit = match arguments.get("limit") {
        None | Some(Value::Null) => None,
        Some(limit) => match limit.as_u64() {
            Some(limit) => Some(limit),
            None => return Meta::Invalid("`limit` must be a whole number of at least 1".into()),
        },
    };
    Meta::Search {
        query: query.to_string(),
        limit,
    }
}

/// The call a `call_tool` stands for, with the request's other parameters
/// (metadata, input responses, request state) kept.
fn unwrap(mut request: CallToolRequestParams, mut arguments: JsonObject) -> Meta {
    let Some(Value::String(name)) = arguments.remove("name") else {
        return Meta::Invalid(format!(
            "{CALL_TOOL} needs `name`: the name of a tool {SEARCH_TOOLS} found"
        ));
    };
    request.arguments = match arguments.remove("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(inner)) => Some(inner),
        Some(_) => return Meta::Invalid("`arguments` must be an object".into()),
    };
    request.name = name.into();
    Meta::Catalog(request)
}

impl GatewayHandler {
    /// `search_tools`: the best matches the caller may use, as many as asked within the config's bounds.
    pub(super) fn search_tools(
        &self,
        query: &str,
        limit: Option<u64>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let config = self.gateway.config();
        let results = config
            .tool_search
            .as_ref()
            .map_or(0, |search| search.results(limit));
        let access = self.access(context);
        let catalog = self.gateway.catalog();
        let found: Vec<&Tool> = catalog
            .search(query)
            .into_iter()
            .filter(|tool| access.may_use(Kind::Tool, &tool.name))
            .take(results)
            .collect();
        CallToolResult::structured(json!({ "tools": found }))
    }
}

/// A meta-tool's refusal of its arguments, as a tool error the model can read.
pub(super) fn invalid(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, arguments: Value) -> CallToolRequestParams {
        let Value::Object(arguments) = arguments else {
            unreachable!("a JSON object")
        };
        CallToolRequestParams::new(name.to_string()).with_arguments(arguments)
    }

    #[test]
    fn call_tool_stands_for_the_call_it_names() {
        let Meta::Catalog(inner) = Meta::of(call(
            CALL_TOOL,
            json!({"name": "github_create_issue", "arguments": {"title": "bug"}}),
        )) else {
            panic!("not unwrapped")
        };
        assert_eq!(inner.name, "github_create_issue");
        assert_eq!(
            inner.arguments,
            Some(json!({"title": "bug"}).as_object().cloned().unwrap())
        );
        let Meta::Catalog(bare) = Meta::of(call(CALL_TOOL, json!({"name": "ping"}))) else {
            panic!("not unwrapped")
        };
        assert_eq!(bare.arguments, None);
    }

    #[test]
    fn meta_tools_refuse_arguments_they_cannot_take() {
        for (name, arguments) in [
            (SEARCH_TOOLS, json!({})),
            (SEARCH_TOOLS, json!({"query": 3})),
            (SEARCH_TOOLS, json!({"query": "x", "limit": -1})),
            (SEARCH_TOOLS, json!({"query": "x", "limit": "many"})),
            (SEARCH_TOOLS, json!({"query": "word ".repeat(300)})),
            (CALL_TOOL, json!({})),
            (CALL_TOOL, json!({"name": "x", "arguments": [1]})),
        ] {
            assert!(
                matches!(Meta::of(call(name, arguments.clone())), Meta::Invalid(_)),
                "{name} {arguments}"
            );
        }
        assert!(matches!(
            Meta::of(call(SEARCH_TOOLS, json!({"query": "weather", "limit": 3}))),
            Meta::Search { limit: Some(3), .. }
        ));
        assert!(matches!(
            Meta::of(call("weather", json!({}))),
            Meta::Catalog(_)
        ));
    }

    #[test]
    fn the_definitions_are_the_two_meta_tools() {
        let names: Vec<&str> = definitions().iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, [SEARCH_TOOLS, CALL_TOOL]);
        assert!(definition(CALL_TOOL).is_some());
        assert!(definition("other").is_none());
    }
}
