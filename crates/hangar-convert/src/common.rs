//! What every mapping needs: metadata, image references, the output object,
//! and the check that it is a valid Hangar object.

use hangar_api::{
    MCPDiscoverySource, MCPGateway, MCPPrompt, MCPResource, MCPServer, MCPServerGroup, MCPTool,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::fields::{Findings, Result};

/// The annotation `kubectl apply` keeps the previous manifest in; it describes the old object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A JSON object being built, in key order once written out.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Out(Map<String, Value>);

impl Out {
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    pub fn set_some<T: Into<Value>>(&mut self, key: &str, value: Option<T>) {
        if let Some(value) = value {
            self.set(key, value);
        }
    }

    /// Appends to the list at `key`, creating it.
    pub fn push(&mut self, key: &str, item: Value) {
        let entry = self
            .0
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(item);
        }
    }

    pub fn extend(&mut self, key: &str, items: impl IntoIterator<Item = Value>) {
        for item in items {
            self.push(key, item);
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// The metadata a converted object keeps: name, namespace, labels and
/// annotations. What the API server or the old operator wrote (uid,
/// resourceVersion, managedFields, finalizers, owner references, …) describes
/// the old object and is left behind.
pub(crate) fn metadata(document: &Value, findings: &mut Findings) -> Out {
    let source = &document["metadata"];
    let mut out = Out::default();
    for key in ["name", "namespace", "labels"] {
        if let Some(value) = source.get(key).filter(|v| !v.is_null()) {
            out.set(key, value.clone());
        }
    }
    if let Some(Value::Object(annotations)) = source.get("annotations") {
        let kept: Map<String, Value> = annotations
            .iter()
            .filter(|(key, _)| key.as_str() != LAST_APPLIED)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            out.set("annotations", Value::Object(kept));
        }
    }
    for (key, what) in [
        ("finalizers", "finalizers"),
        ("ownerReferences", "owner references"),
    ] {
        if source
            .get(key)
            .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            findings.note(format!(
                "metadata.{key}: the old object's {what} belong to its operator and are not carried over"
            ));
        }
    }
    out
}

/// Adds a label to the metadata being built.
pub(crate) fn add_label(metadata: &mut Out, key: &str, value: &str) {
    let mut labels = match metadata.get("labels") {
        Some(Value::Object(labels)) => labels.clone(),
        _ => Map::new(),
    };
    labels.insert(key.to_string(), Value::from(value));
    metadata.set("labels", Value::Object(labels));
}

/// An `mcp-hangar.io/v1alpha1` object.
pub(crate) fn hangar_object(kind: &str, metadata: Out, spec: Out) -> Value {
    json!({
        "apiVersion": format!("{}/{}", hangar_api::GROUP, hangar_api::VERSION),
        "kind": kind,
        "metadata": metadata.into_value(),
        "spec": spec.into_value(),
    })
}

/// Splits an image reference into Hangar's `image` and `tag` (a tag, or a
/// `sha256:` digest): `ghcr.io/a/b:1.2` → (`ghcr.io/a/b`, `1.2`);
/// `localhost:5000/b` has no tag.
pub(crate) fn split_image(reference: &str) -> Result<(String, Option<String>)> {
    if let Some((name, digest)) = reference.split_once('@') {
        if !digest.starts_with("sha256:") {
            return Err(format!(
                "image {reference:?}: Hangar pins images by sha256 digest only"
            ));
        }
        // `name:tag@digest`: the digest decides what runs.
        let (name, _tag) = split_tag(name);
        return Ok((name.to_string(), Some(digest.to_string())));
    }
    let (name, tag) = split_tag(reference);
    Ok((name.to_string(), tag.map(str::to_string)))
}

fn split_tag(reference: &str) -> (&str, Option<&str>) {
    match reference.rfind(':') {
        Some(colon) if !reference[colon + 1..].contains('/') => {
            (&reference[..colon], Some(&reference[colon + 1..]))
        }
        _ => (reference, None),
    }
}

/// Sets `image` and, when the reference has one, `tag`.
pub(crate) fn set_image(spec: &mut Out, reference: &str) -> Result<()> {
    let (image, tag) = split_image(reference)?;
    spec.set("image", image);
    spec.set_some("tag", tag);
    Ok(())
}

/// Resource requirements without empty `requests`/`limits` maps (which Go
/// operators write for unset structs); `None` when nothing is left. An empty
/// map would replace Hangar's default requests and limits with none.
pub(crate) fn resources(value: Option<Value>) -> Option<Value> {
    let Some(Value::Object(mut map)) = value else {
        return value;
    };
    map.retain(|_, v| !(v.is_null() || v.as_object().is_some_and(|m| m.is_empty())));
    (!map.is_empty()).then_some(Value::Object(map))
}

/// An environment map (`NAME: value`) as Kubernetes' list, in name order.
pub(crate) fn env_list(env: std::collections::BTreeMap<String, String>) -> Vec<Value> {
    env.into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect()
}

/// An environment variable read from a key of a Secret.
pub(crate) fn secret_env(name: &str, secret: &str, key: &str, optional: Option<bool>) -> Value {
    let mut selector = json!({"name": secret, "key": key});
    if let Some(optional) = optional {
        selector["optional"] = Value::Bool(optional);
    }
    json!({"name": name, "valueFrom": {"secretKeyRef": selector}})
}

/// What a user must do for headers of a converted object that come from
/// Secrets: Hangar sends such a value only to URLs the Secret lists in its
/// annotation (other operators sent it wherever the object said).
pub(crate) fn secret_header_notes(object: &Value) -> Vec<String> {
    let spec = &object["spec"];
    let (headers, url) = match object["kind"].as_str().unwrap_or_default() {
        "MCPServer" => (&spec["headers"], &spec["endpoint"]),
        "MCPRegistry" => (&spec["headers"], &spec["url"]),
        "MCPTool" => (&spec["backend"]["headers"], &spec["backend"]["url"]),
        "MCPResource" => (&spec["http"]["headers"], &spec["http"]["url"]),
        _ => return Vec::new(),
    };
    let url = url.as_str().unwrap_or("the backend's URL");
    let mut secrets: Vec<&str> = headers
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|header| header["valueFrom"]["secretKeyRef"]["name"].as_str())
        .collect();
    secrets.sort();
    secrets.dedup();
    secrets
        .into_iter()
        .map(|secret| {
            format!(
                "headers from Secret {secret} are sent only to URLs it allows: annotate it with {}={url}",
                hangar_api::ALLOWED_DESTINATIONS_ANNOTATION
            )
        })
        .collect()
}

/// Checks that a converted object is a valid object of its Hangar kind (types
/// and required fields; the API server checks the CEL rules on apply).
pub(crate) fn check_hangar_object(object: &Value) -> std::result::Result<(), String> {
    fn fits<T: DeserializeOwned>(object: &Value) -> std::result::Result<(), String> {
        serde_json::from_value::<T>(object.clone())
            .map(drop)
            .map_err(|error| error.to_string())
    }
    let kind = object["kind"].as_str().unwrap_or_default();
    let result = match kind {
        "MCPServer" => fits::<MCPServer>(object),
        "MCPServerGroup" => fits::<MCPServerGroup>(object),
        "MCPDiscoverySource" => fits::<MCPDiscoverySource>(object),
        "MCPTool" => fits::<MCPTool>(object),
        "MCPPrompt" => fits::<MCPPrompt>(object),
        "MCPResource" => fits::<MCPResource>(object),
        "MCPGateway" => fits::<MCPGateway>(object),
        other => Err(format!("{other} is not a Hangar kind")),
    };
    result.map_err(|error| format!("the converted {kind} is not a valid Hangar object: {error}"))
}

/// The value with every object's keys in order, however `serde_json` keeps maps.
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_split_into_image_and_tag() {
        let cases = [
            ("python", ("python", None)),
            ("python:3.11-slim", ("python", Some("3.11-slim"))),
            ("ghcr.io/a/b:v1", ("ghcr.io/a/b", Some("v1"))),
            ("localhost:5000/b", ("localhost:5000/b", None)),
            ("localhost:5000/b:2", ("localhost:5000/b", Some("2"))),
            (
                "ghcr.io/a/b:v1@sha256:abc",
                ("ghcr.io/a/b", Some("sha256:abc")),
            ),
        ];
        for (reference, (image, tag)) in cases {
            let (got_image, got_tag) = split_image(reference).unwrap();
            assert_eq!(
                (got_image.as_str(), got_tag.as_deref()),
                (image, tag),
                "{reference}"
            );
        }
        assert!(split_image("a@sha512:x").unwrap_err().contains("sha256"));
    }

    #[test]
    fn metadata_keeps_what_describes_the_object() {
        let mut findings = Findings::default();
        let document = json!({"metadata": {
            "name": "a", "namespace": "n", "uid": "123", "resourceVersion": "9",
            "labels": {"team": "x"},
            "annotations": {LAST_APPLIED: "{}", "owner": "me"},
            "finalizers": ["old.example.com/cleanup"],
        }});
        let out = metadata(&document, &mut findings).into_value();
        assert_eq!(
            out,
            json!({"name": "a", "namespace": "n", "labels": {"team": "x"}, "annotations": {"owner": "me"}})
        );
        assert!(findings.notes[0].contains("metadata.finalizers"));
    }
}
