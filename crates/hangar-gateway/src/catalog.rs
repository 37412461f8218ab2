//! The merged view clients see: declared items plus every upstream's and
//! every group's items, named per the naming policy, in a stable order, with
//! routes back to their source. Rebuilt whenever the config or an upstream's
//! lists change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use rmcp::ErrorData;
use rmcp::model::{JsonObject, Prompt, Resource, ResourceTemplate, ServerResult, Tool};

use crate::curation::{InjectedArguments, curate, injected};
use crate::declared::{Declared, DeclaredPrompt, DeclaredResource, DeclaredTool};
use crate::group::Group;
use crate::search::ToolIndex;
use crate::upstream::{Failure, Listing, Upstream};
use crate::uri_template::UriTemplates;
use hangar_config::curation::{OverrideCheck, Source, SourceKind};
use hangar_config::{ConflictPolicy, Curation, GatewayConfig};

/// Where calls for a federated item go: one server, or a group's members.
#[derive(Clone)]
pub enum Route {
    Server(Arc<Upstream>),
    Group(Arc<Group>),
}

/// What a forwarded request is about, so a group picks members that offer it.
#[derive(Clone, Copy)]
pub enum Item<'a> {
    Tool(&'a str),
    Prompt(&'a str),
    Resource(&'a str),
    /// Completions, subscriptions: any member.
    Any,
}

impl Item<'_> {
    /// Whether `upstream` offers the item, as far as its last listing tells;
    /// one never listed may.
    fn offered_by(self, upstream: &Upstream) -> bool {
        let Some(listing) = upstream.listing() else {
            return true;
        };
        let listing: &Listing = &listing;
        match self {
            Item::Tool(name) => listing.tools.iter().any(|t| t.name == name),
            Item::Prompt(name) => listing.prompts.iter().any(|p| p.name == name),
            Item::Resource(uri) => {
                listing.resources.iter().any(|r| r.uri == uri)
                    || listing.uri_templates.any_match(uri)
            }
            Item::Any => true,
        }
    }
}

impl Route {
    /// The server's or group's name, for messages.
    pub fn name(&self) -> &str {
        match self {
            Route::Server(upstream) => upstream.name(),
            Route::Group(group) => group.name(),
        }
    }

    fn prefix(&self) -> &str {
        match self {
            Route::Server(upstream) => upstream.prefix(),
            Route::Group(group) => group.prefix(),
        }
    }

    /// The route as curation names it.
    fn source(&self) -> Source<'_> {
        let kind = match self {
            Route::Server(_) => SourceKind::Server,
            Route::Group(_) => SourceKind::Group,
        };
        Source {
            kind,
            name: self.name(),
            prefix: self.prefix(),
        }
    }

    fn upstreams(&self) -> &[Arc<Upstream>] {
        match self {
            Route::Server(upstream) => std::slice::from_ref(upstream),
            Route::Group(group) => group.members(),
        }
    }

    pub fn supports_completions(&self) -> bool {
        self.upstreams().iter().any(|u| u.supports_completions())
    }

    /// Whether a call would start a scale-to-zero server.
    fn wakes_on_call(&self) -> bool {
        self.upstreams().iter().any(|u| u.wakes_on_call())
    }

    /// Runs `call` on the server, or on group members by the group's strategy
    /// until one answers.
    pub async fn dispatch<F, Fut>(
        &self,
        item: Item<'_>,
        mut call: F,
    ) -> Result<ServerResult, Failure>
    where
        F: FnMut(Arc<Upstream>) -> Fut,
        Fut: Future<Output = Result<ServerResult, Failure>>,
    {
        match self {
            Route::Server(upstream) => call(upstream.clone()).await,
            Route::Group(group) => {
                group
                    .dispatch(&|member| item.offered_by(member), call)
                    .await
            }
        }
    }

    /// The upstream that holds a client's resource subscription: the server,
    /// or the first group member that can take calls and supports subscriptions.
    pub fn subscription_holder(&self) -> Option<Arc<Upstream>> {
        self.upstreams()
            .iter()
            .filter(|u| u.supports_subscribe())
            .find(|u| u.availability() == crate::upstream::Availability::Ready)
            .or_else(|| self.upstreams().iter().find(|u| u.supports_subscribe()))
            .cloned()
    }

    /// Every upstream that may hold a subscription of this route.
    pub fn subscription_holders(&self) -> Vec<Arc<Upstream>> {
        self.upstreams()
            .iter()
            .filter(|u| u.supports_subscribe())
            .cloned()
            .collect()
    }

    /// Why the route has no listing yet, in words for the caller.
    pub fn unavailable_reason(&self) -> String {
        match self {
            Route::Server(upstream) => upstream.unavailable_reason(),
            Route::Group(group) => {
                let members: Vec<String> = group
                    .members()
                    .iter()
                    .map(|u| u.unavailable_reason())
                    .collect();
                format!(
                    "no member of MCP server group {} has connected yet: {}",
                    group.name(),
                    members.join("; ")
                )
            }
        }
    }
}

#[derive(Clone)]
pub enum ToolTarget {
    Declared(Arc<DeclaredTool>),
    /// A server or group and the tool's name there.
    Upstream(Route, String),
}

/// Where a tool's calls go, and the arguments curation adds to them.
#[derive(Clone)]
pub struct CuratedTool {
    pub target: ToolTarget,
    pub arguments: Arc<InjectedArguments>,
}

#[derive(Clone)]
pub enum PromptTarget {
    Declared(Arc<DeclaredPrompt>),
    Upstream(Route, String),
}

#[derive(Clone)]
pub enum ResourceTarget {
    Declared(Arc<DeclaredResource>),
    Upstream(Route),
}

/// What a name resolves to.
pub enum Lookup<T> {
    Found(T),
    /// Several sources offer the name and the policy withholds it.
    Clash(Vec<String>),
    /// The name carries the prefix of a server or group that is not connected.
    Unavailable(Route),
    Unknown,
}

struct Section<Item, Target> {
    items: Vec<Item>,
    targets: Vec<Target>,
    index: HashMap<String, usize>,
    clashes: BTreeMap<String, Vec<String>>,
}

impl<Item, Target> Default for Section<Item, Target> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            targets: Vec::new(),
            index: HashMap::new(),
            clashes: BTreeMap::new(),
        }
    }
}

impl<Item, Target: Clone> Section<Item, Target> {
    /// Adds candidates in priority order, then applies the conflict policy.
    fn build(candidates: Vec<(String, Item, Target, String)>, policy: ConflictPolicy) -> Self {
        let mut sources: HashMap<String, Vec<String>> = HashMap::new();
        for (key, _, _, source) in &candidates {
            sources.entry(key.clone()).or_default().push(source.clone());
        }
        let mut section = Self::default();
        for (key, item, target, _) in candidates {
            let offered_by = &sources[&key];
            if offered_by.len() > 1 {
                section
                    .clashes
                    .entry(key.clone())
                    .or_insert_with(|| offered_by.clone());
                if policy == ConflictPolicy::Reject || section.index.contains_key(&key) {
                    continue;
                }
            }
            section.index.insert(key, section.items.len());
            section.items.push(item);
            section.targets.push(target);
        }
        section
    }

    fn get(&self, key: &str) -> Option<Target> {
        self.index.get(key).map(|i| self.targets[*i].clone())
    }
}

/// Everything the gateway serves at one moment.
#[derive(Default)]
pub struct Catalog {
    tools: Section<Tool, CuratedTool>,
    prompts: Section<Prompt, PromptTarget>,
    resources: Section<Resource, ResourceTarget>,
    templates: Vec<(ResourceTemplate, Route)>,
    /// `templates` compiled, to route reads by URI.
    uri_templates: UriTemplates,
    /// Servers and groups without a listing, with their prefixes, to explain
    /// (or, for scale-to-zero servers, route) names nobody lists yet.
    unavailable: Vec<Route>,
    /// Listed servers and groups that take names they have not listed (`passUnlisted`).
    passing: Vec<Route>,
    /// What clients may see and call: names it leaves out are unknown.
    curation: Curation,
    overrides: OverrideCheck,
    /// The tools indexed for `search_tools`, with tool search on.
    search: Option<ToolIndex>,
    /// Tools whose input schema promotes arguments to headers
    /// (`x-mcp-header`), found once here rather than on every call.
    header_bound: HashSet<String>,
}

fn source_label(route: &Route) -> String {
    match route {
        Route::Server(upstream) => format!("server {}", upstream.name()),
        Route::Group(group) => format!("group {}", group.name()),
    }
}

/// A group's listing: its members' items, each once (the first member in
/// member order that lists a name defines it); `None` until a member listed.
fn group_listing(group: &Group) -> Option<Listing> {
    let listings: Vec<Arc<Listing>> = group.members().iter().filter_map(|m| m.listing()).collect();
    if listings.is_empty() {
        return None;
    }
    let mut merged = Listing::default();
    for listing in listings {
        for tool in &listing.tools {
            if !merged.tools.iter().any(|t| t.name == tool.name) {
                merged.tools.push(tool.clone());
            }
        }
        for prompt in &listing.prompts {
            if !merged.prompts.iter().any(|p| p.name == prompt.name) {
                merged.prompts.push(prompt.clone());
            }
        }
        for resource in &listing.resources {
            if !merged.resources.iter().any(|r| r.uri == resource.uri) {
                merged.resources.push(resource.clone());
            }
        }
        for template in &listing.templates {
            if !merged
                .templates
                .iter()
                .any(|t| t.uri_template == template.uri_template)
            {
                merged.templates.push(template.clone());
            }
        }
    }
    Some(merged)
}

impl Catalog {
    /// `upstreams` not exposed on their own (group members only) are listed
    /// through their groups alone. Everything passes `config.curation`.
    pub fn build(
        declared: &Declared,
        upstreams: &[Arc<Upstream>],
        groups: &[Arc<Group>],
        config: &GatewayConfig,
    ) -> Self {
        let curation = &config.curation;
        let mut tools = Vec::new();
        let mut prompts = Vec::new();
        let mut resources = Vec::new();
        let mut templates = Vec::new();
        let mut unavailable = Vec::new();
        let mut passing = Vec::new();
        for tool in &declared.tools {
            let Some(exposed) = curation.expose_tool(None, tool.name()) else {
                continue;
            };
            let (curated, arguments) = curate(&tool.tool, &exposed);
            tools.push((
                exposed.name,
                curated,
                CuratedTool {
                    target: ToolTarget::Declared(tool.clone()),
                    arguments: Arc::new(arguments),
                },
                "declared tools".into(),
            ));
        }
        for prompt in &declared.prompts {
            if !curation.admits_prompt(None, prompt.name()) {
                continue;
            }
            prompts.push((
                prompt.name().to_string(),
                prompt.prompt.clone(),
                PromptTarget::Declared(prompt.clone()),
                "declared prompts".into(),
            ));
        }
        for resource in &declared.resources {
            if !curation.admits_resource(None, resource.uri()) {
                continue;
            }
            resources.push((
                resource.uri().to_string(),
                resource.resource.clone(),
                ResourceTarget::Declared(resource.clone()),
                "declared resources".into(),
            ));
        }
        let sources = upstreams
            .iter()
            .filter(|u| u.spec().expose)
            .map(|u| (Route::Server(u.clone()), u.listing()))
            .chain(groups.iter().map(|g| {
                let listing = group_listing(g).map(Arc::new);
                (Route::Group(g.clone()), listing)
            }));
        let mut source_tools: Vec<(Route, Option<Vec<String>>)> = Vec::new();
        for (route, listing) in sources {
            let Some(listing) = listing else {
                source_tools.push((route.clone(), None));
                unavailable.push(route);
                continue;
            };
            let names = listing.tools.iter().map(|t| t.name.to_string()).collect();
            source_tools.push((route.clone(), Some(names)));
            if curation.passes_unlisted(route.source()) {
                passing.push(route.clone());
            }
            let prefix = route.prefix().to_string();
            let label = source_label(&route);
            let source = Some(route.source());
            for tool in &listing.tools {
                let Some(exposed) = curation.expose_tool(source, &tool.name) else {
                    continue;
                };
                let (curated, arguments) = curate(tool, &exposed);
                tools.push((
                    exposed.name,
                    curated,
                    CuratedTool {
                        target: ToolTarget::Upstream(route.clone(), tool.name.to_string()),
                        arguments: Arc::new(arguments),
                    },
                    label.clone(),
                ));
            }
            for prompt in &listing.prompts {
                if !curation.admits_prompt(source, &prompt.name) {
                    continue;
                }
                let mut exposed = prompt.clone();
                exposed.name = format!("{prefix}{}", prompt.name);
                prompts.push((
                    exposed.name.clone(),
                    exposed,
                    PromptTarget::Upstream(route.clone(), prompt.name.clone()),
                    label.clone(),
                ));
            }
            for resource in &listing.resources {
                if !curation.admits_resource(source, &resource.uri) {
                    continue;
                }
                let mut exposed = resource.clone();
                exposed.name = format!("{prefix}{}", resource.name);
                resources.push((
                    resource.uri.clone(),
                    exposed,
                    ResourceTarget::Upstream(route.clone()),
                    label.clone(),
                ));
            }
            for template in &listing.templates {
                if !curation.admits_resource(source, &template.uri_template) {
                    continue;
                }
                let mut exposed = template.clone();
                exposed.name = format!("{prefix}{}", template.name);
                templates.push((exposed, route.clone()));
            }
        }
        let policy = config.naming.on_conflict;
        let declared_tools: Vec<&str> = declared.tools.iter().map(|t| t.name()).collect();
        let sources: Vec<(Source<'_>, Option<Vec<String>>)> = source_tools
            .iter()
            .map(|(route, names)| (route.source(), names.clone()))
            .collect();
        let overrides = curation.check_overrides(&declared_tools, &sources);
        let tools = Section::build(tools, policy);
        let search = config
            .tool_search
            .as_ref()
            .map(|_| ToolIndex::new(&tools.items));
        let header_bound = tools
            .items
            .iter()
            .filter(|tool| promotes_to_headers(&tool.input_schema))
            .map(|tool| tool.name.to_string())
            .collect();
        Self {
            header_bound,
            tools,
            prompts: Section::build(prompts, policy),
            resources: Section::build(resources, policy),
            uri_templates: UriTemplates::new(
                templates.iter().map(|(t, _)| t.uri_template.as_str()),
            ),
            templates,
            unavailable,
            passing,
            curation: curation.clone(),
            overrides,
            search,
        }
    }

    /// Whether clients see tool search's meta-tools instead of the tools.
    pub fn searching(&self) -> bool {
        self.search.is_some()
    }

    /// The tools best matching `query`, best first (none without tool search).
    pub fn search(&self, query: &str) -> Vec<&Tool> {
        let Some(index) = &self.search else {
            return Vec::new();
        };
        index
            .search(query)
            .into_iter()
            .filter_map(|position| self.tools.items.get(position))
            .collect()
    }

    /// Curation overrides that name no tool served, and the sources not
    /// listed yet (whose overrides cannot be judged), for logs and `/readyz`.
    pub fn override_check(&self) -> &OverrideCheck {
        &self.overrides
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools.items
    }
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts.items
    }
    pub fn resources(&self) -> &[Resource] {
        &self.resources.items
    }
    pub fn templates(&self) -> Vec<ResourceTemplate> {
        self.templates.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Human-readable name clashes, for logs and `/readyz`.
    pub fn clashes(&self) -> Vec<String> {
        let describe = |kind: &str, clashes: &BTreeMap<String, Vec<String>>| {
            clashes
                .iter()
                .map(|(name, sources)| {
                    format!("{kind} `{name}` is offered by {}", sources.join(" and "))
                })
                .collect::<Vec<_>>()
        };
        let mut all = describe("tool", &self.tools.clashes);
        all.extend(describe("prompt", &self.prompts.clashes));
        all.extend(describe("resource", &self.resources.clashes));
        all
    }

    /// Resolves a name; one nobody lists that carries (once unrenamed:
    /// `routed_by`) the prefix of a server or group without a listing is
    /// routed there if a call would wake it, else explained, and else goes to
    /// the listed one with the longest such prefix that takes unlisted names,
    /// unless curation leaves it out (`unlisted` gives `None`).
    fn lookup<T>(
        &self,
        section_get: Option<T>,
        clashes: Option<&Vec<String>>,
        routed_by: &str,
        unlisted: impl FnOnce(&Route) -> Option<T>,
    ) -> Lookup<T> {
        if let Some(target) = section_get {
            return Lookup::Found(target);
        }
        if let Some(sources) = clashes {
            return Lookup::Clash(sources.clone());
        }
        let best = self
            .unavailable
            .iter()
            .filter(|r| !r.prefix().is_empty() && routed_by.starts_with(r.prefix()))
            .max_by_key(|r| r.prefix().len());
        let Some(route) = best else {
            return self
                .passing
                .iter()
                .filter(|r| routed_by.starts_with(r.prefix()))
                .max_by_key(|r| r.prefix().len())
                .and_then(unlisted)
                .map_or(Lookup::Unknown, Lookup::Found);
        };
        match unlisted(route) {
            None => Lookup::Unknown,
            Some(target) if route.wakes_on_call() => Lookup::Found(target),
            Some(_) => Lookup::Unavailable(route.clone()),
        }
    }

    /// The definition clients see for a tool name.
    pub fn tool_definition(&self, name: &str) -> Option<&Tool> {
        self.tools.index.get(name).map(|i| &self.tools.items[*i])
    }

    /// Whether the tool's input schema promotes arguments to headers
    /// (`x-mcp-header` anywhere in it).
    pub fn tool_promotes_to_headers(&self, name: &str) -> bool {
        self.header_bound.contains(name)
    }

    /// Whether a call of the tool is answered by the gateway itself (a
    /// declared or OpenAPI-derived tool, or an error), not by an MCP server.
    pub fn tool_is_answered_here(&self, name: &str) -> bool {
        !matches!(
            self.tool(name),
            Lookup::Found(CuratedTool {
                target: ToolTarget::Upstream(..),
                ..
            })
        )
    }

    pub fn tool(&self, name: &str) -> Lookup<CuratedTool> {
        let found = self.tools.get(name);
        let clashes = self.tools.clashes.get(name);
        // A name an override renamed away routes nowhere (`tool_original` says so).
        let routed_by = self
            .curation
            .exposed
            .tools
            .original_of(name)
            .unwrap_or(name);
        self.lookup(found, clashes, routed_by, |route| {
            let original = self.curation.tool_original(route.source(), name)?;
            let exposed = self.curation.expose_tool(Some(route.source()), &original)?;
            Some(CuratedTool {
                target: ToolTarget::Upstream(route.clone(), original),
                arguments: Arc::new(injected(&exposed)),
            })
        })
    }

    pub fn prompt(&self, name: &str) -> Lookup<PromptTarget> {
        self.lookup(
            self.prompts.get(name),
            self.prompts.clashes.get(name),
            name,
            |route| {
                let original = name.strip_prefix(route.prefix())?;
                self.curation
                    .admits_prompt(Some(route.source()), original)
                    .then(|| PromptTarget::Upstream(route.clone(), original.to_string()))
            },
        )
    }

    /// A listed resource by URI, else the first upstream template that
    /// matches it (if curation admits the URI).
    pub fn resource(&self, uri: &str) -> Lookup<ResourceTarget> {
        if let Some(target) = self.resources.get(uri) {
            return Lookup::Found(target);
        }
        if let Some(sources) = self.resources.clashes.get(uri) {
            return Lookup::Clash(sources.clone());
        }
        let Some(index) = self.uri_templates.first_match(uri) else {
            return Lookup::Unknown;
        };
        let route = &self.templates[index].1;
        if self.curation.admits_resource(Some(route.source()), uri) {
            Lookup::Found(ResourceTarget::Upstream(route.clone()))
        } else {
            Lookup::Unknown
        }
    }

    /// The server or group owning a resource template, by its exact `uriTemplate`.
    pub fn template_owner(&self, uri_template: &str) -> Option<Route> {
        self.templates
            .iter()
            .find(|(t, _)| t.uri_template == uri_template)
            .map(|(_, u)| u.clone())
    }

    /// Whether the client-visible lists differ from another catalog's.
    pub fn changes_from(&self, before: &Catalog) -> Changes {
        Changes {
            tools: self.tools.items != before.tools.items || self.searching() != before.searching(),
            prompts: self.prompts.items != before.prompts.items,
            resources: self.resources.items != before.resources.items
                || self
                    .templates
                    .iter()
                    .map(|(t, _)| t)
                    .ne(before.templates.iter().map(|(t, _)| t)),
        }
    }
}

/// Which lists changed between two catalogs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
}

impl Changes {
    pub fn any(self) -> bool {
        self.tools || self.prompts || self.resources
    }
}

const CURSOR_PREFIX: &str = "hangar:";

/// One page of a list. Cursors are opaque offsets into the stable order.
pub fn page<T: Clone>(
    items: &[T],
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor).ok_or_else(|| {
            ErrorData::invalid_params(
                "invalid pagination cursor; start again without a cursor",
                None,
            )
        })?,
    };
    let start = start.min(items.len());
    let end = start.saturating_add(size.max(1)).min(items.len());
    let next = (end < items.len()).then(|| encode_cursor(end));
    Ok((items[start..end].to_vec(), next))
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix(CURSOR_PREFIX)?
        .parse()
        .ok()
}

fn promotes_to_headers(schema: &JsonObject) -> bool {
    fn within(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => promotes_to_headers(map),
            serde_json::Value::Array(items) => items.iter().any(within),
            _ => false,
        }
    }
    schema.contains_key("x-mcp-header") || schema.values().any(within)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list() {
        let items: Vec<u32> = (0..250).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = page(&items, cursor.as_deref(), 100).unwrap();
            seen.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert!(page(&items, Some("garbage"), 10).is_err());
        let (empty, next) = page::<u32>(&[], None, 10).unwrap();
        assert!(empty.is_empty() && next.is_none());
    }

    #[test]
    fn header_promotions_are_found_at_any_depth() {
        let schema = |value: serde_json::Value| value.as_object().cloned().expect("an object");
        assert!(promotes_to_headers(&schema(serde_json::json!({
            "type": "object",
            "properties": {"where": {"anyOf": [{"type": "string"}, {"type": "string", "x-mcp-header": "Region"}]}}
        }))));
        assert!(!promotes_to_headers(&schema(serde_json::json!({
            "type": "object",
            "properties": {"x-mcp-header-like": {"type": "string", "description": "x-mcp-header"}}
        }))));
    }
}
