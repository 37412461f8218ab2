//! An MCPGateway's `spec.tools`, `spec.prompts`, `spec.resourceUris` and
//! `spec.servers` into the config's `curation` section. Runs after servers
//! and groups are compiled: a `spec.servers` entry applies to the server or
//! group of that name the config serves, and one naming neither is reported
//! in [`crate::Compiled::uncurated`].

use hangar_api::MCPGateway;
use hangar_config::curation::{OverrideCheck, Source, SourceKind};
use hangar_config::{GatewayConfig, ItemCuration, NameFilter, ToolCuration, ToolOverride};

use crate::Compiler;
use crate::items::annotations;

impl Compiler<'_> {
    pub(crate) fn curation(&mut self, gateway: &MCPGateway) {
        let spec = &gateway.spec;
        self.config.curation.exposed = items(
            spec.tools.as_ref(),
            spec.prompts.as_ref(),
            spec.resource_uris.as_ref(),
        );
        self.fixed_wins("spec.tools", spec.tools.as_ref());
        let gateway_filters =
            spec.tools.is_some() || spec.prompts.is_some() || spec.resource_uris.is_some();
        let authorization = spec
            .auth
            .as_ref()
            .is_some_and(|a| a.authorization.is_some());
        for source in &spec.servers {
            let blocked_by = match (gateway_filters, authorization) {
                (true, _) => Some("the gateway's spec.tools, spec.prompts or spec.resourceUris"),
                (false, true) => Some("spec.auth.authorization"),
                (false, false) => None,
            };
            let pass_unlisted = match blocked_by {
                Some(what) if source.pass_unlisted => {
                    self.uncurated.push(format!(
                        "spec.servers[{}].passUnlisted: off, as names not listed cannot be judged by {what}",
                        source.name
                    ));
                    false
                }
                _ => source.pass_unlisted,
            };
            let curation = ItemCuration {
                pass_unlisted,
                ..items(
                    source.tools.as_ref(),
                    source.prompts.as_ref(),
                    source.resource_uris.as_ref(),
                )
            };
            let at = format!("spec.servers[{}].tools", source.name);
            self.fixed_wins(&at, source.tools.as_ref());
            let name = &source.name;
            let config = &mut self.config;
            let group = config.groups.iter().any(|g| &g.name == name);
            let server = config.servers.iter().any(|s| &s.name == name && s.expose);
            if group {
                config
                    .curation
                    .groups
                    .insert(name.clone(), curation.clone());
            }
            if server {
                config.curation.servers.insert(name.clone(), curation);
            }
            if !group && !server {
                self.uncurated.push(format!(
                    "spec.servers: `{name}` is no MCPServer or MCPServerGroup this gateway serves"
                ));
            }
        }
    }

    /// Reports arguments both fixed and defaulted (`tool_override` keeps them fixed).
    fn fixed_wins(&mut self, at: &str, tools: Option<&hangar_api::ToolCuration>) {
        for o in tools.iter().flat_map(|t| &t.overrides) {
            let (Some(fixed), Some(defaults)) = (&o.fixed_arguments, &o.default_arguments) else {
                continue;
            };
            for key in fixed.0.keys().filter(|k| defaults.0.contains_key(*k)) {
                self.uncurated.push(format!(
                    "{at}.overrides[{}]: argument `{key}` is both fixed and defaulted; it is fixed",
                    o.tool
                ));
            }
        }
    }
}

fn items(
    tools: Option<&hangar_api::ToolCuration>,
    prompts: Option<&hangar_api::NameFilter>,
    resources: Option<&hangar_api::NameFilter>,
) -> ItemCuration {
    ItemCuration {
        tools: tools.map(tool_curation).unwrap_or_default(),
        prompts: prompts.map(filter).unwrap_or_default(),
        resources: resources.map(filter).unwrap_or_default(),
        pass_unlisted: false,
    }
}

fn filter(filter: &hangar_api::NameFilter) -> NameFilter {
    NameFilter {
        allow: filter.allow.clone(),
        deny: filter.deny.clone(),
    }
}

fn tool_curation(tools: &hangar_api::ToolCuration) -> ToolCuration {
    ToolCuration {
        allow: tools.allow.clone(),
        deny: tools.deny.clone(),
        overrides: tools.overrides.iter().map(tool_override).collect(),
    }
}

fn tool_override(o: &hangar_api::ToolOverride) -> ToolOverride {
    let arguments = |a: &Option<hangar_api::Arguments>| {
        a.iter()
            .flat_map(|a| a.0.iter())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut curated = ToolOverride {
        tool: o.tool.clone(),
        name: o.name.clone(),
        title: o.title.clone(),
        description: o.description.clone(),
        annotations: o.annotations.as_ref().map(annotations),
        fixed_arguments: arguments(&o.fixed_arguments),
        default_arguments: arguments(&o.default_arguments),
    };
    let fixed = &curated.fixed_arguments;
    curated
        .default_arguments
        .retain(|key, _| !fixed.contains_key(key));
    curated
}

/// Which of a compiled config's curation overrides name nothing it serves,
/// given each server's own tool names (`None` when not known in full).
/// Groups serve what their members list; one with a member not known is not known.
pub fn check_overrides(
    config: &GatewayConfig,
    server_tools: impl Fn(&str) -> Option<Vec<String>>,
) -> OverrideCheck {
    let server_prefixes: Vec<String> = config
        .servers
        .iter()
        .map(|s| config.prefix_for(s))
        .collect();
    let group_prefixes: Vec<String> = config
        .groups
        .iter()
        .map(|g| config.prefix_for_group(g))
        .collect();
    let mut sources = Vec::new();
    for (server, prefix) in config.servers.iter().zip(&server_prefixes) {
        if server.expose {
            let source = Source {
                kind: SourceKind::Server,
                name: &server.name,
                prefix,
            };
            sources.push((source, server_tools(&server.name)));
        }
    }
    for (group, prefix) in config.groups.iter().zip(&group_prefixes) {
        let members: Option<Vec<Vec<String>>> =
            group.members.iter().map(|m| server_tools(m)).collect();
        let names = members.map(|members| {
            let mut names: Vec<String> = members.into_iter().flatten().collect();
            names.sort();
            names.dedup();
            names
        });
        let source = Source {
            kind: SourceKind::Group,
            name: &group.name,
            prefix,
        };
        sources.push((source, names));
    }
    let declared: Vec<&str> = config.tools.iter().map(|t| t.name.as_str()).collect();
    config.curation.check_overrides(&declared, &sources)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Candidates, SecretDestinations, Target, compile};

    const MANIFESTS: &str = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: edge, namespace: team}
spec:
  serverSelector: {}
  tools:
    allow: ["everything_*", "search_*"]
    deny: ["*_delete*"]
    overrides:
      - tool: everything_echo
        name: say
        description: Says what it is told
        annotations: {readOnlyHint: true}
        fixedArguments: {mode: loud}
        defaultArguments: {times: 2, mode: quiet}
      - {tool: everything_gone, title: Nobody serves this}
  prompts: {deny: ["*_secret"]}
  resourceUris: {allow: ["demo://*"]}
  servers:
    - name: everything
      tools: {deny: [printEnv], overrides: [{tool: add, name: sum}]}
    - name: search
      prompts: {allow: [ask]}
    - name: absent
      tools: {deny: ["*"]}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: everything, namespace: team}
spec: {mode: remote, endpoint: "http://everything.example/mcp"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: search-a, namespace: team, labels: {pool: search}}
spec: {mode: remote, endpoint: "http://a.example/mcp"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {name: search, namespace: team}
spec: {selector: {matchLabels: {pool: search}}}
"#;

    fn compiled() -> crate::Compiled {
        let manifests = hangar_manifests::parse(MANIFESTS, "curation").unwrap();
        let all = Candidates::all(&manifests);
        let gateway = &manifests.gateways[0];
        compile(
            &all.select(Some(gateway)),
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        )
    }

    #[test]
    fn the_gateway_spec_becomes_the_curation_section() {
        let out = compiled();
        let config = &out.config;
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let tools = &config.curation.exposed.tools;
        assert_eq!(tools.allow, ["everything_*", "search_*"]);
        assert_eq!(tools.deny, ["*_delete*"]);
        let say = tools.override_for("everything_echo").unwrap();
        assert_eq!(say.exposed_name(), "say");
        assert_eq!(say.annotations.as_ref().unwrap().read_only_hint, Some(true));
        assert_eq!(json!(say.fixed_arguments), json!({"mode": "loud"}));
        assert_eq!(json!(say.default_arguments), json!({"times": 2}));
        assert_eq!(config.curation.exposed.prompts.deny, ["*_secret"]);
        assert_eq!(config.curation.exposed.resources.allow, ["demo://*"]);
        assert_eq!(
            config.curation.servers["everything"].tools.deny,
            ["printEnv"]
        );
        assert_eq!(config.curation.groups["search"].prompts.allow, ["ask"]);
        assert_eq!(
            out.uncurated,
            [
                "spec.tools.overrides[everything_echo]: argument `mode` is both fixed and defaulted; it is fixed",
                "spec.servers: `absent` is no MCPServer or MCPServerGroup this gateway serves",
            ]
        );
        let again = GatewayConfig::parse(&config.to_yaml(), "configmap").unwrap();
        assert_eq!(&again, config);
    }

    #[test]
    fn overrides_are_judged_by_what_servers_list() {
        let out = compiled();
        let listed = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect());
        let check = check_overrides(&out.config, |server| match server {
            "everything" => listed(&["echo", "add", "printEnv"]),
            "search-a" => listed(&["query"]),
            _ => None,
        });
        assert_eq!(check.unknown, Vec::<String>::new());
        assert_eq!(
            check.unmatched,
            [
                "the override of tool `everything_gone`: no tool of that name is served (or allow/deny leave it out)"
            ]
        );
        // The source's own override of `add` needs `add` among its tools.
        let check = check_overrides(&out.config, |server| match server {
            "everything" => listed(&["echo"]),
            _ => listed(&[]),
        });
        assert!(
            check
                .unmatched
                .iter()
                .any(|u| u.contains("`add` of server everything")),
            "{:?}",
            check.unmatched
        );
        // A server that has not listed yet leaves gateway-wide overrides unjudged.
        let check = check_overrides(&out.config, |server| match server {
            "everything" => listed(&["echo", "add"]),
            _ => None,
        });
        assert_eq!(check.unknown, ["server search-a", "group search"]);
        assert!(check.unmatched.is_empty(), "{:?}", check.unmatched);
    }

    #[test]
    fn unlisted_names_pass_only_where_no_gateway_filter_judges_names() {
        let manifests = |gateway_spec: &str| {
            hangar_manifests::parse(
                &format!(
                    r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {{name: edge, namespace: team}}
spec:
  serverSelector: {{}}
  servers: [{{name: everything, passUnlisted: true}}]
{gateway_spec}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: everything, namespace: team}}
spec: {{mode: remote, endpoint: "http://everything.example/mcp"}}
"#
                ),
                "pass unlisted",
            )
            .unwrap()
        };
        let compiled = |gateway_spec: &str| {
            let manifests = manifests(gateway_spec);
            let all = Candidates::all(&manifests);
            compile(
                &all.select(Some(&manifests.gateways[0])),
                Target::Cluster {
                    namespace: "team",
                    secrets: &SecretDestinations::Unchecked,
                },
            )
        };
        let open = compiled("");
        assert!(open.config.curation.servers["everything"].pass_unlisted);
        assert!(open.uncurated.is_empty(), "{:?}", open.uncurated);
        assert!(open.config.problems().is_empty());
        let filtered = compiled("  prompts: {deny: [x]}");
        assert!(!filtered.config.curation.servers["everything"].pass_unlisted);
        assert_eq!(
            filtered.uncurated,
            [
                "spec.servers[everything].passUnlisted: off, as names not listed cannot be judged by the gateway's spec.tools, spec.prompts or spec.resourceUris"
            ]
        );
        assert!(filtered.config.problems().is_empty());
    }
}
