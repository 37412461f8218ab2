//! The APIs of other MCP operators that `hangar convert` turns into Hangar
//! resources, and how to recognise their objects. `hangar up`, `hangar render`
//! and the operator use this to point at `hangar convert` instead of failing
//! with a bare "unknown kind".

use serde_json::Value;

/// An MCP operator API that `hangar convert` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceApi {
    /// The MCP-Hangar operator (seed 000): `mcp-hangar.io/v1alpha1` MCPProvider,
    /// MCPProviderGroup, and MCPDiscoverySource with its original field names.
    HangarProviders,
    /// The Go operator of seed 002: `mcp.io/v1` MCPServer (`mcp.allbeone.io/v1` in its repository).
    McpIo,
    /// The kopf operator of seed 001: `mcp.example.com` MCPServer (a gateway), MCPTool, MCPPrompt, MCPResource.
    McpExample,
    /// Stacklok ToolHive's operator: `toolhive.stacklok.dev`.
    ToolHive,
    /// kagent's kmcp: `kagent.dev` MCPServer.
    Kmcp,
    /// The Kubernetes SIG Apps mcp-lifecycle-operator: `mcp.x-k8s.io`.
    McpLifecycle,
}

impl SourceApi {
    /// Who defines the API, for messages.
    pub fn project(self) -> &'static str {
        match self {
            SourceApi::HangarProviders => "the MCP-Hangar operator's MCPProvider API",
            SourceApi::McpIo => "the mcp.io MCP operator",
            SourceApi::McpExample => "the mcp.example.com (kopf) MCP operator",
            SourceApi::ToolHive => "ToolHive",
            SourceApi::Kmcp => "kmcp",
            SourceApi::McpLifecycle => "the Kubernetes mcp-lifecycle-operator",
        }
    }
}

/// API groups whose objects [`identify`] may recognise.
pub const GROUPS: &[&str] = &[
    hangar_api::GROUP,
    "mcp.io",
    "mcp.allbeone.io",
    "mcp.example.com",
    "toolhive.stacklok.dev",
    "kagent.dev",
    "mcp.x-k8s.io",
];

/// Fields of seed 000's MCPDiscoverySource that Hangar's MCPDiscoverySource does not have.
const LEGACY_DISCOVERY_FIELDS: &[&str] = &[
    "paused",
    "annotations",
    "serviceDiscovery",
    "providerTemplate",
    "filters",
    "ownership",
];

/// The source API of an object `hangar convert` reads, if it is one. `spec` is
/// the object's spec (or `Value::Null` when only the kind is known): it tells
/// seed 000's MCPDiscoverySource from Hangar's own, which shares group and kind.
pub fn identify(api_version: &str, kind: &str, spec: &Value) -> Option<SourceApi> {
    let group = match api_version.split_once('/') {
        Some((group, _version)) => group,
        None => return None, // the core group: Secrets, ConfigMaps, …
    };
    match group {
        hangar_api::GROUP => match kind {
            "MCPProvider" | "MCPProviderGroup" => Some(SourceApi::HangarProviders),
            "MCPDiscoverySource" if is_legacy_discovery(spec) => Some(SourceApi::HangarProviders),
            _ => None,
        },
        "mcp.io" | "mcp.allbeone.io" => Some(SourceApi::McpIo),
        "mcp.example.com" => Some(SourceApi::McpExample),
        "toolhive.stacklok.dev" => Some(SourceApi::ToolHive),
        // kagent.dev also holds kagent's agents, which are not MCP servers.
        "kagent.dev" if kind == "MCPServer" => Some(SourceApi::Kmcp),
        "mcp.x-k8s.io" => Some(SourceApi::McpLifecycle),
        _ => None,
    }
}

fn is_legacy_discovery(spec: &Value) -> bool {
    let has = |pointer: &str| spec.pointer(pointer).is_some();
    LEGACY_DISCOVERY_FIELDS
        .iter()
        .any(|field| has(&format!("/{field}")))
        || has("/namespaceSelector/excludeNamespaces")
        || has("/configMapRef/namespace")
        || spec["type"] == "ServiceDiscovery"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_each_source_api() {
        let cases = [
            (
                "mcp-hangar.io/v1alpha1",
                "MCPProvider",
                Some(SourceApi::HangarProviders),
            ),
            ("mcp-hangar.io/v1alpha1", "MCPServer", None),
            ("mcp.io/v1", "MCPServer", Some(SourceApi::McpIo)),
            ("mcp.allbeone.io/v1", "MCPServer", Some(SourceApi::McpIo)),
            ("mcp.example.com/v1", "MCPTool", Some(SourceApi::McpExample)),
            (
                "toolhive.stacklok.dev/v1beta1",
                "VirtualMCPServer",
                Some(SourceApi::ToolHive),
            ),
            ("kagent.dev/v1alpha1", "MCPServer", Some(SourceApi::Kmcp)),
            ("kagent.dev/v1alpha2", "Agent", None),
            (
                "mcp.x-k8s.io/v1alpha1",
                "MCPServer",
                Some(SourceApi::McpLifecycle),
            ),
            ("v1", "Secret", None),
            ("apps/v1", "Deployment", None),
        ];
        for (api_version, kind, expected) in cases {
            assert_eq!(
                identify(api_version, kind, &Value::Null),
                expected,
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn only_the_old_discovery_source_is_foreign() {
        let ours = json!({"type": "Namespace", "serviceSelector": {"matchLabels": {"a": "b"}}});
        let old = json!({"type": "Namespace", "providerTemplate": {"metadata": {}}});
        let old_selector =
            json!({"type": "Namespace", "namespaceSelector": {"excludeNamespaces": ["x"]}});
        let discovery = |spec| identify("mcp-hangar.io/v1alpha1", "MCPDiscoverySource", spec);
        assert_eq!(discovery(&ours), None);
        assert_eq!(discovery(&old), Some(SourceApi::HangarProviders));
        assert_eq!(discovery(&old_selector), Some(SourceApi::HangarProviders));
    }
}
