//! Taking fields out of a source object, so that whatever no mapping took is
//! reported instead of lost.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::Unmapped;

/// What a mapping found besides the object it built.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Findings {
    pub unmapped: Vec<Unmapped>,
    pub notes: Vec<String>,
}

impl Findings {
    pub fn unmapped(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.unmapped.push(Unmapped {
            path: path.into(),
            reason: reason.into(),
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

/// A source value of the wrong type: the object cannot be converted.
pub(crate) type Invalid = String;
pub(crate) type Result<T> = std::result::Result<T, Invalid>;

/// Reported for fields no mapping knows.
const UNKNOWN: &str = "not a field Hangar has an equivalent for";

/// The fields of one object of the source, at `path`. Each accessor removes
/// the field it returns; [`Fields::finish`] reports the rest.
#[derive(Debug)]
pub(crate) struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    /// The object at `path`; `null` or absent is an empty object.
    pub fn new(path: impl Into<String>, value: Option<Value>) -> Result<Fields> {
        let path = path.into();
        match value {
            None | Some(Value::Null) => Ok(Fields {
                path,
                map: Map::new(),
            }),
            Some(Value::Object(map)) => Ok(Fields { path, map }),
            Some(_) => Err(format!("{path} must be an object")),
        }
    }

    /// The path of field `key` of this object.
    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The path of this object.
    pub fn here(&self) -> &str {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The raw value; `null` counts as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|value| !value.is_null())
    }

    pub fn string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("{} must be a string", self.path(key))),
        }
    }

    /// A string that may not be empty (an empty one counts as absent, as Go's `omitempty` writes it).
    pub fn text(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self.string(key)?.filter(|text| !text.is_empty()))
    }

    pub fn integer(&mut self, key: &str) -> Result<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("{} must be an integer", self.path(key))),
        }
    }

    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(flag)),
            Some(_) => Err(format!("{} must be true or false", self.path(key))),
        }
    }

    pub fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>> {
        let path = self.path(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    _ => Err(format!("{path} must be a list of strings")),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(format!("{path} must be a list of strings")),
        }
    }

    /// A map of strings (labels, node selectors, env maps), in key order.
    pub fn string_map(&mut self, key: &str) -> Result<Option<BTreeMap<String, String>>> {
        let path = self.path(key);
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(text) => Ok((k, text)),
                    Value::Number(n) => Ok((k, n.to_string())),
                    Value::Bool(b) => Ok((k, b.to_string())),
                    _ => Err(format!("{path}.{k} must be a string")),
                })
                .collect::<Result<BTreeMap<_, _>>>()
                .map(Some),
            Some(_) => Err(format!("{path} must be a map of strings")),
        }
    }

    /// A nested object, whose leftovers the caller reports with [`Fields::finish`].
    pub fn object(&mut self, key: &str) -> Result<Option<Fields>> {
        let path = self.path(key);
        match self.take(key) {
            None => Ok(None),
            value => Fields::new(path, value).map(Some),
        }
    }

    /// A list of objects, each with its own path (`spec.volumes[2]`).
    pub fn objects(&mut self, key: &str) -> Result<Vec<Fields>> {
        let path = self.path(key);
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(index, item)| Fields::new(format!("{path}[{index}]"), Some(item)))
                .collect(),
            Some(_) => Err(format!("{path} must be a list")),
        }
    }

    /// A list, taken as it is (for Kubernetes types Hangar uses unchanged).
    pub fn list(&mut self, key: &str) -> Result<Option<Vec<Value>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(format!("{} must be a list", self.path(key))),
        }
    }

    /// Reports `key`, when present, as not carried over.
    pub fn drop(&mut self, key: &str, reason: &str, findings: &mut Findings) {
        if self.take(key).is_some() {
            findings.unmapped(self.path(key), reason);
        }
    }

    /// Like [`Fields::drop`], except when the value asks for what Hangar does
    /// anyway (e.g. `successThreshold: 1`): then the field's equivalent is
    /// Hangar's fixed behaviour, and nothing is lost.
    pub fn drop_unless(
        &mut self,
        key: &str,
        hangar_behaviour: impl Fn(&Value) -> bool,
        reason: &str,
        findings: &mut Findings,
    ) {
        if let Some(value) = self.take(key)
            && !hangar_behaviour(&value)
        {
            findings.unmapped(self.path(key), reason);
        }
    }

    /// Reports every field still here (`null` is no value, as Kubernetes treats it).
    pub fn finish(self, findings: &mut Findings) {
        for (key, _) in self.map.iter().filter(|(_, value)| !value.is_null()) {
            findings.unmapped(self.path(key), UNKNOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_not_taken_is_reported_with_its_path() {
        let mut findings = Findings::default();
        let mut spec = Fields::new(
            "spec",
            Some(json!({"image": "x", "replicas": 2, "extra": {"a": 1}, "nothing": null})),
        )
        .unwrap();
        assert_eq!(spec.string("image").unwrap().as_deref(), Some("x"));
        assert_eq!(spec.integer("replicas").unwrap(), Some(2));
        spec.finish(&mut findings);
        assert_eq!(
            findings.unmapped,
            [Unmapped {
                path: "spec.extra".into(),
                reason: UNKNOWN.into()
            }]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut spec = Fields::new("spec", Some(json!({"port": "80", "args": [1]}))).unwrap();
        assert_eq!(
            spec.integer("port").unwrap_err(),
            "spec.port must be an integer"
        );
        assert_eq!(
            spec.strings("args").unwrap_err(),
            "spec.args must be a list of strings"
        );
        assert_eq!(
            Fields::new("spec", Some(json!([]))).unwrap_err(),
            "spec must be an object"
        );
    }

    #[test]
    fn hangar_behaviour_is_not_reported() {
        let mut findings = Findings::default();
        let mut spec =
            Fields::new("spec", Some(json!({"successThreshold": 1, "halfOpen": 3}))).unwrap();
        spec.drop_unless("successThreshold", |v| *v == 1, "why", &mut findings);
        spec.drop_unless("halfOpen", |v| *v == 1, "why", &mut findings);
        assert_eq!(findings.unmapped.len(), 1);
        assert_eq!(findings.unmapped[0].path, "spec.halfOpen");
    }
}
