//! `hangar convert`: the resources of other MCP operators in, the equivalent
//! `mcp-hangar.io/v1alpha1` objects out, with every field that has no
//! equivalent reported per object.
//!
//! Pure: documents in, a [`Conversion`] out. Reading files is
//! `hangar-manifests`' job, printing and writing the CLI's ([`output`]).
//!
//! Each source API has a module in [`sources`]. A mapping takes the fields it
//! understands out of the source object ([`fields::Fields`]); whatever is left
//! over when it is done is reported as not carried over, so a field is never
//! dropped without a word, even one the mapping has never heard of.

use std::collections::BTreeMap;
use std::fmt;

use hangar_manifests::Document;
use hangar_manifests::sources::{SourceApi, identify};
use serde_json::Value;

mod common;
mod fields;
pub mod output;
mod reasons;
mod sources;

/// Where a converted object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `file.yaml, document 2` (and `, item 3` inside a List).
    pub position: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Origin {
    fn of(document: &Document) -> Origin {
        Origin {
            position: document.position(),
            api_version: document.api_version().to_string(),
            kind: document.kind().to_string(),
            namespace: document.namespace().map(str::to_string),
            name: document.name().to_string(),
        }
    }
}

impl fmt::Display for Origin {
    /// `toolhive.stacklok.dev/v1beta1 MCPServer team-a/fetch`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.api_version, self.kind)?;
        if let Some(namespace) = &self.namespace {
            write!(f, "{namespace}/")?;
        }
        f.write_str(&self.name)
    }
}

/// A field of the source object that the converted object does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    /// Dotted path in the source object, e.g. `spec.oidcConfigRef` or `spec.volumes[1].hostPath`.
    pub path: String,
    /// Why it has no equivalent, and what to do instead when there is something.
    pub reason: String,
}

/// What happened to one input object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// An object of another MCP operator's API, converted.
    Converted(SourceApi),
    /// Already an `mcp-hangar.io/v1alpha1` resource: copied unchanged.
    Hangar,
    /// Not an MCP resource (a Secret, a ConfigMap, a Deployment, …): copied unchanged.
    PassedThrough,
}

/// One input object and what it became.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub origin: Origin,
    pub disposition: Disposition,
    /// The object written out; `None` when the source kind has no Hangar object
    /// of its own (e.g. a ToolHive MCPGroup, which becomes a label on its members).
    pub object: Option<Value>,
    pub unmapped: Vec<Unmapped>,
    /// Behaviour that changes, or that the user must check, though nothing was dropped.
    pub notes: Vec<String>,
}

/// Everything converted from one set of documents, in input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversion {
    pub items: Vec<Item>,
}

impl Conversion {
    /// Fields not carried over, over all objects.
    pub fn unmapped_count(&self) -> usize {
        self.items.iter().map(|item| item.unmapped.len()).sum()
    }

    /// With `--strict`, any field not carried over is an error.
    pub fn check_strict(&self) -> Result<(), ConvertError> {
        let fields = self.unmapped_count();
        if fields == 0 {
            return Ok(());
        }
        let objects = self
            .items
            .iter()
            .filter(|item| !item.unmapped.is_empty())
            .count();
        Err(ConvertError::Strict { fields, objects })
    }
}

/// An input object that cannot be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectError {
    pub origin: Origin,
    pub message: String,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.origin.position, self.origin, self.message
        )
    }
}

/// Why a conversion produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Manifest(#[from] hangar_manifests::ManifestError),
    #[error("{} object(s) cannot be converted; nothing was written:\n{}", .0.len(), list(.0))]
    Objects(Vec<ObjectError>),
    #[error(
        "--strict: {fields} field(s) of {objects} object(s) have no Hangar equivalent (listed above); nothing was written"
    )]
    Strict { fields: usize, objects: usize },
}

fn list(errors: &[ObjectError]) -> String {
    errors
        .iter()
        .map(|error| format!("  {error}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Converts documents (as `hangar_manifests::read_documents` returns them).
/// Every object that cannot be converted is listed in the error, not only the first.
pub fn convert(documents: &[Document]) -> Result<Conversion, ConvertError> {
    let input = sources::Input::new(documents);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for document in documents {
        match convert_one(document, &input) {
            Ok(item) => items.push(item),
            Err(message) => errors.push(ObjectError {
                origin: Origin::of(document),
                message,
            }),
        }
    }
    errors.extend(duplicates(&items));
    if !errors.is_empty() {
        return Err(ConvertError::Objects(errors));
    }
    Ok(Conversion { items })
}

fn convert_one(document: &Document, input: &sources::Input) -> Result<Item, String> {
    let origin = Origin::of(document);
    if origin.name.is_empty() {
        return Err("metadata.name is required".into());
    }
    let api = identify(&origin.api_version, &origin.kind, &document.value["spec"]);
    let Some(api) = api else {
        let ours = origin.api_version.split('/').next() == Some(hangar_api::GROUP);
        return Ok(Item {
            origin,
            disposition: if ours {
                Disposition::Hangar
            } else {
                Disposition::PassedThrough
            },
            object: Some(document.value.clone()),
            unmapped: Vec::new(),
            notes: Vec::new(),
        });
    };
    let mapped = sources::convert(api, &document.value, input)?;
    let mut notes = mapped.findings.notes;
    if let Some(object) = &mapped.object {
        common::check_hangar_object(object)?;
        notes.extend(common::secret_header_notes(object));
    }
    Ok(Item {
        origin,
        disposition: Disposition::Converted(api),
        object: mapped.object,
        unmapped: mapped.findings.unmapped,
        notes,
    })
}

/// Two inputs that became the same Hangar object (e.g. a ToolHive and a kmcp
/// MCPServer of one name in one namespace) cannot both be applied.
fn duplicates(items: &[Item]) -> Vec<ObjectError> {
    let mut seen: BTreeMap<(String, String, String), &Origin> = BTreeMap::new();
    let mut errors = Vec::new();
    for item in items {
        let Some(object) = &item.object else { continue };
        if item.disposition == Disposition::PassedThrough {
            continue;
        }
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let key = (
            text("/kind").unwrap_or_default().to_string(),
            text("/metadata/namespace").unwrap_or_default().to_string(),
            text("/metadata/name").unwrap_or_default().to_string(),
        );
        if let Some(first) = seen.get(&key) {
            errors.push(ObjectError {
                origin: item.origin.clone(),
                message: format!(
                    "becomes {} {:?}, as {first} ({}) does: rename one of them",
                    key.0, key.2, first.position
                ),
            });
        } else {
            seen.insert(key, &item.origin);
        }
    }
    errors
}
