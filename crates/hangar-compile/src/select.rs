//! The one selection rule of the operator, `hangar render` and `hangar up`:
//! which objects a gateway serves. A gateway serves what its selectors pick
//! among the objects of its own namespace; an absent selector picks nothing,
//! an empty one (`{}`) everything. Without a gateway (`hangar up` on plain
//! manifests), everything is served.

use std::collections::{BTreeMap, BTreeSet};

use hangar_api::{
    LabelSelector, MCPGateway, MCPPrompt, MCPResource, MCPServer, MCPServerGroup, MCPTool,
    MCPToolSet,
};
use hangar_manifests::Manifests;
use kube::{Resource, ResourceExt};

use crate::toolsets::ToolSetDocument;

/// Whether a gateway's selector picks an object with these labels: an absent
/// selector picks nothing, an empty one (`{}`) everything.
pub fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_some_and(|selector| selector_matches(selector, labels))
}

/// Whether `labels` match `selector`, with Kubernetes semantics (an empty selector matches everything).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_ok = selector
        .match_expressions
        .iter()
        .flatten()
        .all(|requirement| {
            let values = requirement.values.as_deref().unwrap_or_default();
            let value = labels.get(&requirement.key);
            match requirement.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An unknown operator matches nothing rather than everything.
                _ => false,
            }
        });
    labels_ok && expressions_ok
}

/// The kinds a gateway selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Tool,
    ToolSet,
    Prompt,
    Resource,
    Server,
    Group,
}

impl Kind {
    /// Tools, prompts and resources come from `toolSelector`; servers and groups from `serverSelector`.
    pub fn selector(self, gateway: &MCPGateway) -> Option<&LabelSelector> {
        match self {
            Kind::Tool | Kind::ToolSet | Kind::Prompt | Kind::Resource => {
                gateway.spec.tool_selector.as_ref()
            }
            Kind::Server | Kind::Group => gateway.spec.server_selector.as_ref(),
        }
    }
}

/// One selected object, by kind and name (the namespace is the gateway's).
pub type Member = (Kind, String);

/// Objects a gateway could serve: those of its namespace (or, for `hangar up`
/// without a gateway, of every namespace).
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    pub tools: Vec<MCPTool>,
    pub toolsets: Vec<MCPToolSet>,
    pub prompts: Vec<MCPPrompt>,
    pub resources: Vec<MCPResource>,
    pub servers: Vec<MCPServer>,
    pub groups: Vec<MCPServerGroup>,
    /// MCPServers (by name) whose `spec.registry` does not resolve, with why:
    /// left out wherever they are selected. The other servers carry the spec
    /// their catalog entry resolved to.
    pub unresolved: BTreeMap<String, String>,
    /// MCPToolSets' documents (by object name) as read; a set without one is
    /// left out until it is read.
    pub documents: BTreeMap<String, ToolSetDocument>,
}

fn namespace_of<T: Resource>(object: &T) -> &str {
    object.meta().namespace.as_deref().unwrap_or("default")
}

impl Candidates {
    /// Every object of the manifests, whatever its namespace.
    pub fn all(manifests: &Manifests) -> Self {
        Self {
            tools: manifests.tools.clone(),
            toolsets: manifests.toolsets.clone(),
            prompts: manifests.prompts.clone(),
            resources: manifests.resources.clone(),
            servers: manifests.servers.clone(),
            groups: manifests.server_groups.clone(),
            unresolved: BTreeMap::new(),
            documents: BTreeMap::new(),
        }
    }

    /// The objects of the manifests in `namespace` (objects without one are in `default`).
    pub fn in_namespace(manifests: &Manifests, namespace: &str) -> Self {
        fn local<T: Resource + Clone>(items: &[T], namespace: &str) -> Vec<T> {
            items
                .iter()
                .filter(|item| namespace_of(*item) == namespace)
                .cloned()
                .collect()
        }
        Self {
            tools: local(&manifests.tools, namespace),
            toolsets: local(&manifests.toolsets, namespace),
            prompts: local(&manifests.prompts, namespace),
            resources: local(&manifests.resources, namespace),
            servers: local(&manifests.servers, namespace),
            groups: local(&manifests.server_groups, namespace),
            unresolved: BTreeMap::new(),
            documents: BTreeMap::new(),
        }
    }

    /// What `gateway` serves of these candidates; everything without a gateway.
    pub fn select<'a>(&'a self, gateway: Option<&'a MCPGateway>) -> Selection<'a> {
        fn pick<T: ResourceExt + Clone>(
            items: &[T],
            gateway: Option<&MCPGateway>,
            kind: Kind,
        ) -> Vec<T> {
            items
                .iter()
                .filter(|item| gateway.is_none_or(|g| selects(kind.selector(g), item.labels())))
                .cloned()
                .collect()
        }
        Selection {
            gateway,
            selected: Candidates {
                tools: pick(&self.tools, gateway, Kind::Tool),
                toolsets: pick(&self.toolsets, gateway, Kind::ToolSet),
                prompts: pick(&self.prompts, gateway, Kind::Prompt),
                resources: pick(&self.resources, gateway, Kind::Resource),
                servers: pick(&self.servers, gateway, Kind::Server),
                groups: pick(&self.groups, gateway, Kind::Group),
                unresolved: self.unresolved.clone(),
                documents: self.documents.clone(),
            },
            candidates: self,
        }
    }

    /// Every object, by kind and name.
    pub fn members(&self) -> BTreeSet<Member> {
        fn named<T: ResourceExt>(kind: Kind, items: &[T]) -> impl Iterator<Item = Member> + '_ {
            items.iter().map(move |item| (kind, item.name_any()))
        }
        named(Kind::Tool, &self.tools)
            .chain(named(Kind::ToolSet, &self.toolsets))
            .chain(named(Kind::Prompt, &self.prompts))
            .chain(named(Kind::Resource, &self.resources))
            .chain(named(Kind::Server, &self.servers))
            .chain(named(Kind::Group, &self.groups))
            .collect()
    }
}

/// What one gateway serves.
#[derive(Clone, Debug)]
pub struct Selection<'a> {
    /// Supplies naming, session, host, auth and state settings; defaults apply without one.
    pub gateway: Option<&'a MCPGateway>,
    /// The objects its selectors pick.
    pub selected: Candidates,
    /// All it could pick: group members come from these, selected or not.
    pub candidates: &'a Candidates,
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn label_selectors_follow_kubernetes_semantics() {
        let team = labels(&[("team", "a"), ("tier", "web")]);
        assert!(!selects(None, &team), "an absent selector selects nothing");
        assert!(selects(Some(&LabelSelector::default()), &BTreeMap::new()));
        let by_label = LabelSelector {
            match_labels: Some(labels(&[("team", "a")])),
            match_expressions: None,
        };
        assert!(selects(Some(&by_label), &team));
        assert!(!selects(Some(&by_label), &labels(&[("team", "b")])));
        assert!(!selector_matches(&by_label, &BTreeMap::new()));
        let cases = [
            (requirement("tier", "In", &["web", "api"]), true),
            (requirement("tier", "In", &["db"]), false),
            (requirement("tier", "NotIn", &["db"]), true),
            (requirement("missing", "NotIn", &["x"]), true),
            (requirement("team", "Exists", &[]), true),
            (requirement("team", "DoesNotExist", &[]), false),
            (requirement("team", "Sometimes", &["a"]), false),
        ];
        for (requirement, expected) in cases {
            let selector = LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![requirement.clone()]),
            };
            assert_eq!(
                selector_matches(&selector, &team),
                expected,
                "{requirement:?}"
            );
        }
    }

    const MIXED: &str = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: edge, namespace: team}
spec:
  toolSelector: {matchLabels: {expose: "yes"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: picked, namespace: team, labels: {any: thing}}
spec: {mode: remote, endpoint: "http://a.example/mcp"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: shown, namespace: team, labels: {expose: "yes"}}
spec: {backend: {url: "http://t.example"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: hidden, namespace: team}
spec: {backend: {url: "http://t.example"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: elsewhere, namespace: other, labels: {expose: "yes"}}
spec: {backend: {url: "http://t.example"}}
"#;

    #[test]
    fn a_gateway_picks_from_its_namespace_and_no_gateway_picks_everything() {
        let manifests = hangar_manifests::parse(MIXED, "mixed").unwrap();
        let gateway = &manifests.gateways[0];
        let candidates = Candidates::in_namespace(&manifests, "team");
        let selection = candidates.select(Some(gateway));
        assert_eq!(
            selection.selected.members(),
            BTreeSet::from([(Kind::Tool, "shown".to_string())]),
            "no serverSelector picks no server; toolSelector picks one tool of this namespace"
        );
        assert_eq!(selection.candidates.servers.len(), 1);
        let everything = Candidates::all(&manifests);
        assert_eq!(everything.select(None).selected.members().len(), 4);
    }
}
