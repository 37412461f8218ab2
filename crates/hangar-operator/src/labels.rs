//! Labels and names shared by everything the operator creates.

use std::collections::BTreeMap;

/// The one field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "hangar-operator";
/// Finalizer that holds deletion until owned objects are cleaned up.
pub const FINALIZER: &str = "mcp-hangar.io/cleanup";
/// `app.kubernetes.io/managed-by` value on every object the operator creates.
pub const MANAGED_BY: &str = "hangar";
/// The label on every object the operator creates, with value [`MANAGED_BY`].
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The label naming the resource an object belongs to (its children are swept by it and their owner).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label naming the MCPServer an object belongs to; also the pod selector.
pub const SERVER_LABEL: &str = "mcp-hangar.io/server";
/// Label on a gateway's activity Lease naming the scale-to-zero MCPServer it is about.
pub const ACTIVITY_LABEL: &str = "mcp-hangar.io/activity-of";
/// Where the Hangar image keeps the `hangar` binary (its entrypoint; the image has no shell or PATH).
pub const HANGAR_BINARY: &str = "/hangar";
/// Pod annotation carrying the hash of mounted configuration, so a change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "mcp-hangar.io/config-hash";

/// The labels on every object belonging to MCPServer `name`.
pub fn server_labels(name: &str) -> BTreeMap<String, String> {
    let mut labels = server_selector(name);
    labels.insert("app.kubernetes.io/name".into(), "mcp-server".into());
    labels.insert(INSTANCE_LABEL.into(), name.into());
    labels.insert("app.kubernetes.io/component".into(), "mcp-server".into());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels.insert("app.kubernetes.io/part-of".into(), "hangar".into());
    labels
}

/// The pod selector of MCPServer `name` (immutable once a Deployment exists).
pub fn server_selector(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(SERVER_LABEL.to_string(), name.to_string())])
}

/// A selector map as the `a=b,c=d` string the scale subresource reports.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
