//! Reads the same YAML the cluster takes (`kubectl apply -f`) into typed Hangar
//! objects, for the commands that work without a cluster (`hangar up`, `hangar render`).
//!
//! Defaults the API server would fill in come from the types' serde defaults,
//! which are the very defaults the CRD schemas carry.

use std::path::{Path, PathBuf};

mod read;
pub mod sources;

pub use read::{Document, STDIN, parse_documents, read_documents};

use hangar_api::{
    MCPDiscoverySource, MCPGateway, MCPPrompt, MCPRegistry, MCPResource, MCPServer, MCPServerGroup,
    MCPTool,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Everything read from a set of manifests, by kind, in file order.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub servers: Vec<MCPServer>,
    pub server_groups: Vec<MCPServerGroup>,
    pub discovery_sources: Vec<MCPDiscoverySource>,
    pub tools: Vec<MCPTool>,
    pub prompts: Vec<MCPPrompt>,
    pub resources: Vec<MCPResource>,
    pub gateways: Vec<MCPGateway>,
    pub registries: Vec<MCPRegistry>,
    /// Objects of other API groups (Secrets, Deployments, …), which Hangar does not read.
    pub foreign: Vec<ForeignObject>,
}

/// An object that is not a Hangar resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignObject {
    pub source: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no .yaml or .yml files")]
    NoManifests { path: PathBuf },
    #[error("{source_name}: document {document} is not valid YAML: {message}")]
    Syntax {
        source_name: String,
        document: usize,
        message: String,
    },
    #[error("{source_name}: document {document} has no apiVersion and kind")]
    NotAnObject {
        source_name: String,
        document: usize,
    },
    #[error("{source_name}: {kind} {name:?}: {message}")]
    Invalid {
        source_name: String,
        kind: String,
        name: String,
        message: String,
    },
    #[error(
        "{source_name}: {api_version} {kind} belongs to {project}, not to Hangar: convert it with `hangar convert -f {convert_from}` (it prints the mcp-hangar.io/v1alpha1 equivalent and every field that has none)"
    )]
    ForeignApi {
        source_name: String,
        api_version: String,
        kind: String,
        project: &'static str,
        /// The path to give `hangar convert`.
        convert_from: String,
    },
    #[error(
        "{source_name}: {api_version} {kind} is not a kind Hangar serves (mcp-hangar.io/v1alpha1 has MCPServer, MCPServerGroup, MCPDiscoverySource, MCPTool, MCPPrompt, MCPResource, MCPGateway, MCPRegistry)"
    )]
    UnknownKind {
        source_name: String,
        api_version: String,
        kind: String,
    },
}

impl Manifests {
    /// Number of Hangar objects read.
    pub fn len(&self) -> usize {
        self.servers.len()
            + self.server_groups.len()
            + self.discovery_sources.len()
            + self.tools.len()
            + self.prompts.len()
            + self.resources.len()
            + self.gateways.len()
            + self.registries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a manifest file, every `.yaml`/`.yml` file under a directory (recursively, in name order),
/// or stdin for `-`.
pub fn load(path: &Path) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests::default();
    for document in read_documents(path)? {
        add(&mut manifests, document)?;
    }
    Ok(manifests)
}

/// Parses one multi-document YAML text; `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests::default();
    for document in parse_documents(text, source_name)? {
        add(&mut manifests, document)?;
    }
    Ok(manifests)
}

fn add(manifests: &mut Manifests, document: Document) -> Result<(), ManifestError> {
    let api_version = document.api_version().to_string();
    let kind = document.kind().to_string();
    let name = document.name().to_string();
    if let Some(api) = sources::identify(&api_version, &kind, &document.value["spec"]) {
        let convert_from = if document.source == read::STDIN_NAME {
            STDIN.to_string()
        } else {
            document.source.clone()
        };
        return Err(ManifestError::ForeignApi {
            convert_from,
            source_name: document.source,
            api_version,
            kind,
            project: api.project(),
        });
    }
    let hangar_group = api_version.split('/').next() == Some(hangar_api::GROUP);
    if !hangar_group {
        manifests.foreign.push(ForeignObject {
            source: document.source,
            api_version,
            kind,
            name,
        });
        return Ok(());
    }
    let typed = Typed {
        document: document.value,
        source_name: &document.source,
        kind: &kind,
        name: &name,
    };
    match kind.as_str() {
        "MCPServer" => manifests.servers.push(typed.into()?),
        "MCPServerGroup" => manifests.server_groups.push(typed.into()?),
        "MCPDiscoverySource" => manifests.discovery_sources.push(typed.into()?),
        "MCPTool" => manifests.tools.push(typed.into()?),
        "MCPPrompt" => manifests.prompts.push(typed.into()?),
        "MCPResource" => manifests.resources.push(typed.into()?),
        "MCPGateway" => manifests.gateways.push(typed.into()?),
        "MCPRegistry" => manifests.registries.push(typed.into()?),
        _ => {
            return Err(ManifestError::UnknownKind {
                source_name: document.source,
                api_version,
                kind,
            });
        }
    }
    Ok(())
}

/// One document on its way to a typed object.
struct Typed<'a> {
    document: Value,
    source_name: &'a str,
    kind: &'a str,
    name: &'a str,
}

impl Typed<'_> {
    fn into<T: DeserializeOwned>(self) -> Result<T, ManifestError> {
        if self.name.is_empty() {
            return Err(self.invalid("metadata.name is required".into()));
        }
        let result = serde_json::from_value(self.document.clone());
        result.map_err(|error| self.invalid(error.to_string()))
    }

    fn invalid(&self, message: String) -> ManifestError {
        ManifestError::Invalid {
            source_name: self.source_name.to_string(),
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_and_fills_defaults() {
        let text = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: time}
spec: {image: python, command: [uvx, mcp-server-time], transport: stdio}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: weather}
spec: {backend: {url: "http://127.0.0.1:9000/weather"}}
---
"#;
        let manifests = parse(text, "inline.yaml").unwrap();
        assert_eq!(manifests.len(), 2);
        let server = &manifests.servers[0];
        assert_eq!(server.spec.port, 8080);
        assert_eq!(server.spec.tag, "latest");
        assert_eq!(server.spec.health_check.interval.0, "30s");
        assert_eq!(manifests.tools[0].spec.timeout.0, "30s");
        assert_eq!(manifests.foreign[0].kind, "Secret");
    }

    #[test]
    fn errors_name_the_file_kind_and_object() {
        let wrong_type = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: s}\nspec: {port: eighty}\n";
        let message = parse(wrong_type, "servers.yaml").unwrap_err().to_string();
        assert!(
            message.starts_with("servers.yaml: MCPServer \"s\": "),
            "{message}"
        );

        let unknown = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPWidget\nmetadata: {name: p}\n";
        let message = parse(unknown, "new.yaml").unwrap_err().to_string();
        assert!(
            message.contains("MCPWidget is not a kind Hangar serves"),
            "{message}"
        );

        let old = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPProvider\nmetadata: {name: p}\n";
        let message = parse(old, "old.yaml").unwrap_err().to_string();
        assert!(
            message.contains("MCPProvider belongs to the MCP-Hangar operator's MCPProvider API")
                && message.contains("`hangar convert -f old.yaml`"),
            "{message}"
        );
        let toolhive =
            "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServer\nmetadata: {name: p}\n";
        let message = parse(toolhive, "(stdin)").unwrap_err().to_string();
        assert!(
            message.contains("belongs to ToolHive") && message.contains("`hangar convert -f -`"),
            "{message}"
        );

        let nameless = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPTool\nspec: {backend: {url: 'http://x'}}\n";
        assert!(
            parse(nameless, "t.yaml")
                .unwrap_err()
                .to_string()
                .contains("metadata.name is required")
        );
    }

    #[test]
    fn a_directory_is_read_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        let server = |name: &str| {
            format!(
                "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\nspec: {{image: x}}\n"
            )
        };
        std::fs::write(dir.path().join("b.yaml"), server("b")).unwrap();
        std::fs::write(dir.path().join("a.yml"), server("a")).unwrap();
        std::fs::write(dir.path().join("nested/c.yaml"), server("c")).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
        let names: Vec<_> = load(dir.path())
            .unwrap()
            .servers
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(empty.path()),
            Err(ManifestError::NoManifests { .. })
        ));
    }
}
