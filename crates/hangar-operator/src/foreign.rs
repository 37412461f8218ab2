//! Other MCP operators' kinds served by the cluster (ToolHive, kmcp, the
//! MCP-Hangar operator's MCPProvider, …). Hangar does not reconcile them; at
//! start it says so once per API, and how to convert their objects.

use std::collections::BTreeMap;

use hangar_manifests::sources::{GROUPS, SourceApi, identify};
use kube::Client;

/// Logs a warning for each source API `hangar convert` reads whose kinds the
/// API server serves. Discovery needs no RBAC rule; a failure only costs the hint.
pub async fn warn_about_foreign_kinds(client: &Client) {
    let groups = match client.list_api_groups().await {
        Ok(groups) => groups.groups,
        Err(error) => {
            tracing::debug!(%error, "cannot list API groups to look for other MCP operators' kinds");
            return;
        }
    };
    let mut served: BTreeMap<SourceApi, BTreeMap<String, String>> = BTreeMap::new();
    for group in groups.iter().filter(|g| GROUPS.contains(&g.name.as_str())) {
        for version in &group.versions {
            let Ok(list) = client
                .list_api_group_resources(&version.group_version)
                .await
            else {
                continue;
            };
            for resource in list.resources.iter().filter(|r| !r.name.contains('/')) {
                if let Some(api) = identify(
                    &version.group_version,
                    &resource.kind,
                    &serde_json::Value::Null,
                ) {
                    served.entry(api).or_default().insert(
                        resource.kind.clone(),
                        format!("{}.{}", resource.name, group.name),
                    );
                }
            }
        }
    }
    for (api, kinds) in served {
        let names: Vec<&str> = kinds.keys().map(String::as_str).collect();
        let resources: Vec<&str> = kinds.values().map(String::as_str).collect();
        tracing::warn!(
            project = api.project(),
            kinds = %names.join(", "),
            "the cluster serves {} of {}, which Hangar does not manage: convert those objects with `kubectl get {} -A -o yaml | hangar convert -f -` and apply the result",
            names.join(", "),
            api.project(),
            resources.join(",")
        );
    }
}
