//! Which objects an MCPGateway serves. An absent selector selects nothing; an
//! empty one (`{}`) selects everything in the gateway's namespace.

use std::collections::BTreeSet;

use hangar_api::{
    LabelSelector, MCPGateway, MCPPrompt, MCPResource, MCPServer, MCPServerGroup, MCPTool,
};
pub use hangar_gateway::compile::selects;
use kube::ResourceExt;

/// The kinds a gateway selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Tool,
    Prompt,
    Resource,
    Server,
    Group,
}

impl Kind {
    /// Tools, prompts and resources come from `toolSelector`; servers and groups from `serverSelector`.
    pub fn selector(self, gateway: &MCPGateway) -> Option<&LabelSelector> {
        match self {
            Kind::Tool | Kind::Prompt | Kind::Resource => gateway.spec.tool_selector.as_ref(),
            Kind::Server | Kind::Group => gateway.spec.server_selector.as_ref(),
        }
    }
}

/// One selected object, by kind and name (the namespace is the gateway's).
pub type Member = (Kind, String);

/// Everything in one namespace a gateway could serve.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub tools: Vec<MCPTool>,
    pub prompts: Vec<MCPPrompt>,
    pub resources: Vec<MCPResource>,
    pub servers: Vec<MCPServer>,
    pub groups: Vec<MCPServerGroup>,
}

impl Catalog {
    /// What `gateway` selects from this catalog.
    pub fn selected_by(&self, gateway: &MCPGateway) -> Catalog {
        fn pick<T: ResourceExt + Clone>(items: &[T], gateway: &MCPGateway, kind: Kind) -> Vec<T> {
            items
                .iter()
                .filter(|item| selects(kind.selector(gateway), item.labels()))
                .cloned()
                .collect()
        }
        Catalog {
            tools: pick(&self.tools, gateway, Kind::Tool),
            prompts: pick(&self.prompts, gateway, Kind::Prompt),
            resources: pick(&self.resources, gateway, Kind::Resource),
            servers: pick(&self.servers, gateway, Kind::Server),
            groups: pick(&self.groups, gateway, Kind::Group),
        }
    }

    /// Every object, by kind and name.
    pub fn members(&self) -> BTreeSet<Member> {
        let names =
            |kind: Kind, items: Vec<String>| items.into_iter().map(move |name| (kind, name));
        names(
            Kind::Tool,
            self.tools.iter().map(ResourceExt::name_any).collect(),
        )
        .chain(names(
            Kind::Prompt,
            self.prompts.iter().map(ResourceExt::name_any).collect(),
        ))
        .chain(names(
            Kind::Resource,
            self.resources.iter().map(ResourceExt::name_any).collect(),
        ))
        .chain(names(
            Kind::Server,
            self.servers.iter().map(ResourceExt::name_any).collect(),
        ))
        .chain(names(
            Kind::Group,
            self.groups.iter().map(ResourceExt::name_any).collect(),
        ))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn absent_selects_nothing_and_empty_selects_everything() {
        let team = labels(&[("team", "search")]);
        assert!(!selects(None, &team));
        assert!(selects(Some(&LabelSelector::default()), &team));
        let by_team = LabelSelector {
            match_labels: Some(labels(&[("team", "search")])),
            ..Default::default()
        };
        assert!(selects(Some(&by_team), &team));
        assert!(!selects(Some(&by_team), &labels(&[("team", "billing")])));
    }
}
