//! Text to a typed document: JSON or YAML, OpenAPI 3.0 brought to 3.1.

use serde_json::{Map, Value};

use crate::MAX_DOCUMENT_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document is {0} bytes; at most {MAX_DOCUMENT_BYTES} are read")]
    TooLarge(usize),
    #[error("the document is neither JSON nor YAML: {0}")]
    Syntax(String),
    #[error(
        "the document says `openapi: {0}`; OpenAPI 3.0 and 3.1 are read (a Swagger 2.0 document converts to 3.0 with swagger2openapi)"
    )]
    Version(String),
    #[error("not an OpenAPI document: {0}")]
    Shape(String),
}

pub(crate) fn parse(text: &str) -> Result<oas3::Spec, DocumentError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge(text.len()));
    }
    let mut value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        // JSON is YAML too, but a JSON parser says better what is wrong with JSON.
        Err(json) if text.trim_start().starts_with('{') => {
            return Err(DocumentError::Syntax(json.to_string()));
        }
        Err(_) => serde_saphyr::from_str(text).map_err(|e| DocumentError::Syntax(e.to_string()))?,
    };
    let version = match value.get("openapi") {
        Some(Value::String(version)) => version.clone(),
        Some(other) => return Err(DocumentError::Version(other.to_string())),
        None => match value.get("swagger") {
            Some(swagger) => return Err(DocumentError::Version(format!("swagger {swagger}"))),
            None => return Err(DocumentError::Shape("it has no `openapi` field".into())),
        },
    };
    if version.starts_with("3.0") {
        upgrade(&mut value);
    } else if !version.starts_with("3.1") {
        return Err(DocumentError::Version(version));
    }
    serde_json::from_value(value).map_err(|e| DocumentError::Shape(e.to_string()))
}

/// Keys whose values are data, not schemas: an upgrade leaves them as written.
const DATA_KEYS: &[&str] = &["example", "examples", "default", "enum", "const"];

/// OpenAPI 3.0's schema dialect in 3.1's (JSON Schema 2020-12) words:
/// `nullable: true` becomes a `null` in `type`, and a boolean
/// `exclusiveMinimum`/`exclusiveMaximum` takes the bound's number.
fn upgrade(value: &mut Value) {
    match value {
        Value::Object(object) => {
            upgrade_schema_words(object);
            for (key, child) in object.iter_mut() {
                if !DATA_KEYS.contains(&key.as_str()) {
                    upgrade(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(upgrade),
        _ => {}
    }
}

fn upgrade_schema_words(object: &mut Map<String, Value>) {
    if let Some(Value::Bool(nullable)) = object.get("nullable").cloned() {
        object.remove("nullable");
        if nullable && let Some(Value::String(single)) = object.get("type").cloned() {
            object.insert("type".into(), Value::from(vec![single, "null".to_string()]));
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(is_exclusive)) = object.get(exclusive).cloned() {
            object.remove(exclusive);
            if is_exclusive && let Some(limit) = object.remove(bound) {
                object.insert(exclusive.into(), limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_3_0_schema_words_become_3_1_words() {
        let mut document = json!({
            "components": {"schemas": {"Price": {
                "type": "number", "nullable": true,
                "minimum": 0, "exclusiveMinimum": true,
                "maximum": 10, "exclusiveMaximum": false,
                "example": {"nullable": true}
            }}}
        });
        upgrade(&mut document);
        assert_eq!(
            document["components"]["schemas"]["Price"],
            json!({
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": 10,
                "example": {"nullable": true}
            })
        );
    }

    #[test]
    fn what_is_not_openapi_3_says_what_it_is() {
        let swagger = parse("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n");
        assert!(
            matches!(&swagger, Err(DocumentError::Version(v)) if v.contains("swagger")),
            "{swagger:?}"
        );
        assert!(matches!(
            parse("openapi: 4.0.0\n"),
            Err(DocumentError::Version(_))
        ));
        assert!(matches!(
            parse("{\"openapi\": "),
            Err(DocumentError::Syntax(_))
        ));
        assert!(matches!(parse("- a list\n"), Err(DocumentError::Shape(_))));
        assert!(matches!(
            parse("openapi: 3.1.0\npaths: {}\n"),
            Err(DocumentError::Shape(_))
        ));
    }
}
