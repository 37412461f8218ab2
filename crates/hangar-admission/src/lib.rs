//! Judges an object against the CustomResourceDefinitions as the API server
//! does when it is created, so that a laptop (`hangar render`, `hangar up`)
//! and a cluster refuse the same manifests with the same words.
//!
//! In the API server's order: fields the schema does not have are pruned,
//! defaults are filled in, the OpenAPI schema is checked (types, enums,
//! bounds, patterns, formats, required fields, list keys), and then the CEL
//! rules (`x-kubernetes-validations`) run, unless a schema error already makes
//! them meaningless. Each error is worded as the API server words it,
//! `<field path>: <reason>: <detail>`.

mod rules;

use std::collections::HashMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use serde_json::{Map, Value};

/// The schemas of a set of CRDs, by kind.
pub struct Admission {
    kinds: HashMap<String, Kind>,
}

struct Kind {
    schema: JSONSchemaProps,
    /// The scale subresource's `specReplicasPath` (`.spec.replicas`), which
    /// the API server checks on its own.
    spec_replicas: Option<String>,
}

impl Admission {
    /// Takes each CRD's storage version's schema.
    pub fn new(crds: &[CustomResourceDefinition]) -> Self {
        let kinds = crds
            .iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.iter().find(|v| v.storage)?;
                let schema = version.schema.as_ref()?.open_api_v3_schema.clone()?;
                let spec_replicas = version
                    .subresources
                    .as_ref()
                    .and_then(|s| s.scale.as_ref())
                    .map(|scale| scale.spec_replicas_path.clone());
                let kind = Kind {
                    schema,
                    spec_replicas,
                };
                Some((crd.spec.names.kind.clone(), kind))
            })
            .collect();
        Admission { kinds }
    }

    /// Prunes and defaults `object` in place, as it would be stored, and
    /// returns every error the API server would give creating it (none when
    /// it would be accepted). `metadata` is the API server's own and `status`
    /// is dropped on create, so neither is judged.
    pub fn admit(&self, object: &mut Value) -> Vec<String> {
        let Some(fields) = object.as_object_mut() else {
            return vec!["<nil>: Invalid value: the object is not a map".into()];
        };
        let kind = fields
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(Kind {
            schema,
            spec_replicas,
        }) = self.kinds.get(kind)
        else {
            return vec![format!("kind: Unsupported value: {kind:?}")];
        };
        fields.remove("status");
        // The API server's own fields, never pruned; metadata is judged apart.
        let own: Vec<(String, Value)> = ["apiVersion", "kind", "metadata"]
            .into_iter()
            .filter_map(|name| Some((name.to_string(), fields.remove(name)?)))
            .collect();
        let mut judged = Value::Object(std::mem::take(fields));
        prune_and_default(&mut judged, schema);
        let mut errors = Vec::new();
        check(&judged, schema, &Path::root(), &mut errors);
        if let Some(path) = spec_replicas
            && let Some(replicas) = judged.pointer(&path.replace('.', "/"))
            && !replicas
                .as_i64()
                .is_some_and(|r| (0..=i64::from(i32::MAX)).contains(&r))
        {
            errors.push(Error {
                text: format!(
                    "{path}: Invalid value: {replicas}: should be a non-negative integer"
                ),
                blocks_rules: false,
            });
        }
        if !errors.iter().any(|e| e.blocks_rules) {
            rules::check(&judged, schema, &Path::root(), &mut errors);
        } else {
            // The API server's words when schema errors stop the rules.
            errors.push(Error {
                text: "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
                blocks_rules: true,
            });
        }
        if let Value::Object(mut stored) = judged {
            stored.extend(own);
            *fields = stored;
        }
        errors.into_iter().map(|e| e.text).collect()
    }
}

/// One error, and whether the API server skips the CEL rules because of it
/// (wrong types, unsupported values, missing fields, too long or too many).
struct Error {
    text: String,
    blocks_rules: bool,
}

/// A field path as the API server prints it: `spec.headers[0].name`.
#[derive(Clone)]
pub(crate) struct Path(String);

impl Path {
    fn root() -> Self {
        Path(String::new())
    }

    fn field(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }

    fn key(&self, key: &str) -> Self {
        Path(format!("{}[{key}]", self.0))
    }

    /// A rule's `fieldPath` (`.timeout`, `.items[1]`) below this one.
    fn join(&self, relative: &str) -> Self {
        let relative = relative.trim_start_matches('.');
        if self.0.is_empty() {
            Path(relative.to_string())
        } else if relative.starts_with('[') {
            Path(format!("{}{relative}", self.0))
        } else {
            Path(format!("{}.{relative}", self.0))
        }
    }

    fn text(&self) -> &str {
        if self.0.is_empty() { "<nil>" } else { &self.0 }
    }
}

fn items(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.items.as_ref()? {
        JSONSchemaPropsOrArray::Schema(items) => Some(items),
        JSONSchemaPropsOrArray::Schemas(all) => all.first(),
    }
}

fn additional(schema: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    match schema.additional_properties.as_ref()? {
        JSONSchemaPropsOrBool::Schema(values) => Some(values),
        JSONSchemaPropsOrBool::Bool(_) => None,
    }
}

fn preserves_unknown(schema: &JSONSchemaProps) -> bool {
    schema.x_kubernetes_preserve_unknown_fields == Some(true)
        || matches!(
            schema.additional_properties,
            Some(JSONSchemaPropsOrBool::Bool(true))
        )
}

/// Drops what the schema does not have and fills in defaults, top down (a
/// default filled in is itself defaulted further down), as the API server
/// stores the object. A null in a field that is not nullable and has a
/// default takes the default.
fn prune_and_default(value: &mut Value, schema: &JSONSchemaProps) {
    match value {
        Value::Object(fields) => {
            if let Some(properties) = &schema.properties {
                if !preserves_unknown(schema) && additional(schema).is_none() {
                    fields.retain(|name, _| properties.contains_key(name));
                }
                for (name, property) in properties {
                    let nullable = property.nullable == Some(true);
                    match (fields.get(name), &property.default) {
                        (None, Some(default)) => {
                            fields.insert(name.clone(), default.0.clone());
                        }
                        (Some(Value::Null), Some(default)) if !nullable => {
                            fields.insert(name.clone(), default.0.clone());
                        }
                        _ => {}
                    }
                    if let Some(field) = fields.get_mut(name) {
                        prune_and_default(field, property);
                    }
                }
            } else if let Some(values) = additional(schema) {
                for field in fields.values_mut() {
                    prune_and_default(field, values);
                }
            }
        }
        Value::Array(elements) => {
            if let Some(items) = items(schema) {
                for element in elements {
                    prune_and_default(element, items);
                }
            }
        }
        _ => {}
    }
}

/// Go's `%q`/JSON rendering of a value in a message.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => type_name(value).to_string(),
        other => other.to_string(),
    }
}

/// The JSON type name, as the API server names a wrong one.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, schema: &JSONSchemaProps) -> bool {
    if schema.x_kubernetes_int_or_string == Some(true) {
        return matches!(value, Value::String(_)) || type_name(value) == "integer";
    }
    match schema.type_.as_deref() {
        None | Some("") => true,
        Some("number") => value.is_number(),
        Some(expected) => type_name(value) == expected,
    }
}

/// The OpenAPI checks, depth first.
fn check(value: &Value, schema: &JSONSchemaProps, path: &Path, errors: &mut Vec<Error>) {
    let at = path.text();
    let mut push = |text: String, blocks_rules: bool| errors.push(Error { text, blocks_rules });
    let invalid = |detail: String| format!("{at}: Invalid value: {}: {detail}", shown(value));
    if value.is_null() && schema.nullable == Some(true) {
        return;
    }
    if !has_type(value, schema) {
        let expected = schema.type_.as_deref().unwrap_or("integer or string");
        // The API server shows the type it found, not the value.
        let actual = type_name(value);
        let detail = format!("{at} in body must be of type {expected}: {actual:?}");
        push(format!("{at}: Invalid value: {actual:?}: {detail}"), true);
        return;
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.iter().any(|a| a.0 == *value)
    {
        let supported: Vec<String> = allowed.iter().map(|a| a.0.to_string()).collect();
        let supported = supported.join(", ");
        push(
            format!(
                "{at}: Unsupported value: {}: supported values: {supported}",
                shown(value)
            ),
            true,
        );
    }
    match value {
        Value::Number(number) => {
            let n = number.as_f64().unwrap_or_default();
            if let Some(min) = schema.minimum {
                if schema.exclusive_minimum == Some(true) && n <= min {
                    push(
                        invalid(format!("{at} in body should be greater than {min}")),
                        false,
                    );
                } else if n < min {
                    push(
                        invalid(format!(
                            "{at} in body should be greater than or equal to {min}"
                        )),
                        false,
                    );
                }
            }
            if let Some(max) = schema.maximum {
                if schema.exclusive_maximum == Some(true) && n >= max {
                    push(
                        invalid(format!("{at} in body should be less than {max}")),
                        false,
                    );
                } else if n > max {
                    push(
                        invalid(format!(
                            "{at} in body should be less than or equal to {max}"
                        )),
                        false,
                    );
                }
            }
        }
        Value::String(text) => {
            let length = text.chars().count() as i64;
            if let Some(min) = schema.min_length
                && length < min
            {
                push(
                    invalid(format!("{at} in body should be at least {min} chars long")),
                    false,
                );
            }
            if let Some(max) = schema.max_length
                && length > max
            {
                push(
                    format!("{at}: Too long: may not be more than {max} bytes"),
                    true,
                );
            }
            if let Some(pattern) = &schema.pattern
                && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
            {
                push(
                    invalid(format!("{at} in body should match '{pattern}'")),
                    false,
                );
            }
            if let Some(format) = schema.format.as_deref()
                && !formatted(format, text)
            {
                push(
                    invalid(format!(
                        "{at} in body must be of type {format}: {}",
                        shown(value)
                    )),
                    false,
                );
            }
        }
        Value::Array(elements) => {
            let count = elements.len() as i64;
            if let Some(min) = schema.min_items
                && count < min
            {
                push(
                    format!(
                        "{at}: Invalid value: {count}: {at} in body should have at least {min} items"
                    ),
                    false,
                );
            }
            if let Some(max) = schema.max_items
                && count > max
            {
                push(
                    format!("{at}: Too many: {count}: must have at most {max} items"),
                    true,
                );
            }
            duplicates(elements, schema, path, errors);
            if let Some(items) = items(schema) {
                for (i, element) in elements.iter().enumerate() {
                    check(element, items, &path.index(i), errors);
                }
            }
        }
        Value::Object(fields) => {
            for name in schema.required.iter().flatten() {
                if !fields.contains_key(name) {
                    push(format!("{}: Required value", path.field(name).text()), true);
                }
            }
            for (name, field) in fields {
                if let Some(property) = schema.properties.as_ref().and_then(|p| p.get(name)) {
                    check(field, property, &path.field(name), errors);
                } else if let Some(values) = additional(schema) {
                    check(field, values, &path.key(name), errors);
                }
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// The string formats the API server checks (others, like `int32`, are
/// documentation only).
fn formatted(format: &str, text: &str) -> bool {
    match format {
        "byte" => base64_standard(text),
        "date-time" => date_time(text),
        _ => true,
    }
}

fn base64_standard(text: &str) -> bool {
    let bytes = text.as_bytes();
    let body = text.trim_end_matches('=');
    bytes.len().is_multiple_of(4)
        && bytes.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// RFC 3339, as Go's `strfmt.DateTime` takes it.
fn date_time(text: &str) -> bool {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
        .is_ok_and(|re| re.is_match(text))
}

/// `x-kubernetes-list-type: set` and `map`: no two elements with the same
/// value, or the same keys.
fn duplicates(elements: &[Value], schema: &JSONSchemaProps, path: &Path, errors: &mut Vec<Error>) {
    let key_of = |element: &Value| -> Option<Value> {
        match schema.x_kubernetes_list_type.as_deref() {
            Some("set") => Some(element.clone()),
            Some("map") => {
                let keys = schema.x_kubernetes_list_map_keys.as_ref()?;
                let object = element.as_object()?;
                let picked: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| Some((k.clone(), object.get(k)?.clone())))
                    .collect();
                Some(Value::Object(picked))
            }
            _ => None,
        }
    };
    let mut seen = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        let Some(key) = key_of(element) else { continue };
        if seen.contains(&key) {
            errors.push(Error {
                text: format!("{}: Duplicate value: {key}", path.index(i).text()),
                blocks_rules: false,
            });
        } else {
            seen.push(key);
        }
    }
}
