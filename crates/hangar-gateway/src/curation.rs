//! Applying the config's `curation` to a tool: its overrides change what
//! clients see (name, title, description, annotations, `inputSchema`), and
//! its fixed and default arguments are added to every call. Which names are
//! left out is decided by `hangar_config::Curation`, in one place for the
//! lists and the calls of both protocol eras ([`crate::catalog`]).

use hangar_config::curation::ExposedTool;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;

/// Arguments the gateway adds to calls of one tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InjectedArguments {
    /// Replace whatever the client sent.
    fixed: JsonObject,
    /// Fill in what the client left out.
    defaults: JsonObject,
}

impl InjectedArguments {
    /// The client's arguments with the fixed ones set and the defaults filled in.
    pub fn apply(&self, arguments: Option<JsonObject>) -> Option<JsonObject> {
        if self.fixed.is_empty() && self.defaults.is_empty() {
            return arguments;
        }
        let mut arguments = arguments.unwrap_or_default();
        for (key, value) in &self.defaults {
            arguments
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        for (key, value) in &self.fixed {
            arguments.insert(key.clone(), value.clone());
        }
        Some(arguments)
    }
}

/// What the overrides of `exposed` add to its calls; a later override's
/// fixed argument beats an earlier one's default.
pub fn injected(exposed: &ExposedTool<'_>) -> InjectedArguments {
    let mut injected = InjectedArguments::default();
    for o in &exposed.overrides {
        injected.fixed.extend(o.fixed_arguments.clone());
        injected.defaults.extend(o.default_arguments.clone());
    }
    injected
        .defaults
        .retain(|key, _| !injected.fixed.contains_key(key));
    injected
}

/// The tool as clients see it under `exposed`, and what its calls get added.
pub fn curate(tool: &Tool, exposed: &ExposedTool<'_>) -> (Tool, InjectedArguments) {
    let mut curated = tool.clone();
    curated.name = exposed.name.clone().into();
    let injected = injected(exposed);
    for o in &exposed.overrides {
        if let Some(title) = &o.title {
            curated.title = Some(title.clone());
        }
        if let Some(description) = &o.description {
            curated.description = Some(description.clone().into());
        }
        if let Some(hints) = &o.annotations {
            let mut annotations = curated.annotations.take().unwrap_or_default();
            let merged = ToolAnnotations::from_raw(
                hints.title.clone().or(annotations.title.take()),
                hints.read_only_hint.or(annotations.read_only_hint),
                hints.destructive_hint.or(annotations.destructive_hint),
                hints.idempotent_hint.or(annotations.idempotent_hint),
                hints.open_world_hint.or(annotations.open_world_hint),
            );
            curated.annotations = Some(merged);
        }
    }
    if !injected.fixed.is_empty() || !injected.defaults.is_empty() {
        let mut schema = (*curated.input_schema).clone();
        hide_and_default(&mut schema, &injected);
        curated.input_schema = schema.into();
    }
    (curated, injected)
}

/// Removes fixed arguments from a JSON Schema of the arguments, and marks
/// defaulted ones optional with their default.
fn hide_and_default(schema: &mut JsonObject, injected: &InjectedArguments) {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for key in injected.fixed.keys() {
            properties.remove(key);
        }
        for (key, value) in &injected.defaults {
            if let Some(Value::Object(property)) = properties.get_mut(key) {
                property.insert("default".into(), value.clone());
            }
        }
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|name| {
            name.as_str().is_none_or(|name| {
                !injected.fixed.contains_key(name) && !injected.defaults.contains_key(name)
            })
        });
        if required.is_empty() {
            schema.remove("required");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hangar_config::ToolOverride;
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn fixed_arguments_are_hidden_and_injected_defaults_filled() {
        let tool = Tool::new(
            "echo",
            "Echoes",
            Arc::new(object(json!({
                "type": "object",
                "properties": {"message": {"type": "string"}, "mode": {"type": "string"}, "times": {"type": "integer"}},
                "required": ["message", "mode", "times"],
            }))),
        );
        let o = ToolOverride {
            tool: "everything_echo".into(),
            name: Some("say".into()),
            description: Some("Says it".into()),
            annotations: Some(hangar_config::ToolAnnotationsSpec {
                read_only_hint: Some(true),
                ..Default::default()
            }),
            fixed_arguments: object(json!({"mode": "loud"})),
            default_arguments: object(json!({"times": 2})),
            ..ToolOverride::default()
        };
        let exposed = ExposedTool {
            name: "say".into(),
            federated: "everything_echo".into(),
            overrides: vec![&o],
        };
        let (curated, injected) = curate(&tool, &exposed);
        assert_eq!(curated.name, "say");
        assert_eq!(curated.description.as_deref(), Some("Says it"));
        assert_eq!(curated.annotations.unwrap().read_only_hint, Some(true));
        assert_eq!(
            Value::Object((*curated.input_schema).clone()),
            json!({
                "type": "object",
                "properties": {"message": {"type": "string"}, "times": {"type": "integer", "default": 2}},
                "required": ["message"],
            })
        );
        let sent = injected.apply(Some(object(json!({"message": "hi", "mode": "quiet"}))));
        assert_eq!(
            Value::Object(sent.unwrap()),
            json!({"message": "hi", "mode": "loud", "times": 2})
        );
        let sent = injected.apply(Some(object(json!({"message": "hi", "times": 5}))));
        assert_eq!(
            Value::Object(sent.unwrap()),
            json!({"message": "hi", "mode": "loud", "times": 5})
        );
        assert_eq!(InjectedArguments::default().apply(None), None);
    }
}
