//! Reads the same YAML the cluster takes (`kubectl apply -f`) into typed Hangar
//! objects, for the commands that work without a cluster (`hangar up`, `hangar render`).
//!
//! Each Hangar object is judged as the API server judges it on create, from
//! the generated CRDs themselves (hangar-admission: their schemas' pruning,
//! defaults and bounds, and their CEL rules), so a manifest the cluster would
//! refuse is refused here with the API server's words.

use std::path::PathBuf;
use std::sync::LazyLock;

mod fields;
mod read;
pub mod sources;

pub use fields::unknown_fields;
pub use read::{Document, Read, STDIN, parse_documents, read_all, read_documents};

use hangar_admission::Admission;
use hangar_api::{
    MCPDiscoverySource, MCPGateway, MCPPrompt, MCPRegistry, MCPResource, MCPServer, MCPServerGroup,
    MCPTool, MCPToolSet,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

static ADMISSION: LazyLock<Admission> = LazyLock::new(|| Admission::new(&hangar_api::crds()));

/// Everything read from a set of manifests, by kind, in file order.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub servers: Vec<MCPServer>,
    pub server_groups: Vec<MCPServerGroup>,
    pub discovery_sources: Vec<MCPDiscoverySource>,
    pub tools: Vec<MCPTool>,
    pub toolsets: Vec<MCPToolSet>,
    pub prompts: Vec<MCPPrompt>,
    pub resources: Vec<MCPResource>,
    pub gateways: Vec<MCPGateway>,
    pub registries: Vec<MCPRegistry>,
    /// Objects of other API groups (Secrets, Deployments, …), which Hangar does not read.
    pub foreign: Vec<ForeignObject>,
    /// Where each Hangar object came from, in reading order.
    pub origins: Vec<Origin>,
}

/// The file (or stdin) a Hangar object was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub source: String,
}

/// An object that is not a Hangar resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignObject {
    pub source: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The whole object (`hangar render` reads offline registry catalogs from ConfigMaps).
    pub value: Value,
}

/// Why manifests, or one of their files or objects, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} holds no .yaml or .yml files")]
    NoManifests { path: PathBuf },
    #[error("{source_name}:{line}:{column}: not valid YAML: {message}\n{snippet}")]
    Syntax {
        source_name: String,
        line: u64,
        column: u64,
        message: String,
        snippet: String,
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
        "{source_name}: {kind} {name:?} has {}: {} (the API server would drop {}; fix the spelling, or pass --validate=warn to read it anyway)",
        if fields.len() == 1 { "an unknown field" } else { "unknown fields" },
        fields.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", "),
        if fields.len() == 1 { "it" } else { "them" }
    )]
    UnknownFields {
        source_name: String,
        kind: String,
        name: String,
        fields: Vec<String>,
    },
    /// What the API server would answer creating the object, every error of it.
    #[error(
        "{source_name}: {kind} {name:?} is invalid (the API server would refuse it):\n    {}",
        errors.join("\n    ")
    )]
    Rejected {
        source_name: String,
        kind: String,
        name: String,
        errors: Vec<String>,
    },
    #[error(
        "{source_name}: {kind} {name:?}: apiVersion {api_version} is not served; Hangar serves {}/{}",
        hangar_api::GROUP,
        hangar_api::VERSION
    )]
    UnknownVersion {
        source_name: String,
        api_version: String,
        kind: String,
        name: String,
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
        "{source_name}: {api_version} {kind} is not a kind Hangar serves (mcp-hangar.io/v1alpha1 has MCPServer, MCPServerGroup, MCPDiscoverySource, MCPTool, MCPToolSet, MCPPrompt, MCPResource, MCPGateway, MCPRegistry)"
    )]
    UnknownKind {
        source_name: String,
        api_version: String,
        kind: String,
    },
    /// More than one of the above, each on its own line.
    #[error("{} manifest problems:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Several(Vec<ManifestError>),
}

impl ManifestError {
    /// `Ok` when there are no problems, the one problem, or all of them.
    pub fn from_problems(mut problems: Vec<ManifestError>) -> Result<(), ManifestError> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ManifestError::Several(problems)),
        }
    }
}

/// What to do with fields the API does not have (kubectl's `--validate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Validation {
    /// Refuse the object, naming the fields (as `kubectl --validate=strict`).
    #[default]
    Strict,
    /// Read the object, and warn about each such field.
    Warn,
    /// Read the object; say nothing (the API server drops them).
    Ignore,
}

/// The arguments of the commands that read Hangar manifests, spelled as kubectl spells them.
#[derive(Clone, Debug, clap::Args)]
pub struct ManifestArgs {
    /// A manifest file, a directory of them (read recursively, dot-entries skipped), or - for stdin. Repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        alias = "file",
        value_name = "PATH",
        required = true
    )]
    pub filenames: Vec<PathBuf>,
    /// What to do with fields the API does not have: refuse the object (strict), warn, or ignore them.
    #[arg(long, value_enum, value_name = "MODE", default_value_t)]
    pub validate: Validation,
}

impl ManifestArgs {
    pub fn load(&self) -> Loaded {
        load(&self.filenames, self.validate)
    }

    /// The paths, for messages.
    pub fn describe(&self) -> String {
        let paths: Vec<String> = self
            .filenames
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        paths.join(", ")
    }
}

/// What reading manifests gave: the objects that could be read, a problem for
/// each file or object that could not, and warnings about what was read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub manifests: Manifests,
    pub problems: Vec<ManifestError>,
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The manifests when every file and object was read; every problem otherwise.
    pub fn complete(self) -> Result<Manifests, ManifestError> {
        ManifestError::from_problems(self.problems)?;
        Ok(self.manifests)
    }

    /// Prints the warnings to stderr, as kubectl does (`Warning: …`).
    pub fn print_warnings(&self) {
        for warning in &self.warnings {
            eprintln!("Warning: {warning}");
        }
    }
}

impl Manifests {
    /// Number of Hangar objects read.
    pub fn len(&self) -> usize {
        self.servers.len()
            + self.server_groups.len()
            + self.discovery_sources.len()
            + self.tools.len()
            + self.toolsets.len()
            + self.prompts.len()
            + self.resources.len()
            + self.gateways.len()
            + self.registries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sources of the `kind` objects named `name` in `namespace`, in reading order.
    pub fn sources_of(&self, kind: &str, namespace: &str, name: &str) -> Vec<&str> {
        self.origins
            .iter()
            .filter(|o| o.kind == kind && o.namespace == namespace && o.name == name)
            .map(|o| o.source.as_str())
            .collect()
    }
}

/// Reads manifest files, every `.yaml`/`.yml` file under directories
/// (recursively, in name order), or stdin for `-`. A file or object that cannot
/// be read is a problem of its own; the rest are read.
pub fn load(paths: &[PathBuf], validation: Validation) -> Loaded {
    let read = read::read_all(paths);
    let mut loaded = Loaded {
        problems: read.problems,
        ..Loaded::default()
    };
    for document in read.documents {
        if let Err(problem) = add(&mut loaded, document, validation) {
            loaded.problems.push(problem);
        }
    }
    loaded
}

/// Parses one multi-document YAML text, strictly; `source_name` names it in errors.
pub fn parse(text: &str, source_name: &str) -> Result<Manifests, ManifestError> {
    let mut loaded = Loaded::default();
    for document in parse_documents(text, source_name)? {
        if let Err(problem) = add(&mut loaded, document, Validation::Strict) {
            loaded.problems.push(problem);
        }
    }
    loaded.complete()
}

fn add(
    loaded: &mut Loaded,
    document: Document,
    validation: Validation,
) -> Result<(), ManifestError> {
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
    let manifests = &mut loaded.manifests;
    let namespace = document.namespace().map(str::to_string);
    if api_version.split('/').next() != Some(hangar_api::GROUP) {
        manifests.foreign.push(ForeignObject {
            source: document.source,
            api_version,
            kind,
            name,
            value: document.value,
        });
        return Ok(());
    }
    let typed = Typed {
        document: document.value,
        source_name: &document.source,
        api_version: &api_version,
        kind: &kind,
        name: &name,
        validation,
        warnings: &mut loaded.warnings,
    };
    match kind.as_str() {
        "MCPServer" => manifests.servers.push(typed.into()?),
        "MCPServerGroup" => manifests.server_groups.push(typed.into()?),
        "MCPDiscoverySource" => manifests.discovery_sources.push(typed.into()?),
        "MCPTool" => manifests.tools.push(typed.into()?),
        "MCPToolSet" => manifests.toolsets.push(typed.into()?),
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
    manifests.origins.push(Origin {
        namespace: namespace.unwrap_or_else(|| "default".into()),
        kind,
        name,
        source: document.source,
    });
    Ok(())
}

/// kubectl's wording for `--validate=warn`: the fields, and that they are dropped.
fn unknown_field_warning(source_name: &str, kind: &str, name: &str, fields: &[String]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    format!(
        "{source_name}: {kind} {name:?}: {} (ignored, as the API server drops it)",
        fields.join(", ")
    )
}

/// One document of a Hangar kind on its way to a typed object.
struct Typed<'a> {
    document: Value,
    source_name: &'a str,
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    validation: Validation,
    warnings: &'a mut Vec<String>,
}

impl Typed<'_> {
    fn into<T: DeserializeOwned>(mut self) -> Result<T, ManifestError> {
        if self.api_version.split_once('/').map(|(_, v)| v) != Some(hangar_api::VERSION) {
            return Err(ManifestError::UnknownVersion {
                source_name: self.source_name.to_string(),
                api_version: self.api_version.to_string(),
                kind: self.kind.to_string(),
                name: self.name.to_string(),
            });
        }
        if self.name.is_empty() {
            return Err(self.invalid("metadata.name is required".into()));
        }
        let fields = match self.validation {
            Validation::Ignore => Vec::new(),
            Validation::Strict | Validation::Warn => {
                fields::unknown_fields(self.kind, &self.document)
            }
        };
        if !fields.is_empty() {
            if self.validation == Validation::Strict {
                return Err(ManifestError::UnknownFields {
                    source_name: self.source_name.to_string(),
                    kind: self.kind.to_string(),
                    name: self.name.to_string(),
                    fields,
                });
            }
            let warning = unknown_field_warning(self.source_name, self.kind, self.name, &fields);
            self.warnings.push(warning);
        }
        let errors = ADMISSION.admit(&mut self.document);
        if !errors.is_empty() {
            return Err(ManifestError::Rejected {
                source_name: self.source_name.to_string(),
                kind: self.kind.to_string(),
                name: self.name.to_string(),
                errors,
            });
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
        assert_eq!(
            server.spec.image_reference().as_deref(),
            Some("python:latest")
        );
        assert_eq!(server.spec.health_check.interval.0, "30s");
        assert_eq!(manifests.tools[0].spec.timeout.0, "30s");
        assert_eq!(manifests.foreign[0].kind, "Secret");
    }

    #[test]
    fn errors_name_the_file_kind_and_object() {
        let wrong_type = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: s}\nspec: {port: eighty}\n";
        let message = parse(wrong_type, "servers.yaml").unwrap_err().to_string();
        assert!(
            message.starts_with("servers.yaml: MCPServer \"s\" is invalid")
                && message.contains("spec.port: Invalid value: \"string\": spec.port in body must be of type integer"),
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

    fn server(name: &str) -> String {
        format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\nspec: {{image: x}}\n"
        )
    }

    fn names(manifests: &Manifests) -> Vec<String> {
        manifests
            .servers
            .iter()
            .map(|s| s.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn a_directory_is_read_recursively_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nested")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), server("b")).unwrap();
        std::fs::write(dir.path().join("a.yml"), server("a")).unwrap();
        std::fs::write(dir.path().join("nested/c.yaml"), server("c")).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
        let loaded = load(&[dir.path().to_path_buf()], Validation::Strict);
        assert_eq!(names(&loaded.complete().unwrap()), ["a", "b", "c"]);

        let empty = tempfile::tempdir().unwrap();
        let loaded = load(&[empty.path().to_path_buf()], Validation::Strict);
        assert!(matches!(
            loaded.problems.as_slice(),
            [ManifestError::NoManifests { .. }]
        ));
    }

    #[test]
    fn each_broken_file_is_a_problem_of_its_own_and_the_rest_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), server("a")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: [unclosed\n").unwrap();
        std::fs::write(
            dir.path().join("c.yaml"),
            server("c").replace("image: x", "image: x, imagee: y"),
        )
        .unwrap();
        std::fs::write(dir.path().join("d.yaml"), server("d")).unwrap();
        let loaded = load(&[dir.path().to_path_buf()], Validation::Strict);
        assert_eq!(names(&loaded.manifests), ["a", "d"]);
        let problems: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let b = dir.path().join("b.yaml").display().to_string();
        assert!(problems[0].starts_with(&format!("{b}:1:")), "{problems:?}");
        assert!(problems[0].contains("not valid YAML"), "{problems:?}");
        assert!(
            problems[1].contains("c.yaml: MCPServer \"c\" has an unknown field: \"spec.imagee\""),
            "{problems:?}"
        );
        let all = loaded.complete().unwrap_err().to_string();
        assert!(all.starts_with("2 manifest problems:\n  "), "{all}");

        let warned = load(&[dir.path().join("c.yaml")], Validation::Warn);
        assert_eq!(names(&warned.manifests), ["c"]);
        assert_eq!(warned.warnings.len(), 1);
        assert!(
            warned.warnings[0].contains("unknown field \"spec.imagee\" (ignored"),
            "{:?}",
            warned.warnings
        );
        let ignored = load(&[dir.path().join("c.yaml")], Validation::Ignore);
        assert!(ignored.warnings.is_empty() && ignored.problems.is_empty());
    }

    #[test]
    fn syntax_errors_give_the_line_and_column() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n";
        let message = parse(text, "cm.yaml").unwrap_err().to_string();
        assert!(message.starts_with("cm.yaml:9:"), "{message}");
    }

    #[test]
    fn other_versions_of_the_api_are_refused() {
        let text = server("s").replace("v1alpha1", "v9");
        let message = parse(&text, "s.yaml").unwrap_err().to_string();
        assert_eq!(
            message,
            "s.yaml: MCPServer \"s\": apiVersion mcp-hangar.io/v9 is not served; Hangar serves mcp-hangar.io/v1alpha1"
        );
    }

    #[test]
    fn hidden_directories_are_skipped_and_symlink_loops_read_once() {
        // A mounted ConfigMap: the visible name links into `..data`, which
        // links to the current version's hidden directory.
        let dir = tempfile::tempdir().unwrap();
        let version = dir.path().join("..2026_01_01");
        std::fs::create_dir(&version).unwrap();
        std::fs::write(version.join("servers.yaml"), server("mounted")).unwrap();
        std::os::unix::fs::symlink("..2026_01_01", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/servers.yaml", dir.path().join("servers.yaml")).unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/x.yaml"), server("git")).unwrap();
        // A loop: loop/again -> .. (the directory itself).
        std::fs::create_dir(dir.path().join("loop")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("loop/again")).unwrap();
        std::fs::write(dir.path().join("loop/inner.yaml"), server("inner")).unwrap();
        let loaded = load(&[dir.path().to_path_buf()], Validation::Strict);
        assert_eq!(names(&loaded.complete().unwrap()), ["inner", "mounted"]);
    }
}
