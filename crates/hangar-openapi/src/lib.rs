//! An OpenAPI 3.0 or 3.1 document read into declared tools: one tool per
//! operation, named after its `operationId`, described by its summary and
//! description, taking its parameters and request body as arguments (placed
//! on call in the path, query, headers or JSON body, as the document says)
//! and answering with its success response's schema as `outputSchema`.
//!
//! Pure: the caller fetches the document and decides the server URL, headers
//! and credentials; what cannot become a tool is listed with the reason.

mod document;
mod operation;
mod schemas;

use serde_json::{Map, Value};

use hangar_config::{ArgumentPlacement, HttpMethod, ToolAnnotationsSpec};

pub use document::DocumentError;

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// Which operations become tools; an empty list admits every value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Operations with at least one of these tags.
    pub tags: Vec<String>,
    pub operation_ids: Vec<String>,
    pub methods: Vec<HttpMethod>,
}

/// What a document became.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// Every operation in the document, selected or not.
    pub operations: usize,
    pub tools: Vec<OperationTool>,
    /// Selected operations that could not become tools, and why.
    pub skipped: Vec<SkippedOperation>,
    /// The first server URL of the document (variables at their defaults), as
    /// written: it may be relative to where the document was fetched.
    pub server_url: Option<String>,
}

/// One operation as a tool; the caller joins `path` to the server URL.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationTool {
    /// `METHOD /path`, as a person finds it in the document.
    pub operation: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub input_schema: Map<String, Value>,
    pub output_schema: Option<Map<String, Value>>,
    pub annotations: ToolAnnotationsSpec,
    pub method: HttpMethod,
    /// The operation's path with its `{name}` templates.
    pub path: String,
    pub arguments: Vec<ArgumentPlacement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedOperation {
    /// `METHOD /path (operationId)`.
    pub operation: String,
    pub reason: String,
}

/// Reads `text` (JSON or YAML) and turns the operations `selection` admits into tools.
pub fn convert(text: &str, selection: &Selection) -> Result<Conversion, DocumentError> {
    let spec = document::parse(text)?;
    Ok(operation::tools(&spec, selection))
}
