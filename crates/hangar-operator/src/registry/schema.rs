//! The MCP Registry's documents: `server.json` (`ServerDetail`) and the API's
//! `ServerResponse` / `ServerList` wrappers, as served at `/v0.1/servers`
//! (schema 2025-12-11). Only the fields Hangar uses are typed; everything is
//! optional that the schema allows to be absent, so entries from other
//! publishers still parse.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One page of `GET /v0.1/servers`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerList {
    /// Kept as JSON so one malformed entry does not fail the whole page.
    #[serde(default)]
    pub servers: Vec<serde_json::Value>,
    #[serde(default)]
    pub metadata: ListMetadata,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetadata {
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A server version as the API serves it: the publisher's `server.json` plus the registry's metadata.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ServerResponse {
    pub server: ServerDetail,
    #[serde(default, rename = "_meta")]
    pub meta: ResponseMeta,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ResponseMeta {
    #[serde(default, rename = "io.modelcontextprotocol.registry/official")]
    pub official: Option<OfficialMeta>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficialMeta {
    #[serde(default)]
    pub status: EntryStatus,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub is_latest: Option<bool>,
    #[serde(default)]
    pub published_at: Option<String>,
}

/// Lifecycle of a server version in the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    #[default]
    Active,
    Deprecated,
    Deleted,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Active => "active",
            EntryStatus::Deprecated => "deprecated",
            EntryStatus::Deleted => "deleted",
        }
    }
}

/// `server.json`: how to run or reach one version of an MCP server.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerDetail {
    /// Reverse-DNS name, e.g. `io.github.acme/weather`.
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub remotes: Vec<RemoteTransport>,
}

/// A package in a package registry (npm, PyPI, an OCI registry, …).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// `npm`, `pypi`, `oci`, `nuget`, `mcpb`, …
    pub registry_type: String,
    #[serde(default)]
    pub registry_base_url: Option<String>,
    /// Package name, or for `oci` the image reference (`registry/namespace/repository:tag`).
    pub identifier: String,
    #[serde(default)]
    pub version: Option<String>,
    /// The runtime the publisher had in mind (`npx`, `uvx`, `docker`, …).
    #[serde(default)]
    pub runtime_hint: Option<String>,
    #[serde(default)]
    pub transport: LocalTransport,
    #[serde(default)]
    pub runtime_arguments: Vec<Argument>,
    #[serde(default)]
    pub package_arguments: Vec<Argument>,
    #[serde(default)]
    pub environment_variables: Vec<KeyValueInput>,
}

/// How a package speaks MCP once started; stdio when the entry does not say.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LocalTransport {
    #[serde(rename = "type")]
    pub type_: String,
    /// For HTTP transports: a URL template such as `http://localhost:{PORT}/mcp`.
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self {
            type_: "stdio".into(),
            url: None,
        }
    }
}

/// A server reachable over the network.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteTransport {
    /// `streamable-http` or `sse`.
    #[serde(rename = "type")]
    pub type_: String,
    /// URL template; `{name}` refers to `variables`.
    pub url: String,
    #[serde(default)]
    pub headers: Vec<KeyValueInput>,
    #[serde(default)]
    pub variables: BTreeMap<String, Input>,
}

/// A value the user may have to provide.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub is_secret: bool,
    /// A fixed value; `{name}` refers to `variables`.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Input>,
}

/// An environment variable or header.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct KeyValueInput {
    pub name: String,
    #[serde(flatten)]
    pub input: Input,
}

/// A command-line argument: `positional` (inserted verbatim) or `named` (`--flag=value`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    #[serde(rename = "type")]
    pub type_: ArgumentType,
    /// The flag of a named argument, dashes included.
    #[serde(default)]
    pub name: Option<String>,
    /// A label for a positional argument; not part of the command line.
    #[serde(default)]
    pub value_hint: Option<String>,
    #[serde(flatten)]
    pub input: Input,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArgumentType {
    Positional,
    Named,
}

impl ServerResponse {
    pub fn status(&self) -> EntryStatus {
        self.meta
            .official
            .as_ref()
            .map(|m| m.status)
            .unwrap_or_default()
    }

    pub fn status_message(&self) -> Option<&str> {
        self.meta.official.as_ref()?.status_message.as_deref()
    }

    pub fn is_latest(&self) -> Option<bool> {
        self.meta.official.as_ref()?.is_latest
    }
}

/// Reads a catalog document: a `server.json`, a `ServerResponse`, a
/// `ServerList` page, or a JSON array of either. Returns the entries it holds
/// and, for each that is not valid, why.
pub fn read_document(value: serde_json::Value) -> (Vec<ServerResponse>, Vec<String>) {
    let mut entries = Vec::new();
    let mut invalid = Vec::new();
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut object) if object.contains_key("servers") => {
            match object.remove("servers") {
                Some(serde_json::Value::Array(items)) => items,
                _ => {
                    invalid.push("\"servers\" is not a list".to_string());
                    Vec::new()
                }
            }
        }
        other => vec![other],
    };
    for item in items {
        match read_entry(item) {
            Ok(entry) => entries.push(entry),
            Err(why) => invalid.push(why),
        }
    }
    (entries, invalid)
}

/// One `ServerResponse`, or a bare `server.json` (active, no registry metadata).
pub fn read_entry(value: serde_json::Value) -> Result<ServerResponse, String> {
    let label = entry_label(&value);
    let parsed = if value.get("server").is_some() {
        serde_json::from_value::<ServerResponse>(value)
    } else {
        serde_json::from_value::<ServerDetail>(value).map(|server| ServerResponse {
            server,
            meta: ResponseMeta::default(),
        })
    };
    parsed.map_err(|error| format!("{label}: {error}"))
}

/// `name@version` of an entry that may not parse, for messages.
fn entry_label(value: &serde_json::Value) -> String {
    let server = value.get("server").unwrap_or(value);
    let field = |key: &str| server.get(key).and_then(|v| v.as_str()).unwrap_or("?");
    format!("{}@{}", field("name"), field("version"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_document_shape_reads() {
        let detail = json!({"name": "io.github.acme/a", "version": "1.0.0", "description": "A"});
        let response = json!({
            "server": {"name": "io.github.acme/b", "version": "2.0.0"},
            "_meta": {"io.modelcontextprotocol.registry/official": {"status": "deprecated", "statusMessage": "use c", "isLatest": true}}
        });
        let (one, invalid) = read_document(detail.clone());
        assert_eq!((one.len(), invalid.len()), (1, 0));
        assert_eq!(one[0].status(), EntryStatus::Active);

        let (page, _) =
            read_document(json!({"servers": [response.clone()], "metadata": {"count": 1}}));
        assert_eq!(page[0].status(), EntryStatus::Deprecated);
        assert_eq!(page[0].status_message(), Some("use c"));
        assert_eq!(page[0].is_latest(), Some(true));

        let (list, invalid) =
            read_document(json!([detail, response, {"name": "io.github.acme/broken"}]));
        assert_eq!(list.len(), 2);
        assert_eq!(invalid.len(), 1);
        assert!(
            invalid[0].starts_with("io.github.acme/broken@?:"),
            "{}",
            invalid[0]
        );
    }

    #[test]
    fn packages_and_arguments_read_as_published() {
        let entry = read_entry(json!({
            "name": "io.github.acme/weather",
            "version": "1.2.0",
            "packages": [{
                "registryType": "npm",
                "identifier": "@acme/weather-mcp",
                "version": "1.2.0",
                "transport": {"type": "stdio"},
                "packageArguments": [
                    {"type": "named", "name": "--units", "default": "metric"},
                    {"type": "positional", "valueHint": "city", "isRequired": true}
                ],
                "environmentVariables": [{"name": "API_KEY", "isRequired": true, "isSecret": true}]
            }]
        }))
        .unwrap();
        let package = &entry.server.packages[0];
        assert_eq!(package.transport.type_, "stdio");
        assert_eq!(package.package_arguments[0].type_, ArgumentType::Named);
        assert_eq!(
            package.package_arguments[0].input.default.as_deref(),
            Some("metric")
        );
        assert_eq!(
            package.package_arguments[1].value_hint.as_deref(),
            Some("city")
        );
        assert!(package.environment_variables[0].input.is_secret);
    }
}
