//! Fields a manifest sets that the API does not have, found by walking the
//! document beside the kind's generated CRD schema: exactly what the API
//! server would prune, and what `kubectl --validate=strict` refuses.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

/// Each Hangar kind's `openAPIV3Schema`, as the CRDs in `deploy/crds` carry it.
static SCHEMAS: LazyLock<HashMap<String, Value>> = LazyLock::new(|| {
    hangar_api::crds()
        .into_iter()
        .filter_map(|crd| {
            let kind = crd.spec.names.kind.clone();
            let schema = crd.spec.versions.first()?.schema.as_ref()?;
            let schema = serde_json::to_value(schema.open_api_v3_schema.as_ref()?).ok()?;
            Some((kind, schema))
        })
        .collect()
});

/// The fields of `metadata` (ObjectMeta), which the CRD schemas leave open.
const OBJECT_META: [&str; 15] = [
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// Paths (`spec.healthCheck.timeoutt`, `spec.env[0].nmae`) of the fields of a
/// `kind` object that its schema does not declare, sorted.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let (Some(schema), Some(fields)) = (SCHEMAS.get(kind), object.as_object()) {
        for (key, value) in fields {
            match schema["properties"].get(key) {
                Some(field_schema) => walk(value, field_schema, key, &mut unknown),
                // Every object has these; the CRD schemas leave them implicit.
                None if ["apiVersion", "kind", "metadata"].contains(&key.as_str()) => {}
                None => unknown.push(key.clone()),
            }
        }
    }
    if let Some(metadata) = object.get("metadata").and_then(Value::as_object) {
        unknown.extend(
            metadata
                .keys()
                .filter(|key| !OBJECT_META.contains(&key.as_str()))
                .map(|key| format!("metadata.{key}")),
        );
    }
    unknown.sort();
    unknown
}

fn walk(value: &Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    let open = schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true);
    match value {
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, field) in map {
                let child = join(path, key);
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(field_schema), _) | (None, Some(field_schema)) => {
                        walk(field, field_schema, &child, unknown)
                    }
                    // An object the schema does not describe further.
                    (None, None) if open || properties.is_none() => {}
                    (None, None) => unknown.push(child),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    walk(item, item_schema, &format!("{path}[{index}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(kind: &str, yaml: &str) -> Vec<String> {
        unknown_fields(kind, &serde_saphyr::from_str(yaml).unwrap())
    }

    #[test]
    fn typos_are_found_at_every_depth_and_open_fields_are_left_alone() {
        let found = unknown(
            "MCPServer",
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: s, lables: {a: b}, labels: {free: form}}
spec:
  image: x
  imagee: y
  env: [{name: A, value: b}, {nmae: B}]
  healthCheck: {timeoutt: 5s, interval: 10s}
  nodeSelector: {any-key: allowed}
  resources: {limits: {cpu: "1"}}
status: {state: Ready}
"#,
        );
        assert_eq!(
            found,
            [
                "metadata.lables",
                "spec.env[1].nmae",
                "spec.healthCheck.timeoutt",
                "spec.imagee",
            ]
        );
    }

    #[test]
    fn schemas_with_preserved_fields_accept_anything_inside() {
        let found = unknown(
            "MCPTool",
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: t}
spec:
  backend: {url: "http://x"}
  inputSchema: {type: object, properties: {q: {type: string, whatever: 1}}}
"#,
        );
        assert!(found.is_empty(), "{found:?}");
        assert!(SCHEMAS.len() == 9, "one schema per kind");
    }
}
