//! Reads the same YAML the cluster takes (`kubectl apply -f`) into typed Hangar
//! objects, for the commands that work without a cluster (`hangar up`, `hangar render`).
//!
//! Defaults the API server would fill in come from the types' serde defaults,
//! which are the very defaults the CRD schemas carry.

use std::path::{Path, PathBuf};

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

/// Reads a manifest file, or every `.yaml`/`.yml` file under a directory (recursively, in name order).
pub fn load(path: &Path) -> Result<Manifests, ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let files = if path.metadata().map_err(read_error)?.is_dir() {
        let mut files = Vec::new();
        collect_yaml_files(path, &mut files)?;
        if files.is_empty() {
            return Err(ManifestError::NoManifests {
                path: path.to_path_buf(),
            });
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut manifests = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: file.clone(),
            source,
        })?;
        parse_into(&mut manifests, &text, &file.display().to_string())?;
    }
    Ok(manifests)
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let read_error = |source| ManifestError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_yaml_files(&entry, files)?;
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(entry);
        }
    }
    Ok(())
}

/// Parses one multi-document YAML text; `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests::default();
    parse_into(&mut manifests, text, source_name)?;
    Ok(manifests)
}

fn parse_into(
    manifests: &mut Manifests,
    text: &str,
    source_name: &str,
) -> Result<(), ManifestError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|error| ManifestError::Syntax {
            source_name: source_name.to_string(),
            document: 0,
            message: error.to_string(),
        })?;
    for (index, document) in documents.into_iter().enumerate() {
        let number = index + 1;
        if document.is_null() {
            continue; // an empty document, e.g. a trailing `---`
        }
        let api_version = document
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind = document
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return Err(ManifestError::NotAnObject {
                source_name: source_name.to_string(),
                document: number,
            });
        };
        let name = document
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let hangar_group = api_version.split('/').next() == Some(hangar_api::GROUP);
        if !hangar_group {
            manifests.foreign.push(ForeignObject {
                source: source_name.to_string(),
                api_version,
                kind,
                name,
            });
            continue;
        }
        let typed = Typed {
            document,
            source_name,
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
                    source_name: source_name.to_string(),
                    api_version,
                    kind,
                });
            }
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

        let unknown =
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPProvider\nmetadata: {name: p}\n";
        let message = parse(unknown, "old.yaml").unwrap_err().to_string();
        assert!(
            message.contains("MCPProvider is not a kind Hangar serves"),
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
