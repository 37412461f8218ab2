//! The CEL rules of a schema (`x-kubernetes-validations`), with the
//! Kubernetes library functions they use that the `cel` crate lacks.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use cel::extractors::This;
use cel::{Context, Env, ExecutionError, Program, Value as Cel};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps;
use serde_json::Value;

use crate::{Error, Path, additional, items};

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Runs every rule of `schema` on `value`, and of its children on theirs.
pub(crate) fn check(value: &Value, schema: &JSONSchemaProps, path: &Path, errors: &mut Vec<Error>) {
    if value.is_null() {
        return;
    }
    for rule in schema.x_kubernetes_validations.iter().flatten() {
        // A transition rule compares with the stored object: the API server
        // does not run it on create, and neither do we.
        if rule.rule.contains("oldSelf") {
            continue;
        }
        let at = match &rule.field_path {
            Some(relative) => path.join(relative),
            None => path.clone(),
        };
        // The API server shows a scalar that failed, not a map or a list.
        let failed = |detail: String| Error {
            text: match value {
                Value::Object(_) | Value::Array(_) => {
                    format!("{}: Invalid value: {detail}", at.text())
                }
                scalar => format!("{}: Invalid value: {scalar}: {detail}", at.text()),
            },
            blocks_rules: false,
        };
        match evaluate(&rule.rule, value) {
            Ok(true) => {}
            Ok(false) => errors.push(failed(match &rule.message {
                Some(message) if !message.is_empty() => message.clone(),
                _ => format!("failed rule: {}", rule.rule),
            })),
            Err(error) => errors.push(failed(error)),
        }
    }
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                if let Some(property) = schema.properties.as_ref().and_then(|p| p.get(name)) {
                    check(field, property, &path.field(name), errors);
                } else if let Some(values) = additional(schema) {
                    check(field, values, &path.key(name), errors);
                }
            }
        }
        Value::Array(elements) => {
            if let Some(items) = items(schema) {
                for (i, element) in elements.iter().enumerate() {
                    check(element, items, &path.index(i), errors);
                }
            }
        }
        _ => {}
    }
}

fn evaluate(rule: &str, value: &Value) -> Result<bool, String> {
    let program: Program = ENV
        .compile(rule)
        .map_err(|e| format!("compilation failed: {e}"))?;
    let mut context = Context::with_env(ENV.clone());
    context.add_variable_from_value("self", to_cel(value));
    library(&mut context).map_err(|e| format!("compilation failed: {e:?}"))?;
    match program.execute(&context) {
        Ok(Cel::Bool(verdict)) => Ok(verdict),
        Ok(other) => Err(format!("rule did not evaluate to a boolean: {other:?}")),
        Err(error) => Err(format!("rule evaluation error: {error}")),
    }
}

/// JSON as the API server hands it to CEL: integers as `int`, maps with
/// string keys.
fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(elements) => Cel::List(Arc::new(elements.iter().map(to_cel).collect())),
        Value::Object(fields) => {
            let map: std::collections::HashMap<String, Cel> = fields
                .iter()
                .map(|(name, field)| (name.clone(), to_cel(field)))
                .collect();
            Cel::Map(map.into())
        }
    }
}

/// The Kubernetes CEL library functions our rules use, which the crate lacks. A `url(...)` value is
/// carried as its text, which `getScheme()` parses again.
fn library(context: &mut Context) -> Result<(), cel::DeclarationError> {
    // Go's `time.ParseDuration`, `µs` included (the crate's lacks it), as
    // nanoseconds: our rules only compare durations.
    context.add_function("duration", |text: Arc<String>| {
        hangar_api::Duration::new(text.as_str())
            .to_std()
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .map(Cel::Int)
            .ok_or_else(|| {
                ExecutionError::function_error("duration", format!("invalid duration {text:?}"))
            })
    })?;
    context.add_function("isURL", |text: Arc<String>| request_uri(&text).is_some())?;
    context.add_function("url", |text: Arc<String>| match request_uri(&text) {
        Some(_) => Ok(Cel::String(text)),
        None => Err(ExecutionError::function_error(
            "url",
            format!("URL parse error: {text:?}"),
        )),
    })?;
    context.add_function("getScheme", |This(text): This<Arc<String>>| {
        request_uri(&text).unwrap_or_default()
    })?;
    context.add_function("isIP", |text: Arc<String>| text.parse::<IpAddr>().is_ok())?;
    context.add_function("isCIDR", |text: Arc<String>| cidr(&text))?;
    Ok(())
}

/// Go's `url.ParseRequestURI`, which `isURL` and `url` use: an absolute URL or
/// an absolute path. The scheme comes back lowercased, as Go gives it.
fn request_uri(text: &str) -> Option<String> {
    if text.starts_with('/') {
        return Some(String::new());
    }
    url::Url::parse(text).ok().map(|u| u.scheme().to_string())
}

fn cidr(text: &str) -> bool {
    let Some((address, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let limit = if address.is_ipv4() { 32 } else { 128 };
    !bits.starts_with('+') && bits.parse::<u8>().is_ok_and(|b| b <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_functions_answer_as_the_api_server() {
        let yes = |rule: &str, value: Value| evaluate(rule, &value);
        assert_eq!(
            yes("duration(self) > duration('0s')", "250µs".into()),
            Ok(true)
        );
        assert_eq!(
            yes(
                "isURL(self) && url(self).getScheme() in ['http', 'https']",
                "HTTPS://x.example.com/mcp".into()
            ),
            Ok(true)
        );
        assert_eq!(yes("isURL(self)", "x.example.com".into()), Ok(false));
        assert_eq!(
            yes(
                "self.all(p, isIP(p) || isCIDR(p))",
                serde_json::json!(["10.0.0.0/8", "::1", "fd00::/129"])
            ),
            Ok(false)
        );
        assert_eq!(
            yes(
                "self.all(p, isIP(p) || isCIDR(p))",
                serde_json::json!(["10.0.0.0/8", "::1", "fd00::/64"])
            ),
            Ok(true)
        );
    }
}
