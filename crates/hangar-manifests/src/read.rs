//! Reading YAML into documents: files, directories (recursively, in name
//! order), `-` for stdin, multi-document streams, and `kind: List` objects
//! (what `kubectl get -o yaml` prints), whose items become documents of their own.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ManifestError;

/// The path that means "read standard input".
pub const STDIN: &str = "-";
/// How documents read from stdin name their source.
pub(crate) const STDIN_NAME: &str = "(stdin)";

/// One Kubernetes object read from a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file it came from (`(stdin)` for `-`), or the name given to [`parse_documents`].
    pub source: String,
    /// 1-based number of the YAML document within `source`.
    pub document: usize,
    /// 1-based position within that document's `items`, when the document is a List.
    pub item: Option<usize>,
    pub value: Value,
}

impl Document {
    /// `file.yaml, document 2` or `file.yaml, document 2, item 3`, for messages.
    pub fn position(&self) -> String {
        match self.item {
            Some(item) => format!("{}, document {}, item {item}", self.source, self.document),
            None => format!("{}, document {}", self.source, self.document),
        }
    }

    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }
}

/// What reading some paths gave: the documents of every file that could be
/// read, and one problem per file (or path) that could not.
#[derive(Debug, Default)]
pub struct Read {
    pub documents: Vec<Document>,
    pub problems: Vec<ManifestError>,
}

/// Reads manifest files, every `.yaml`/`.yml` file under directories, or stdin
/// for `-`, going on past a file that cannot be read.
pub fn read_all(paths: &[PathBuf]) -> Read {
    let mut read = Read::default();
    for path in paths {
        if path.as_os_str() == STDIN {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => read.parse(&text, STDIN_NAME),
                Err(error) => read.problems.push(ManifestError::Read {
                    path: path.clone(),
                    error,
                }),
            }
            continue;
        }
        for file in yaml_files(path, &mut read.problems) {
            match std::fs::read_to_string(&file) {
                Ok(text) => read.parse(&text, &file.display().to_string()),
                Err(error) => read
                    .problems
                    .push(ManifestError::Read { path: file, error }),
            }
        }
    }
    read
}

impl Read {
    fn parse(&mut self, text: &str, source_name: &str) {
        match parse_documents(text, source_name) {
            Ok(documents) => self.documents.extend(documents),
            Err(problem) => self.problems.push(problem),
        }
    }
}

/// Reads a manifest file, every `.yaml`/`.yml` file under a directory, or stdin
/// for `-`; every problem found is in the error.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let read = read_all(&[path.to_path_buf()]);
    ManifestError::from_problems(read.problems)?;
    Ok(read.documents)
}

/// The files `path` stands for: itself, or the YAML files under it in name
/// order. Entries whose names start with a dot are skipped (`.git`, and the
/// `..data` and `..<timestamp>` directories of a mounted ConfigMap, whose files
/// the visible symlinks already name), and no directory or file is read twice,
/// however symlinks loop.
fn yaml_files(path: &Path, problems: &mut Vec<ManifestError>) -> Vec<PathBuf> {
    let metadata = match path.metadata() {
        Ok(metadata) => metadata,
        Err(error) => {
            problems.push(ManifestError::Read {
                path: path.to_path_buf(),
                error,
            });
            return Vec::new();
        }
    };
    if !metadata.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut walk = Walk::default();
    walk.directory(path, problems);
    if walk.files.is_empty() && problems.is_empty() {
        problems.push(ManifestError::NoManifests {
            path: path.to_path_buf(),
        });
    }
    walk.files
}

#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    /// Canonical paths of the directories and files taken so far.
    seen: HashSet<PathBuf>,
}

impl Walk {
    fn directory(&mut self, dir: &Path, problems: &mut Vec<ManifestError>) {
        if !self.first_visit(dir) {
            return;
        }
        let read_error = |error| ManifestError::Read {
            path: dir.to_path_buf(),
            error,
        };
        let entries = std::fs::read_dir(dir).and_then(|entries| {
            entries
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<Vec<_>, _>>()
        });
        let mut entries = match entries {
            Ok(entries) => entries,
            Err(error) => return problems.push(read_error(error)),
        };
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if entry.is_dir() {
                self.directory(&entry, problems);
            } else if matches!(
                entry.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) && self.first_visit(&entry)
            {
                self.files.push(entry);
            }
        }
    }

    fn first_visit(&mut self, path: &Path) -> bool {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.seen.insert(canonical)
    }
}

/// Splits one multi-document YAML text into objects; `source_name` names it in
/// errors. Empty documents are skipped; Lists are expanded into their items.
pub fn parse_documents(text: &str, source_name: &str) -> Result<Vec<Document>, ManifestError> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|error| syntax_error(&error, source_name))?;
    let mut documents = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let document = index + 1;
        if value.is_null() {
            continue; // an empty document, e.g. a trailing `---`
        }
        let not_an_object = || ManifestError::NotAnObject {
            source_name: source_name.to_string(),
            document,
        };
        match list_items(&value) {
            Some(items) => {
                for (item_index, item) in items.iter().enumerate() {
                    if !is_object(item) {
                        return Err(not_an_object());
                    }
                    documents.push(Document {
                        source: source_name.to_string(),
                        document,
                        item: Some(item_index + 1),
                        value: item.clone(),
                    });
                }
            }
            None if is_object(&value) => documents.push(Document {
                source: source_name.to_string(),
                document,
                item: None,
                value,
            }),
            None => return Err(not_an_object()),
        }
    }
    Ok(documents)
}

/// Where the YAML breaks (`file:line:column`), why, and the lines around it.
fn syntax_error(error: &serde_saphyr::Error, source_name: &str) -> ManifestError {
    let location = error.location();
    let plain = error.render_with_options(serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
    });
    // The position is in front already.
    let message = match plain.rsplit_once(" at line ") {
        Some((message, _)) => message.to_string(),
        None => plain,
    };
    let rendered = error.render_with_options(serde_saphyr::render_options! {
        source_name: Some(source_name),
    });
    // The excerpt, without the header lines that repeat message and position.
    let snippet: Vec<&str> = rendered
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("-->"))
        .skip(1)
        .collect();
    ManifestError::Syntax {
        source_name: source_name.to_string(),
        line: location.map_or(0, |l| l.line()),
        column: location.map_or(0, |l| l.column()),
        message,
        snippet: snippet.join("\n"),
    }
}

/// The items of a `kind: List` (or `kind: …List`) object, as `kubectl get -o yaml` prints.
fn list_items(value: &Value) -> Option<&Vec<Value>> {
    let kind = value["kind"].as_str()?;
    if !kind.ends_with("List") || value.get("spec").is_some() {
        return None;
    }
    value["items"].as_array()
}

fn is_object(value: &Value) -> bool {
    value["apiVersion"].is_string() && value["kind"].is_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_expanded_and_a_trailing_separator_ignored() {
        let text = "\
apiVersion: v1
kind: List
metadata: {resourceVersion: ''}
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
---
apiVersion: v1
kind: Secret
metadata: {name: c}
---
";
        let documents = parse_documents(text, "all.yaml").unwrap();
        let names: Vec<_> = documents.iter().map(Document::name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(documents[1].position(), "all.yaml, document 1, item 2");
        assert_eq!(documents[2].position(), "all.yaml, document 2");
    }

    #[test]
    fn a_document_without_kind_is_an_error() {
        let error = parse_documents("a: 1\n", "x.yaml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("document 1 has no apiVersion and kind"),
            "{error}"
        );
        let error =
            parse_documents("kind: List\napiVersion: v1\nitems: [{a: 1}]\n", "x.yaml").unwrap_err();
        assert!(error.to_string().contains("document 1"), "{error}");
    }
}
