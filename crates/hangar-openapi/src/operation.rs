//! Operations to tools: names, arguments and where they go, schemas.

use std::collections::BTreeMap;

use oas3::spec::{
    ObjectOrReference, Operation, Parameter, ParameterIn, ParameterStyle, PathItem, Server,
};
use serde_json::{Map, Value};

use hangar_config::{
    ArgumentLocation, ArgumentPlacement, HttpMethod, RESERVED_ARGUMENT_HEADERS,
    ToolAnnotationsSpec, check_tool_name,
};

use crate::schemas::{Components, json};
use crate::{Conversion, OperationTool, Selection, SkippedOperation};

/// MCP tool names are at most this long.
const MAX_NAME: usize = 128;

pub(crate) fn tools(spec: &oas3::Spec, selection: &Selection) -> Conversion {
    let components = Components::of(spec);
    let mut conversion = Conversion {
        operations: 0,
        tools: Vec::new(),
        skipped: Vec::new(),
        server_url: spec.servers.first().map(server_url),
    };
    // Which operation took each name, for the one that finds it taken.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in spec.paths.iter().flatten() {
        for (method_name, operation) in operations(item) {
            conversion.operations += 1;
            let label = label(method_name, path, operation);
            let Some(method) = method(method_name) else {
                if selection.admits(operation, None) {
                    conversion.skipped.push(SkippedOperation {
                        operation: label,
                        reason: format!(
                            "{} is not a method tools call (GET, POST, PUT, PATCH and DELETE are)",
                            method_name.to_ascii_uppercase()
                        ),
                    });
                }
                continue;
            };
            if !selection.admits(operation, Some(method)) {
                continue;
            }
            let built =
                tool(spec, &components, path, item, method, operation).and_then(|tool| match names
                    .get(&tool.name)
                {
                    Some(taken_by) => Err(format!(
                        "its tool name `{}` is taken by {taken_by}",
                        tool.name
                    )),
                    None => Ok(tool),
                });
            match built {
                Ok(tool) => {
                    names.insert(tool.name.clone(), tool.operation.clone());
                    conversion.tools.push(tool);
                }
                Err(reason) => conversion.skipped.push(SkippedOperation {
                    operation: label,
                    reason,
                }),
            }
        }
    }
    conversion
}

impl Selection {
    /// Whether the filters admit `operation`; with no method (one tools do
    /// not call) the method filter is left to the caller.
    fn admits(&self, operation: &Operation, method: Option<HttpMethod>) -> bool {
        let tagged = self.tags.is_empty() || operation.tags.iter().any(|t| self.tags.contains(t));
        let named = self.operation_ids.is_empty()
            || operation
                .operation_id
                .as_ref()
                .is_some_and(|id| self.operation_ids.contains(id));
        let by_method =
            self.methods.is_empty() || method.is_some_and(|m| self.methods.contains(&m));
        tagged && named && by_method
    }
}

fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("options", &item.options),
        ("head", &item.head),
        ("patch", &item.patch),
        ("trace", &item.trace),
    ]
    .into_iter()
    .filter_map(|(name, operation)| operation.as_ref().map(|op| (name, op)))
    .collect()
}

fn method(name: &str) -> Option<HttpMethod> {
    Some(match name {
        "get" => HttpMethod::Get,
        "post" => HttpMethod::Post,
        "put" => HttpMethod::Put,
        "patch" => HttpMethod::Patch,
        "delete" => HttpMethod::Delete,
        _ => return None,
    })
}

fn label(method: &str, path: &str, operation: &Operation) -> String {
    let method = method.to_ascii_uppercase();
    match &operation.operation_id {
        Some(id) => format!("{method} {path} ({id})"),
        None => format!("{method} {path}"),
    }
}

/// A server's URL with its variables at their defaults.
fn server_url(server: &Server) -> String {
    server
        .variables
        .iter()
        .fold(server.url.clone(), |url, (name, variable)| {
            url.replace(&format!("{{{name}}}"), &variable.default)
        })
}

fn tool(
    spec: &oas3::Spec,
    components: &Components,
    path: &str,
    item: &PathItem,
    method: HttpMethod,
    operation: &Operation,
) -> Result<OperationTool, String> {
    let name = tool_name(operation.operation_id.as_deref(), method, path);
    check_tool_name(&name)?;
    let mut input = Arguments::default();
    for parameter in parameters(spec, item, operation)? {
        input.add_parameter(parameter)?;
    }
    input.add_body(spec, components, operation)?;
    let Arguments {
        properties,
        required,
        placements,
    } = input;
    let mut input_schema = Map::new();
    input_schema.insert("type".into(), "object".into());
    input_schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        input_schema.insert("required".into(), required.into());
    }
    let input_schema = components.self_contained(Value::Object(input_schema))?;
    let description = match (&operation.summary, &operation.description) {
        (Some(summary), Some(description)) if description != summary => {
            Some(format!("{summary}\n\n{description}"))
        }
        (Some(text), _) | (None, Some(text)) => Some(text.clone()),
        (None, None) => None,
    };
    Ok(OperationTool {
        operation: format!("{} {path}", method.as_str()),
        name,
        title: operation.summary.clone(),
        description,
        input_schema,
        output_schema: output_schema(spec, components, operation)?,
        annotations: ToolAnnotationsSpec {
            title: None,
            read_only_hint: Some(method == HttpMethod::Get),
            destructive_hint: Some(method == HttpMethod::Delete),
            idempotent_hint: Some(matches!(
                method,
                HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete
            )),
            // The service is one system the gateway knows, not the open web.
            open_world_hint: Some(false),
        },
        method,
        path: path.to_string(),
        arguments: placements,
    })
}

/// The `operationId` in tool-name characters, or the method and path when it has none.
fn tool_name(operation_id: Option<&str>, method: HttpMethod, path: &str) -> String {
    let source = match operation_id {
        Some(id) => id.to_string(),
        None => format!("{}_{path}", method.as_str().to_ascii_lowercase()),
    };
    let mut name = String::with_capacity(source.len());
    for c in source.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let name = name.trim_matches('_');
    name.chars().take(MAX_NAME).collect()
}

/// The path item's parameters with the operation's in their place (same name and location).
fn parameters(
    spec: &oas3::Spec,
    item: &PathItem,
    operation: &Operation,
) -> Result<Vec<Parameter>, String> {
    let resolve = |parameter: &ObjectOrReference<Parameter>| {
        parameter
            .resolve(spec)
            .map_err(|e| format!("a parameter cannot be read: {e}"))
    };
    let mut all: Vec<Parameter> = item
        .parameters
        .iter()
        .map(resolve)
        .collect::<Result<_, _>>()?;
    for parameter in &operation.parameters {
        let parameter = resolve(parameter)?;
        all.retain(|p| !(p.name == parameter.name && p.location == parameter.location));
        all.push(parameter);
    }
    Ok(all)
}

/// The arguments of one operation as they are collected.
#[derive(Default)]
struct Arguments {
    properties: Map<String, Value>,
    required: Vec<String>,
    placements: Vec<ArgumentPlacement>,
}

impl Arguments {
    fn add_parameter(&mut self, parameter: Parameter) -> Result<(), String> {
        let required =
            parameter.required.unwrap_or(false) || parameter.location == ParameterIn::Path;
        let location = match parameter.location {
            ParameterIn::Path => ArgumentLocation::Path,
            ParameterIn::Query => ArgumentLocation::Query,
            ParameterIn::Header => ArgumentLocation::Header,
            ParameterIn::Cookie if required => {
                return Err(format!(
                    "its cookie parameter `{}` is required and the gateway sends no cookies",
                    parameter.name
                ));
            }
            // An optional cookie is left out: a call works without it.
            ParameterIn::Cookie => return Ok(()),
        };
        if location == ArgumentLocation::Header
            && RESERVED_ARGUMENT_HEADERS.contains(&parameter.name.to_ascii_lowercase().as_str())
        {
            // OpenAPI has these headers ignored as parameters; the gateway sets them.
            return Ok(());
        }
        let Some(schema) = &parameter.schema else {
            return Err(format!(
                "its parameter `{}` describes its value with `content`, which the gateway does not encode",
                parameter.name
            ));
        };
        let mut schema = json(schema);
        check_style(&parameter, location, &schema)?;
        if let (Some(description), Value::Object(object)) = (&parameter.description, &mut schema)
            && !object.contains_key("description")
        {
            object.insert("description".into(), description.clone().into());
        }
        let argument = self.free_name(&parameter.name, location);
        self.properties.insert(argument.clone(), schema);
        if required {
            self.required.push(argument.clone());
        }
        self.placements.push(ArgumentPlacement {
            name: (argument != parameter.name).then(|| parameter.name.clone()),
            argument,
            location,
        });
        Ok(())
    }

    /// The body's properties as arguments when it is an object whose property
    /// names no parameter uses; otherwise one `body` argument.
    fn add_body(
        &mut self,
        spec: &oas3::Spec,
        components: &Components,
        operation: &Operation,
    ) -> Result<(), String> {
        let Some(body) = operation
            .request_body(spec)
            .map_err(|e| format!("its request body cannot be read: {e}"))?
        else {
            return Ok(());
        };
        let required = body.required.unwrap_or(false);
        let Some(media) = body
            .content
            .iter()
            .find(|(media_type, _)| is_json(media_type))
            .map(|(_, media)| media)
        else {
            if !required {
                // A call without the optional body still works.
                return Ok(());
            }
            let types: Vec<&str> = body.content.keys().map(String::as_str).collect();
            return Err(format!(
                "its request body is {} only; the gateway sends JSON bodies",
                types.join(", ")
            ));
        };
        let schema = media.schema.as_ref().map(json).unwrap_or(Value::Bool(true));
        let described = components.followed(&schema);
        let spread = described.get("type") == Some(&Value::from("object"))
            && [
                "allOf",
                "anyOf",
                "oneOf",
                "additionalProperties",
                "patternProperties",
            ]
            .iter()
            .all(|k| described.get(k).is_none())
            && described
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|properties| {
                    !properties.is_empty()
                        && properties
                            .keys()
                            .all(|key| !self.properties.contains_key(key))
                });
        if !spread {
            let argument = self.free_name("body", ArgumentLocation::WholeBody);
            let mut schema = schema;
            if let (Some(description), Value::Object(object)) = (&body.description, &mut schema)
                && !object.contains_key("description")
            {
                object.insert("description".into(), description.clone().into());
            }
            self.properties.insert(argument.clone(), schema);
            if required {
                self.required.push(argument.clone());
            }
            self.placements.push(ArgumentPlacement {
                argument,
                location: ArgumentLocation::WholeBody,
                name: None,
            });
            return Ok(());
        }
        let body_required: Vec<String> = described
            .get("required")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let properties = described["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (property, schema) in properties {
            if required && body_required.contains(&property) {
                self.required.push(property.clone());
            }
            self.placements.push(ArgumentPlacement {
                argument: property.clone(),
                location: ArgumentLocation::Body,
                name: None,
            });
            self.properties.insert(property, schema);
        }
        Ok(())
    }

    /// `wanted`, or with its location added when another argument has it.
    fn free_name(&self, wanted: &str, location: ArgumentLocation) -> String {
        if !self.properties.contains_key(wanted) {
            return wanted.to_string();
        }
        let suffix = match location {
            ArgumentLocation::Path => "path",
            ArgumentLocation::Query => "query",
            ArgumentLocation::Header => "header",
            ArgumentLocation::Body | ArgumentLocation::WholeBody => "body",
        };
        let mut candidate = format!("{wanted}_{suffix}");
        while self.properties.contains_key(&candidate) {
            candidate.push('_');
        }
        candidate
    }
}

/// Only the default serialisations are encoded: `form` (exploded) in the
/// query, `simple` in the path and headers, of scalars and arrays.
fn check_style(
    parameter: &Parameter,
    location: ArgumentLocation,
    schema: &Value,
) -> Result<(), String> {
    let style_ok = match (location, parameter.style) {
        (_, None) => true,
        (ArgumentLocation::Query, Some(ParameterStyle::Form)) => parameter.explode != Some(false),
        (ArgumentLocation::Path | ArgumentLocation::Header, Some(ParameterStyle::Simple)) => true,
        _ => false,
    };
    if !style_ok {
        return Err(format!(
            "its parameter `{}` uses a serialisation the gateway does not encode (style {:?}, explode {:?})",
            parameter.name, parameter.style, parameter.explode
        ));
    }
    if schema.get("type") == Some(&Value::from("object")) {
        return Err(format!(
            "its parameter `{}` is an object, which the gateway does not encode in {}",
            parameter.name,
            match location {
                ArgumentLocation::Path => "a path",
                ArgumentLocation::Header => "a header",
                _ => "a query",
            }
        ));
    }
    Ok(())
}

fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The schema of the first success response with a JSON object body.
fn output_schema(
    spec: &oas3::Spec,
    components: &Components,
    operation: &Operation,
) -> Result<Option<Map<String, Value>>, String> {
    let responses = operation.responses(spec);
    let mut success: Vec<(&String, &oas3::spec::Response)> = responses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .collect();
    success.sort_by_key(|(status, _)| status.as_str());
    let Some((_, response)) = success.first() else {
        return Ok(None);
    };
    let Some(schema) = response
        .content
        .iter()
        .find(|(media_type, _)| is_json(media_type))
        .and_then(|(_, media)| media.schema.as_ref())
    else {
        return Ok(None);
    };
    let schema = json(schema);
    let described = components.followed(&schema);
    // MCP's outputSchema describes an object; other results travel as text.
    if described.get("type") != Some(&Value::from("object")) {
        return Ok(None);
    }
    components.self_contained(described.clone()).map(Some)
}
