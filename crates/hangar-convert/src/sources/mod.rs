//! One module per source API. Each turns one source object into at most one
//! Hangar object plus its findings.

use hangar_manifests::Document;
use hangar_manifests::sources::SourceApi;
use serde_json::Value;

use crate::fields::Findings;

mod kmcp;
mod lifecycle;
mod mcp_example;
mod mcp_io;
mod providers;
mod toolhive;

/// A converted object and what was found on the way.
#[derive(Debug, Default)]
pub(crate) struct Mapped {
    pub object: Option<Value>,
    pub findings: Findings,
}

/// All input objects, for mappings that follow a reference to another one
/// (a ToolHive VirtualMCPServer's MCPOIDCConfig).
pub(crate) struct Input<'a> {
    documents: &'a [Document],
}

impl<'a> Input<'a> {
    pub fn new(documents: &'a [Document]) -> Self {
        Self { documents }
    }

    /// The object of `group` and `kind` named `name` in `namespace`.
    pub fn find(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<&'a Value> {
        self.documents
            .iter()
            .find(|document| {
                document.api_version().split('/').next() == Some(group)
                    && document.kind() == kind
                    && document.namespace() == namespace
                    && document.name() == name
            })
            .map(|document| &document.value)
    }
}

pub(crate) fn convert(api: SourceApi, document: &Value, input: &Input) -> Result<Mapped, String> {
    let kind = document["kind"].as_str().unwrap_or_default();
    match api {
        SourceApi::HangarProviders => providers::convert(kind, document),
        SourceApi::McpIo => mcp_io::convert(kind, document),
        SourceApi::McpExample => mcp_example::convert(kind, document),
        SourceApi::ToolHive => toolhive::convert(kind, document, input),
        SourceApi::Kmcp => kmcp::convert(document),
        SourceApi::McpLifecycle => lifecycle::convert(kind, document),
    }
}

/// A kind of a source API that has no Hangar counterpart: nothing is written,
/// and the whole object is reported.
pub(crate) fn no_counterpart(document: &Value, reason: &str) -> Mapped {
    let mut mapped = Mapped::default();
    mapped.findings.unmapped(
        format!(
            "{} (the whole object)",
            document["kind"].as_str().unwrap_or_default()
        ),
        reason,
    );
    mapped
}
