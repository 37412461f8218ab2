//! Reading YAML into documents: files, directories (recursively, in name
//! order), `-` for stdin, multi-document streams, and `kind: List` objects
//! (what `kubectl get -o yaml` prints), whose items become documents of their own.

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

/// Reads a manifest file, every `.yaml`/`.yml` file under a directory, or stdin for `-`.
pub fn read_documents(path: &Path) -> Result<Vec<Document>, ManifestError> {
    if path.as_os_str() == STDIN {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| ManifestError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        return parse_documents(&text, STDIN_NAME);
    }
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
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: file.clone(),
            source,
        })?;
        documents.extend(parse_documents(&text, &file.display().to_string())?);
    }
    Ok(documents)
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

/// Splits one multi-document YAML text into objects; `source_name` names it in
/// errors. Empty documents are skipped; Lists are expanded into their items.
pub fn parse_documents(text: &str, source_name: &str) -> Result<Vec<Document>, ManifestError> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|error| ManifestError::Syntax {
            source_name: source_name.to_string(),
            document: 0,
            message: error.to_string(),
        })?;
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
