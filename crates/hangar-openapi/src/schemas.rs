//! The document's schemas as self-contained JSON Schemas: every
//! `#/components/schemas/…` reference a tool's schema reaches is copied into
//! its `$defs` and pointed at there, so a client needs nothing but the tool.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

const COMPONENT_PREFIX: &str = "#/components/schemas/";

/// The component schemas of a document, as JSON.
pub(crate) struct Components {
    schemas: Map<String, Value>,
}

impl Components {
    pub(crate) fn of(spec: &oas3::Spec) -> Self {
        let schemas = spec
            .components
            .as_ref()
            .map(|components| {
                components
                    .schemas
                    .iter()
                    .map(|(name, schema)| (name.clone(), json(schema)))
                    .collect()
            })
            .unwrap_or_default();
        Self { schemas }
    }

    /// `schema` with a `$ref` at its top followed (a tool's schemas are
    /// objects at the top, not references), for looking at what it describes.
    pub(crate) fn followed<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut current = schema;
        // A chain of references longer than the components cannot be acyclic.
        for _ in 0..=self.schemas.len() {
            match component_name(current).and_then(|name| self.schemas.get(&name)) {
                Some(target) => current = target,
                None => return current,
            }
        }
        current
    }

    /// `top` (an object schema) with the definitions its references reach in
    /// `$defs`; the references in `top` and in them rewritten to point there.
    pub(crate) fn self_contained(&self, mut top: Value) -> Result<Map<String, Value>, String> {
        let mut wanted = Vec::new();
        rewrite(&mut top, &mut wanted)?;
        let mut definitions = Map::new();
        let mut seen = BTreeSet::new();
        while let Some(name) = wanted.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let mut definition = self.schemas.get(&name).cloned().ok_or_else(|| {
                format!("a $ref names the schema `{name}`, which the document does not define")
            })?;
            rewrite(&mut definition, &mut wanted)?;
            definitions.insert(name, definition);
        }
        let Value::Object(mut top) = top else {
            return Err("the schema is not an object".into());
        };
        if !definitions.is_empty() {
            top.insert("$defs".into(), Value::Object(definitions));
        }
        Ok(top)
    }
}

/// A schema as the JSON it is written in.
pub(crate) fn json(schema: &impl serde::Serialize) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Bool(true))
}

/// The component a `{"$ref": "#/components/schemas/Name"}` points at.
fn component_name(schema: &Value) -> Option<String> {
    let reference = schema.get("$ref")?.as_str()?;
    let escaped = reference.strip_prefix(COMPONENT_PREFIX)?;
    Some(escaped.replace("~1", "/").replace("~0", "~"))
}

/// Points every component reference at `#/$defs/…` and notes its name.
fn rewrite(schema: &mut Value, wanted: &mut Vec<String>) -> Result<(), String> {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                let Some(escaped) = reference.strip_prefix(COMPONENT_PREFIX) else {
                    return Err(format!(
                        "the $ref `{reference}` points outside #/components/schemas, which is not followed"
                    ));
                };
                let target = format!("#/$defs/{escaped}");
                wanted.push(escaped.replace("~1", "/").replace("~0", "~"));
                object.insert("$ref".into(), Value::String(target));
            }
            for (key, child) in object.iter_mut() {
                if !matches!(
                    key.as_str(),
                    "example" | "examples" | "default" | "enum" | "const"
                ) {
                    rewrite(child, wanted)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|item| rewrite(item, wanted)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn components(schemas: Value) -> Components {
        Components {
            schemas: schemas.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn references_are_copied_into_defs_once_even_when_recursive() {
        let components = components(json!({
            "Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "label": {"$ref": "#/components/schemas/Label"}
            }},
            "Label": {"type": "string"},
            "Unused": {"type": "integer"}
        }));
        let top = json!({"type": "object", "properties": {"root": {"$ref": "#/components/schemas/Node"}}});
        let schema = components.self_contained(top).unwrap();
        assert_eq!(schema["properties"]["root"]["$ref"], "#/$defs/Node");
        let defs = schema["$defs"].as_object().unwrap();
        assert_eq!(defs.keys().collect::<Vec<_>>(), ["Label", "Node"]);
        assert_eq!(
            defs["Node"]["properties"]["children"]["items"]["$ref"],
            "#/$defs/Node"
        );
        jsonschema::validator_for(&Value::Object(schema.clone())).unwrap();
        let valid = json!({"root": {"label": "a", "children": [{"label": "b", "children": []}]}});
        let invalid = json!({"root": {"label": 1}});
        let validator = jsonschema::validator_for(&Value::Object(schema)).unwrap();
        assert!(validator.is_valid(&valid));
        assert!(!validator.is_valid(&invalid));
    }

    #[test]
    fn a_reference_it_cannot_follow_is_an_error() {
        let components = components(json!({}));
        let missing = components
            .self_contained(json!({"$ref": "#/components/schemas/Nope"}))
            .unwrap_err();
        assert!(missing.contains("`Nope`"), "{missing}");
        let outside = components
            .self_contained(json!({"items": {"$ref": "other.yaml#/Pet"}}))
            .unwrap_err();
        assert!(outside.contains("other.yaml#/Pet"), "{outside}");
    }

    #[test]
    fn a_cycle_of_references_ends() {
        let components = components(json!({
            "A": {"$ref": "#/components/schemas/B"},
            "B": {"$ref": "#/components/schemas/A"}
        }));
        let a = json!({"$ref": "#/components/schemas/A"});
        assert!(components.followed(&a).get("$ref").is_some());
    }
}
