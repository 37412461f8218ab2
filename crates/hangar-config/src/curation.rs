//! The `curation` section: what the gateway exposes of what it serves
//! (MCPGateway `spec.tools`, `spec.prompts`, `spec.resources`, and
//! `spec.servers` per source). Filters are name globs ([`crate::glob`]):
//! a name is exposed when `allow` is empty or matches it and `deny` does
//! not. Tool overrides rename a tool, replace its title, description and
//! annotations, and fix or default arguments.
//!
//! Per-source curation (`servers`, `groups`) is in the source's own names
//! and applies first; the gateway-wide lists are in exposed names (with the
//! prefix) and apply to the result.

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::glob::glob;
use crate::tools::{ToolAnnotationsSpec, check_tool_name};
use crate::values::is_default;

/// Names kept: those `allow` matches (all when empty) that `deny` does not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Wins over `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl NameFilter {
    pub fn admits(&self, name: &str) -> bool {
        admits(&self.allow, &self.deny, name)
    }

    fn problems(&self, at: &str, problems: &mut Vec<String>) {
        pattern_problems(&self.allow, &self.deny, at, problems);
    }
}

fn admits(allow: &[String], deny: &[String], name: &str) -> bool {
    let allowed = allow.is_empty() || allow.iter().any(|p| glob(p, name));
    allowed && !deny.iter().any(|p| glob(p, name))
}

fn pattern_problems(allow: &[String], deny: &[String], at: &str, problems: &mut Vec<String>) {
    for (field, patterns) in [("allow", allow), ("deny", deny)] {
        if patterns.iter().any(String::is_empty) {
            problems.push(format!(
                "{at}.{field}: an empty pattern matches nothing; remove it"
            ));
        }
    }
}

/// Tools: a filter and overrides of single tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolCuration {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Wins over `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ToolOverride>,
}

/// How one tool is presented and called.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolOverride {
    /// The tool, by the name it has where this override applies.
    pub tool: String,
    /// The name it gets instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the tool's own hints field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotationsSpec>,
    /// Set on every call whatever the client sends; hidden from `inputSchema`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fixed_arguments: Map<String, Value>,
    /// Set when the client leaves them out; no longer required in `inputSchema`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub default_arguments: Map<String, Value>,
}

impl ToolOverride {
    /// The name the tool has after this override.
    pub fn exposed_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.tool)
    }
}

impl ToolCuration {
    pub fn admits(&self, name: &str) -> bool {
        admits(&self.allow, &self.deny, name)
    }

    /// The override for the tool named `tool` here, if any.
    pub fn override_for(&self, tool: &str) -> Option<&ToolOverride> {
        self.overrides.iter().find(|o| o.tool == tool)
    }

    /// The name a tool exposed as `exposed` may have had before these
    /// overrides, or `None` when no tool can be exposed under it (its tool
    /// was renamed away). The caller confirms the answer forwards.
    pub fn original_of<'a>(&'a self, exposed: &'a str) -> Option<&'a str> {
        if let Some(renamed) = self
            .overrides
            .iter()
            .find(|o| o.name.as_deref() == Some(exposed))
        {
            return Some(&renamed.tool);
        }
        let renamed_away = self.override_for(exposed).is_some_and(|o| o.name.is_some());
        (!renamed_away).then_some(exposed)
    }

    fn problems(&self, at: &str, problems: &mut Vec<String>) {
        pattern_problems(&self.allow, &self.deny, at, problems);
        let mut tools = HashSet::new();
        let mut names = HashSet::new();
        for (i, o) in self.overrides.iter().enumerate() {
            let here = format!("{at}.overrides[{i}] ({})", o.tool);
            if let Err(why) = check_tool_name(&o.tool) {
                problems.push(format!("{here}.tool: {why}"));
            }
            if let Some(name) = &o.name
                && let Err(why) = check_tool_name(name)
            {
                problems.push(format!("{here}.name: {why}"));
            }
            if !tools.insert(o.tool.as_str()) {
                problems.push(format!(
                    "{here}.tool: another override already names this tool"
                ));
            }
            if o.name.is_some() && !names.insert(o.exposed_name()) {
                problems.push(format!(
                    "{here}.name: another override already renames a tool to `{}`",
                    o.exposed_name()
                ));
            }
            for key in o.fixed_arguments.keys() {
                if o.default_arguments.contains_key(key) {
                    problems.push(format!(
                        "{here}: argument `{key}` is both fixed and defaulted; choose one"
                    ));
                }
            }
        }
    }
}

/// Curation of one kind of source: the gateway as a whole, or one server or group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemCuration {
    #[serde(default, skip_serializing_if = "is_default")]
    pub tools: ToolCuration,
    #[serde(default, skip_serializing_if = "is_default")]
    pub prompts: NameFilter,
    /// Over resource URIs and resource templates' URI templates.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: NameFilter,
    /// Per server or group: calls of tools and prompts it has not listed
    /// (hidden, or added since its last list) go to it by its prefix, for
    /// servers whose lists are not all they serve. Only without filters and
    /// overrides, which such names would escape.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pass_unlisted: bool,
}

impl ItemCuration {
    fn problems(&self, at: &str, problems: &mut Vec<String>) {
        self.tools.problems(&format!("{at}.tools"), problems);
        self.prompts.problems(&format!("{at}.prompts"), problems);
        self.resources
            .problems(&format!("{at}.resources"), problems);
        if self.pass_unlisted && self.filters() {
            problems.push(format!(
                "{at}.passUnlisted: names the source has not listed cannot be judged by its \
                 tools, prompts and resources filters and overrides; use one or the other"
            ));
        }
    }

    /// Whether any filter or override is set.
    fn filters(&self) -> bool {
        self.tools != ToolCuration::default()
            || self.prompts != NameFilter::default()
            || self.resources != NameFilter::default()
    }
}

/// The whole section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Curation {
    /// Over the names clients see (with prefixes).
    #[serde(default, skip_serializing_if = "is_default")]
    pub exposed: ItemCuration,
    /// Per `servers` entry, in that server's own names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, ItemCuration>,
    /// Per `groups` entry, in the group's members' own names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, ItemCuration>,
}

impl Curation {
    pub(crate) fn problems(
        &self,
        servers: &HashSet<&str>,
        groups: &HashSet<&str>,
        problems: &mut Vec<String>,
    ) {
        self.exposed.problems("curation.exposed", problems);
        if self.exposed.pass_unlisted {
            problems.push(
                "curation.exposed.passUnlisted: set it per server or group (curation.servers, curation.groups)".into(),
            );
        }
        if self.exposed.filters() && self.passes_any_unlisted() {
            problems.push(
                "curation.exposed: names a source has not listed cannot be judged by the gateway's filters \
                 and overrides; leave them out while a source has passUnlisted"
                    .into(),
            );
        }
        for (section, known, entries) in [
            ("servers", servers, &self.servers),
            ("groups", groups, &self.groups),
        ] {
            for (name, curation) in entries {
                let at = format!("curation.{section}.{name}");
                if !known.contains(name.as_str()) {
                    problems.push(format!(
                        "{at}: `{name}` is not the name of an entry in {section}"
                    ));
                }
                curation.problems(&at, problems);
            }
        }
    }
}

/// A server or group whose items are federated, for curation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    pub kind: SourceKind,
    pub name: &'a str,
    /// What the gateway puts before its names.
    pub prefix: &'a str,
}

/// A tool as curation exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposedTool<'c> {
    /// The name clients see.
    pub name: String,
    /// The name before the gateway-wide overrides (with the prefix).
    pub federated: String,
    /// The overrides that apply, the source's first, then the gateway's.
    pub overrides: Vec<&'c ToolOverride>,
}

impl Curation {
    /// The curation of one source, if it has one.
    pub fn of(&self, source: Option<Source<'_>>) -> Option<&ItemCuration> {
        let source = source?;
        match source.kind {
            SourceKind::Server => self.servers.get(source.name),
            SourceKind::Group => self.groups.get(source.name),
        }
    }

    /// Whether calls of names `source` has not listed go to it.
    pub fn passes_unlisted(&self, source: Source<'_>) -> bool {
        self.of(Some(source)).is_some_and(|c| c.pass_unlisted)
    }

    /// Whether some server or group gets the names it has not listed.
    pub fn passes_any_unlisted(&self) -> bool {
        self.servers
            .values()
            .chain(self.groups.values())
            .any(|c| c.pass_unlisted)
    }

    /// How a tool that `source` (`None`: a declared tool) calls `original`
    /// is exposed, or `None` when curation leaves it out.
    pub fn expose_tool(
        &self,
        source: Option<Source<'_>>,
        original: &str,
    ) -> Option<ExposedTool<'_>> {
        let mut overrides = Vec::new();
        let mut own = original;
        if let Some(curation) = self.of(source) {
            if !curation.tools.admits(original) {
                return None;
            }
            if let Some(o) = curation.tools.override_for(original) {
                overrides.push(o);
                own = o.exposed_name();
            }
        }
        let federated = format!("{}{own}", source.map_or("", |s| s.prefix));
        let tools = &self.exposed.tools;
        if !tools.admits(&federated) {
            return None;
        }
        let override_here = tools.override_for(&federated);
        overrides.extend(override_here);
        Some(ExposedTool {
            name: override_here.map_or(federated.clone(), |o| o.exposed_name().to_string()),
            federated,
            overrides,
        })
    }

    /// The source's own name of the tool clients call `exposed`, for a
    /// source that has not listed its tools yet; `None` when curation would
    /// not expose any tool under that name.
    pub fn tool_original(&self, source: Source<'_>, exposed: &str) -> Option<String> {
        let federated = self.exposed.tools.original_of(exposed)?;
        let own = federated.strip_prefix(source.prefix)?;
        let original = match self.of(Some(source)) {
            Some(curation) => curation.tools.original_of(own)?,
            None => own,
        };
        let confirmed = self.expose_tool(Some(source), original)?.name == exposed;
        confirmed.then(|| original.to_string())
    }

    /// Whether a prompt `source` calls `original` is exposed (as prefix + original).
    pub fn admits_prompt(&self, source: Option<Source<'_>>, original: &str) -> bool {
        let own = self.of(source).is_none_or(|c| c.prompts.admits(original));
        let exposed = format!("{}{original}", source.map_or("", |s| s.prefix));
        own && self.exposed.prompts.admits(&exposed)
    }

    /// Whether a resource (by URI) or a resource template (by URI template) of `source` is exposed.
    pub fn admits_resource(&self, source: Option<Source<'_>>, uri: &str) -> bool {
        let own = self.of(source).is_none_or(|c| c.resources.admits(uri));
        own && self.exposed.resources.admits(uri)
    }

    /// The overrides that name no tool the gateway serves, in words, given
    /// the declared tools' names and each source's own tool names (`None`
    /// when not known, e.g. a server that has not been listed yet).
    pub fn check_overrides(
        &self,
        declared: &[&str],
        sources: &[(Source<'_>, Option<Vec<String>>)],
    ) -> OverrideCheck {
        let mut check = OverrideCheck::default();
        let mut federated: HashSet<String> = declared
            .iter()
            .filter_map(|name| Some(self.expose_tool(None, name)?.federated))
            .collect();
        for (source, names) in sources {
            let Some(names) = names else {
                check
                    .unknown
                    .push(format!("{} {}", source.kind, source.name));
                continue;
            };
            if let Some(curation) = self.of(Some(*source)) {
                for o in &curation.tools.overrides {
                    if !names.contains(&o.tool) {
                        check.unmatched.push(format!(
                            "the override of tool `{}` of {} {}: it serves no such tool",
                            o.tool, source.kind, source.name
                        ));
                    }
                }
            }
            federated.extend(
                names
                    .iter()
                    .filter_map(|name| Some(self.expose_tool(Some(*source), name)?.federated)),
            );
        }
        // Without every source's names, a gateway-wide override may yet match.
        if check.unknown.is_empty() {
            for o in &self.exposed.tools.overrides {
                if !federated.contains(&o.tool) {
                    check.unmatched.push(format!(
                        "the override of tool `{}`: no tool of that name is served (or allow/deny leave it out)",
                        o.tool
                    ));
                }
            }
        }
        check
    }

    /// Whether any curation is configured.
    pub fn is_empty(&self) -> bool {
        *self == Curation::default()
    }

    /// One line per curated scope, in words: what `hangar up` and
    /// `hangar render` print.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let scopes = std::iter::once(("exposed names".to_string(), &self.exposed))
            .chain(self.servers.iter().map(|(n, c)| (format!("server {n}"), c)))
            .chain(self.groups.iter().map(|(n, c)| (format!("group {n}"), c)));
        for (scope, curation) in scopes {
            let parts: Vec<String> = [
                (
                    "tools",
                    describe_filter(&curation.tools.allow, &curation.tools.deny),
                ),
                (
                    "prompts",
                    describe_filter(&curation.prompts.allow, &curation.prompts.deny),
                ),
                (
                    "resources",
                    describe_filter(&curation.resources.allow, &curation.resources.deny),
                ),
            ]
            .into_iter()
            .filter(|(_, words)| !words.is_empty())
            .map(|(kind, words)| format!("{kind} {words}"))
            .chain(curation.tools.overrides.iter().map(describe_override))
            .collect();
            if !parts.is_empty() {
                lines.push(format!("{scope}: {}", parts.join("; ")));
            }
        }
        lines
    }
}

fn describe_filter(allow: &[String], deny: &[String]) -> String {
    let mut words = Vec::new();
    if !allow.is_empty() {
        words.push(format!("allow {}", allow.join(" ")));
    }
    if !deny.is_empty() {
        words.push(format!("deny {}", deny.join(" ")));
    }
    words.join(", ")
}

fn describe_override(o: &ToolOverride) -> String {
    let mut words = vec![match &o.name {
        Some(name) => format!("tool {} as {name}", o.tool),
        None => format!("tool {}", o.tool),
    }];
    let changed: Vec<&str> = [
        ("title", o.title.is_some()),
        ("description", o.description.is_some()),
        ("annotations", o.annotations.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    if !changed.is_empty() {
        words.push(format!("new {}", changed.join(", ")));
    }
    if !o.fixed_arguments.is_empty() {
        let keys: Vec<&str> = o.fixed_arguments.keys().map(String::as_str).collect();
        words.push(format!("fixed {}", keys.join(", ")));
    }
    if !o.default_arguments.is_empty() {
        let keys: Vec<&str> = o.default_arguments.keys().map(String::as_str).collect();
        words.push(format!("defaults for {}", keys.join(", ")));
    }
    words.join(", ")
}

/// What [`Curation::check_overrides`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverrideCheck {
    /// Overrides that name nothing served, in words.
    pub unmatched: Vec<String>,
    /// Sources whose tools are not known (`server x`, `group y`).
    pub unknown: Vec<String>,
}

/// Which list of `curation` a source is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Server,
    Group,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Server => "server",
            SourceKind::Group => "group",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_empty_allow_admits_all() {
        let all = NameFilter::default();
        assert!(all.admits("anything"));
        let filter = NameFilter {
            allow: vec!["everything_*".into()],
            deny: vec!["*_delete*".into(), "everything_echo".into()],
        };
        assert!(filter.admits("everything_add"));
        assert!(!filter.admits("everything_echo"));
        assert!(!filter.admits("everything_delete_all"));
        assert!(!filter.admits("time_now"));
    }

    #[test]
    fn curation_problems_name_their_place() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
servers: [{name: time, transport: stdio, command: t}]
curation:
  exposed:
    tools:
      allow: [""]
      overrides:
        - {tool: a, name: "two words", fixedArguments: {x: 1}, defaultArguments: {x: 2}}
        - {tool: a}
        - {tool: b, name: c}
        - {tool: d, name: c}
  servers:
    time: {prompts: {deny: [""]}}
    gone: {}
  groups:
    nowhere: {}
"#;
        let err = crate::GatewayConfig::parse(text, "cfg").unwrap_err();
        let crate::ConfigError::Invalid { problems, .. } = &err else {
            panic!("{err}")
        };
        let all = problems.join("\n");
        for expected in [
            "curation.exposed.tools.allow: an empty pattern matches nothing",
            "curation.exposed.tools.overrides[0] (a).name: `two words` may only contain",
            "curation.exposed.tools.overrides[0] (a): argument `x` is both fixed and defaulted",
            "curation.exposed.tools.overrides[1] (a).tool: another override already names this tool",
            "curation.exposed.tools.overrides[3] (d).name: another override already renames a tool to `c`",
            "curation.servers.time.prompts.deny: an empty pattern",
            "curation.servers.gone: `gone` is not the name of an entry in servers",
            "curation.groups.nowhere: `nowhere` is not the name of an entry in groups",
        ] {
            assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
        }
    }

    #[test]
    fn exposed_names_map_back_to_the_sources_own() {
        let text = r#"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
curation:
  exposed:
    tools:
      deny: ["*_secret"]
      overrides: [{tool: srv_sum, name: add}, {tool: srv_echo, fixedArguments: {loud: true}}]
  servers:
    srv: {tools: {deny: [hidden], overrides: [{tool: get-sum, name: sum}]}}
"#;
        let config: crate::GatewayConfig = serde_saphyr::from_str(text).unwrap();
        let curation = &config.curation;
        let srv = Source {
            kind: SourceKind::Server,
            name: "srv",
            prefix: "srv_",
        };
        let exposed = curation.expose_tool(Some(srv), "get-sum").unwrap();
        assert_eq!(
            (exposed.name.as_str(), exposed.federated.as_str()),
            ("add", "srv_sum")
        );
        assert_eq!(exposed.overrides.len(), 2);
        assert_eq!(
            curation.tool_original(srv, "add").as_deref(),
            Some("get-sum")
        );
        for refused in [
            "srv_sum",
            "srv_get-sum",
            "srv_hidden",
            "srv_x_secret",
            "other_x",
        ] {
            assert_eq!(curation.tool_original(srv, refused), None, "{refused}");
        }
        assert_eq!(
            curation.tool_original(srv, "srv_echo").as_deref(),
            Some("echo")
        );
        assert!(curation.expose_tool(Some(srv), "hidden").is_none());
        assert!(curation.expose_tool(None, "a_secret").is_none());
        assert_eq!(curation.expose_tool(None, "plain").unwrap().name, "plain");
    }

    #[test]
    fn renamed_tools_are_found_by_their_new_name_only() {
        let curation = ToolCuration {
            overrides: vec![
                ToolOverride {
                    tool: "a".into(),
                    name: Some("b".into()),
                    ..ToolOverride::default()
                },
                ToolOverride {
                    tool: "c".into(),
                    description: Some("same name".into()),
                    ..ToolOverride::default()
                },
            ],
            ..ToolCuration::default()
        };
        assert_eq!(curation.original_of("b"), Some("a"));
        assert_eq!(curation.original_of("a"), None, "renamed away");
        assert_eq!(curation.original_of("c"), Some("c"));
        assert_eq!(curation.original_of("other"), Some("other"));
    }
}
