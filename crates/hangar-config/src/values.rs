//! Values used across sections: durations (`30s`), and headers or environment
//! variables that are literal or read from the gateway's own environment.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A header or environment variable: a literal `value`, or the value of the
/// gateway's own environment variable `valueFromEnv` (how Secrets reach the
/// gateway without being written into the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameValue {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from_env: Option<String>,
}

impl NameValue {
    pub fn literal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            value_from_env: None,
        }
    }

    /// The value, reading `environment` when asked to.
    pub fn resolve(&self, environment: &Environment) -> Result<String, String> {
        match (&self.value, &self.value_from_env) {
            (Some(value), None) => Ok(value.clone()),
            (None, Some(var)) => environment
                .var(var)
                .ok_or_else(|| format!("{}: environment variable {var} is not set", self.name)),
            _ => Err(format!(
                "{}: set exactly one of value and valueFromEnv",
                self.name
            )),
        }
    }
}

/// Where the names in `valueFromEnv`, `urlFromEnv` and the like are looked
/// up: the process's environment (where a pod's Secrets arrive), or a fixed
/// set of variables handed over explicitly (an embedding program, a test).
#[derive(Debug, Clone, Default)]
pub enum Environment {
    #[default]
    Process,
    Fixed(std::sync::Arc<std::collections::BTreeMap<String, String>>),
}

impl Environment {
    /// Exactly these variables, and nothing of the process's.
    pub fn fixed<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Self::Fixed(std::sync::Arc::new(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    pub fn var(&self, name: &str) -> Option<String> {
        match self {
            Self::Process => std::env::var(name).ok(),
            Self::Fixed(vars) => vars.get(name).cloned(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Process => std::env::var_os(name).is_some(),
            Self::Fixed(vars) => vars.contains_key(name),
        }
    }
}

/// A duration written as `<number><unit>` with unit `ms`, `s`, `m` or `h`, e.g. `30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration like 500ms, 30s, 5m or 1h"))?;
        let seconds = |per_unit: u64| {
            value
                .checked_mul(per_unit)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("`{text}` is too long a duration"))
        };
        let duration = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => seconds(60)?,
            "h" => seconds(3600)?,
            _ => {
                return Err(format!(
                    "`{text}` is not a duration like 500ms, 30s, 5m or 1h"
                ));
            }
        };
        Ok(DurationSpec(duration))
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DurationSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(ms|s|m|h)$",
            "description": "A duration such as 500ms, 30s, 5m or 1h."
        })
    }
}

pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn is_true(value: &bool) -> bool {
    *value
}

pub(crate) fn check_http_url(url: &str, at: &str, problems: &mut Vec<String>) {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
        _ => problems.push(format!(
            "{at}: `{url}` is not an absolute http:// or https:// URL"
        )),
    }
}

pub(crate) fn check_name_values(values: &[NameValue], at: &str, problems: &mut Vec<String>) {
    for (i, value) in values.iter().enumerate() {
        if value.name.trim().is_empty() {
            problems.push(format!("{at}[{i}].name: must not be empty"));
        }
        if value.value.is_some() == value.value_from_env.is_some() {
            problems.push(format!(
                "{at}[{i}] ({}): set exactly one of value and valueFromEnv",
                value.name
            ));
        }
    }
}

pub(crate) fn check_timeout(timeout: Option<DurationSpec>, at: &str, problems: &mut Vec<String>) {
    if timeout.is_some_and(|t| t.0.is_zero()) {
        problems.push(format!("{at}: must be longer than 0"));
    }
}
