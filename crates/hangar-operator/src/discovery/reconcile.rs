//! One reconcile of an MCPDiscoverySource: scan → plan → apply the MCPServers
//! it found, delete the ones whose server is gone (Authoritative) → status.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hangar_api::{
    DISCOVERABLE_LABEL, DiscoveryConflict, DiscoveryType, ExcludedNamespace, MCPDiscoverySource,
    MCPDiscoverySourceStatus, MCPServer, Time, condition,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::error::Error;
use super::plan::{self, Existing, plan};
use super::scan::{self, Found, Problem};
use crate::conditions::{self, Desired};
use crate::context::Context;
use crate::labels::FIELD_MANAGER;
use crate::outcome::{self, Failure};

/// How soon a scan that could not read its source is tried again (or the refresh interval, if shorter).
const RETRY: Duration = Duration::from_secs(30);
/// Problems named in the Ready condition; the rest are counted.
const PROBLEMS_SHOWN: usize = 3;
/// Excluded namespaces named in status; the rest are counted in the Ready condition.
const EXCLUDED_SHOWN: usize = 50;

/// What the discovery controller shares between reconciles and watch mappers.
pub struct Discovery {
    pub ctx: Arc<Context>,
    /// The namespace the operator is limited to, if any.
    pub scope: Option<String>,
    pub sources: Store<MCPDiscoverySource>,
    /// What each source's last scan looked at, so that a change there rescans it.
    coverage: Mutex<HashMap<ObjectRef<MCPDiscoverySource>, Coverage>>,
}

#[derive(Clone, Debug, Default)]
struct Coverage {
    namespaces: BTreeSet<String>,
    /// `namespace/name` of Deployments servers were found through.
    deployments: BTreeSet<String>,
}

impl Discovery {
    pub fn new(
        ctx: Arc<Context>,
        scope: Option<String>,
        sources: Store<MCPDiscoverySource>,
    ) -> Self {
        Self {
            ctx,
            scope,
            sources,
            coverage: Mutex::default(),
        }
    }

    /// Service and Deployment sources whose scan covers `namespace`. A source
    /// not scanned yet counts as covering it if it could: its first scan is on its way.
    fn scanning(&self, namespace: &str) -> impl Iterator<Item = Arc<MCPDiscoverySource>> + '_ {
        let coverage = self.coverage.lock().expect("coverage lock").clone();
        let namespace = namespace.to_string();
        self.sources.state().into_iter().filter(move |source| {
            source.spec.source_type != DiscoveryType::ConfigMap
                && match coverage.get(&ObjectRef::from_obj(&**source)) {
                    Some(covered) => covered.namespaces.contains(&namespace),
                    None => {
                        source.spec.namespace_selector.is_some()
                            || source.namespace().as_deref() == Some(&namespace)
                    }
                }
        })
    }

    /// Sources to rescan when `service` changes.
    pub fn for_service(&self, service: &Service) -> Vec<ObjectRef<MCPDiscoverySource>> {
        let namespace = service.namespace().unwrap_or_default();
        self.scanning(&namespace)
            .map(|s| ObjectRef::from_obj(&*s))
            .collect()
    }

    /// Sources to rescan when `deployment` changes: only annotated Deployments,
    /// and the ones servers were found through (their annotation may be gone).
    pub fn for_deployment(&self, deployment: &Deployment) -> Vec<ObjectRef<MCPDiscoverySource>> {
        let namespace = deployment.namespace().unwrap_or_default();
        let key = format!("{namespace}/{}", deployment.name_any());
        let annotated = deployment
            .annotations()
            .contains_key(hangar_api::annotation::DISCOVER);
        let coverage = self.coverage.lock().expect("coverage lock").clone();
        self.scanning(&namespace)
            .filter(|source| {
                annotated
                    || coverage
                        .get(&ObjectRef::from_obj(&**source))
                        .is_some_and(|c| c.deployments.contains(&key))
            })
            .map(|s| ObjectRef::from_obj(&*s))
            .collect()
    }

    /// ConfigMap sources reading `config_map`.
    pub fn for_config_map(&self, config_map: &ConfigMap) -> Vec<ObjectRef<MCPDiscoverySource>> {
        let namespace = config_map.namespace();
        let name = config_map.name_any();
        self.sources
            .state()
            .iter()
            .filter(|source| {
                source.namespace() == namespace
                    && source
                        .spec
                        .config_map_ref
                        .as_ref()
                        .is_some_and(|r| r.name == name)
            })
            .map(|s| ObjectRef::from_obj(&**s))
            .collect()
    }

    /// Sources with a namespace selector: a namespace's labels may have moved it in or out.
    pub fn for_namespace(&self) -> Vec<ObjectRef<MCPDiscoverySource>> {
        self.sources
            .state()
            .iter()
            .filter(|s| {
                s.spec.source_type != DiscoveryType::ConfigMap
                    && s.spec.namespace_selector.is_some()
            })
            .map(|s| ObjectRef::from_obj(&**s))
            .collect()
    }

    fn covered(&self, source: &MCPDiscoverySource, coverage: Coverage) {
        let live: HashSet<ObjectRef<MCPDiscoverySource>> = self
            .sources
            .state()
            .iter()
            .map(|s| ObjectRef::from_obj(&**s))
            .collect();
        let mut all = self.coverage.lock().expect("coverage lock");
        all.retain(|source, _| live.contains(source));
        all.insert(ObjectRef::from_obj(source), coverage);
    }
}

/// What one scan found.
struct Scan {
    found: Vec<Found>,
    problems: Vec<Problem>,
    /// Selected namespaces this source may not import from.
    excluded: Vec<ExcludedNamespace>,
    coverage: Coverage,
    /// Where it looked, for messages.
    place: String,
}

pub async fn reconcile(
    source: Arc<MCPDiscoverySource>,
    discovery: Arc<Discovery>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = discover(&source, &discovery).await;
    outcome::record(
        &discovery.ctx,
        "MCPDiscoverySource",
        &*source,
        started,
        &result,
    )
    .await;
    result
}

async fn discover(source: &MCPDiscoverySource, discovery: &Discovery) -> Result<Action, Error> {
    let interval = source
        .spec
        .refresh_interval
        .to_std()
        .unwrap_or(Duration::from_secs(60));
    let previous = source.status.clone().unwrap_or_default();
    let generation = source.meta().generation;
    let scan = match scan(source, discovery).await {
        Ok(scan) => scan,
        Err(error) => {
            // Nothing is created or deleted: an unreadable source is not an empty one.
            let message = error.to_string();
            discovery
                .ctx
                .event(
                    source,
                    EventType::Warning,
                    error.reason(),
                    "Scan",
                    message.clone(),
                )
                .await;
            let mut conditions = conditions::merge(
                &previous.conditions,
                vec![Desired::new(
                    condition::READY,
                    false,
                    error.reason(),
                    message,
                )],
                generation,
            );
            conditions.extend(
                previous
                    .conditions
                    .iter()
                    .filter(|c| c.type_ != condition::READY)
                    .cloned(),
            );
            let status = MCPDiscoverySourceStatus {
                conditions,
                observed_generation: generation,
                ..previous.clone()
            };
            write_status_if_changed(source, discovery, &previous, status, interval).await?;
            return Ok(Action::requeue(interval.min(RETRY)));
        }
    };
    discovery.covered(source, scan.coverage.clone());

    let namespace = source.namespace().unwrap_or_default();
    let servers: Api<MCPServer> = Api::namespaced(discovery.ctx.client.clone(), &namespace);
    let existing: Vec<Existing> = servers
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::List {
            what: format!("MCPServers in namespace {namespace}"),
            source,
        })?
        .items
        .iter()
        .map(Existing::of)
        .collect();
    let discovered = scan.found.len() + scan.problems.len();
    let mut problems = scan.problems;
    let unsure: BTreeSet<String> = problems.iter().filter_map(|p| p.name.clone()).collect();
    let plan = plan(
        &source.uid().unwrap_or_default(),
        source.spec.mode,
        scan.found,
        &unsure,
        &existing,
    );

    let mut managed: BTreeSet<String> = plan.keep.iter().cloned().collect();
    for (found, new) in &plan.apply {
        match apply(source, found, &servers).await {
            Ok(()) => {
                managed.insert(found.name.clone());
                if *new {
                    let note = format!("created MCPServer {} for {}", found.name, found.origin);
                    discovery
                        .ctx
                        .event(source, EventType::Normal, "Discovered", "Create", note)
                        .await;
                }
            }
            Err(message) => problems.push(Problem {
                name: Some(found.name.clone()),
                origin: found.origin.clone(),
                message,
            }),
        }
    }
    for (name, uid) in &plan.delete {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                ..Default::default()
            }),
            ..DeleteParams::background()
        };
        match servers.delete(name, &params).await {
            Ok(_) => {
                let note = format!("deleted MCPServer {name}: its server is gone from the source");
                discovery
                    .ctx
                    .event(source, EventType::Normal, "Removed", "Delete", note)
                    .await;
            }
            // Already gone, or replaced by a new object of that name: not ours to delete.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(error) => {
                managed.insert(name.clone());
                problems.push(Problem {
                    name: Some(name.clone()),
                    origin: format!("MCPServer {name}"),
                    message: format!("could not delete it: {error}"),
                });
            }
        }
    }

    let new_conflicts: Vec<&DiscoveryConflict> = plan
        .conflicts
        .iter()
        .filter(|c| !previous.conflicts.iter().any(|p| p.name == c.name))
        .collect();
    for conflict in new_conflicts {
        let note = format!("{}: {}", conflict.name, conflict.reason);
        discovery
            .ctx
            .event(source, EventType::Warning, "Conflict", "Create", note)
            .await;
    }
    let status = MCPDiscoverySourceStatus {
        discovered: i32::try_from(discovered).unwrap_or(i32::MAX),
        servers: managed.into_iter().collect(),
        conditions: conditions::merge(
            &previous.conditions,
            vec![
                ready(
                    &problems,
                    discovered,
                    &scan.place,
                    &plan.keep,
                    &scan.excluded,
                ),
                conflict(&plan.conflicts),
            ],
            generation,
        ),
        conflicts: plan.conflicts,
        excluded_namespaces: scan.excluded.iter().take(EXCLUDED_SHOWN).cloned().collect(),
        last_refresh: previous.last_refresh.clone(),
        observed_generation: generation,
    };
    write_status_if_changed(source, discovery, &previous, status, interval).await?;
    Ok(Action::requeue(interval))
}

async fn scan(source: &MCPDiscoverySource, discovery: &Discovery) -> Result<Scan, Error> {
    let own_namespace = source.namespace().unwrap_or_default();
    let client = &discovery.ctx.client;
    if source.spec.source_type == DiscoveryType::ConfigMap {
        let reference = source
            .spec
            .config_map_ref
            .clone()
            .ok_or(Error::MissingConfigMapRef)?;
        let config_map = Api::<ConfigMap>::namespaced(client.clone(), &own_namespace)
            .get_opt(&reference.name)
            .await
            .map_err(|source| Error::List {
                what: format!("ConfigMap {}", reference.name),
                source,
            })?
            .ok_or_else(|| Error::ConfigMapNotFound {
                name: reference.name.clone(),
            })?;
        let text = config_map
            .data
            .as_ref()
            .and_then(|data| data.get(&reference.key))
            .ok_or_else(|| Error::KeyNotFound {
                name: reference.name.clone(),
                key: reference.key.clone(),
            })?;
        let origin = format!("ConfigMap {own_namespace}/{}", reference.name);
        let listed = scan::listed(&origin, text).map_err(|reason| Error::InvalidList {
            name: reference.name.clone(),
            key: reference.key.clone(),
            reason,
        })?;
        let (found, problems) = split(listed);
        return Ok(Scan {
            found,
            problems,
            excluded: Vec::new(),
            coverage: Coverage::default(),
            place: format!("{origin} key {}", reference.key),
        });
    }

    let (namespaces, excluded) = namespaces(source, discovery).await?;
    let services_params = match &source.spec.service_selector {
        Some(selector) => {
            let selector =
                Selector::try_from(selector.clone()).map_err(|e| Error::InvalidSelector {
                    field: "spec.serviceSelector",
                    reason: e.to_string(),
                })?;
            ListParams::default().labels_from(&selector)
        }
        None => ListParams::default(),
    };
    let mut all = Vec::new();
    let mut coverage = Coverage::default();
    for namespace in &namespaces {
        let services = Api::<Service>::namespaced(client.clone(), namespace)
            .list(&services_params)
            .await
            .map_err(|source| Error::List {
                what: format!("Services in namespace {namespace}"),
                source,
            })?
            .items;
        let deployments = Api::<Deployment>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(|source| Error::List {
                what: format!("Deployments in namespace {namespace}"),
                source,
            })?
            .items;
        for result in scan::services(
            source.spec.source_type,
            &own_namespace,
            &services,
            &deployments,
        ) {
            let origin = match &result {
                Ok(found) => &found.origin,
                Err(problem) => &problem.origin,
            };
            if let Some(deployment) = origin.strip_prefix("Deployment ") {
                coverage.deployments.insert(deployment.to_string());
            }
            all.push(result);
        }
        coverage.namespaces.insert(namespace.clone());
    }
    let (found, problems) = split(all);
    let place = if namespaces.is_empty() && excluded.is_empty() {
        "no namespace (none matches spec.namespaceSelector)".to_string()
    } else if namespaces.is_empty() {
        "no namespace (none of those spec.namespaceSelector matches may be imported)".to_string()
    } else {
        format!(
            "namespace{} {}",
            if namespaces.len() == 1 { "" } else { "s" },
            namespaces.join(", ")
        )
    };
    Ok(Scan {
        found,
        problems,
        excluded,
        coverage,
        place,
    })
}

/// The namespaces a Namespace or Annotations source looks in: its own without
/// a selector; with one, the selected ones (within the operator's scope) that
/// it may import from, and the selected ones it may not, with why.
async fn namespaces(
    source: &MCPDiscoverySource,
    discovery: &Discovery,
) -> Result<(Vec<String>, Vec<ExcludedNamespace>), Error> {
    let own = source.namespace().unwrap_or_default();
    let Some(selector) = &source.spec.namespace_selector else {
        return Ok((vec![own], Vec::new()));
    };
    let selector = Selector::try_from(selector.clone()).map_err(|e| Error::InvalidSelector {
        field: "spec.namespaceSelector",
        reason: e.to_string(),
    })?;
    let api: Api<Namespace> = Api::all(discovery.ctx.client.clone());
    let mut selected = match &discovery.scope {
        // An operator limited to one namespace looks nowhere else.
        Some(scope) => {
            let namespace = api.get(scope).await.map_err(|source| Error::List {
                what: format!("namespace {scope}"),
                source,
            })?;
            if selector.matches(namespace.labels()) {
                vec![namespace]
            } else {
                Vec::new()
            }
        }
        None => {
            api.list(&ListParams::default().labels_from(&selector))
                .await
                .map_err(|source| Error::List {
                    what: "namespaces".into(),
                    source,
                })?
                .items
        }
    };
    selected.sort_by_key(|n| n.name_any());
    let operator_namespace = discovery.ctx.settings.operator_namespace.as_deref();
    let mut scanned = Vec::new();
    let mut excluded = Vec::new();
    for namespace in &selected {
        match import_refused(&own, namespace, operator_namespace) {
            None => scanned.push(namespace.name_any()),
            Some(reason) => excluded.push(ExcludedNamespace {
                name: namespace.name_any(),
                reason,
            }),
        }
    }
    Ok((scanned, excluded))
}

/// Why a source in `source_namespace` may not import the Services of
/// `namespace`, if it may not: a namespace's owners opt in to being imported
/// elsewhere (a source could otherwise publish, through its own gateway,
/// servers another team keeps internal); the operator's namespace is the
/// platform's and trusted.
fn import_refused(
    source_namespace: &str,
    namespace: &Namespace,
    operator_namespace: Option<&str>,
) -> Option<String> {
    let name = namespace.name_any();
    let opted_in = namespace
        .labels()
        .get(DISCOVERABLE_LABEL)
        .is_some_and(|value| value == "true");
    if name == source_namespace || opted_in || operator_namespace == Some(source_namespace) {
        return None;
    }
    Some(format!(
        "namespace {name} does not carry the label {DISCOVERABLE_LABEL}=true, with which its \
         owners let sources in other namespaces import its servers"
    ))
}

fn split(results: Vec<Result<Found, Problem>>) -> (Vec<Found>, Vec<Problem>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok(f) => found.push(f),
            Err(p) => problems.push(p),
        }
    }
    (found, problems)
}

/// Server-side applies the MCPServer with only the fields the source sets
/// (not through [`crate::apply`], which sends whole typed objects: that would
/// take ownership of every defaulted field, e.g. `replicas`, from whoever scales it).
async fn apply(
    source: &MCPDiscoverySource,
    found: &Found,
    servers: &Api<MCPServer>,
) -> Result<(), String> {
    let body = plan::server_object(source, found);
    servers
        .patch(
            &found.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|error| format!("the API server rejected the MCPServer: {error}"))
}

/// Ready says what was found, and names the MCPServers kept although their
/// server is gone (Additive), so they can be told from live ones.
fn ready(
    problems: &[Problem],
    discovered: usize,
    place: &str,
    kept: &[String],
    excluded: &[ExcludedNamespace],
) -> Desired {
    let mut kept = if kept.is_empty() {
        String::new()
    } else {
        format!(
            "; kept {} MCPServers whose server is gone: {}",
            kept.len(),
            kept.join(", ")
        )
    };
    if !excluded.is_empty() {
        kept.push_str(&format!(
            "; {} selected namespaces not scanned: they do not carry {DISCOVERABLE_LABEL}=true (see status.excludedNamespaces)",
            excluded.len()
        ));
    }
    if problems.is_empty() {
        return Desired::new(
            condition::READY,
            true,
            "Discovered",
            format!("{discovered} servers found in {place}{kept}"),
        );
    }
    let mut shown: Vec<String> = problems
        .iter()
        .take(PROBLEMS_SHOWN)
        .map(Problem::to_string)
        .collect();
    if problems.len() > PROBLEMS_SHOWN {
        shown.push(format!("and {} more", problems.len() - PROBLEMS_SHOWN));
    }
    Desired::new(
        condition::READY,
        false,
        "ServersNotApplied",
        format!(
            "{} of {discovered} servers found in {place} cannot become MCPServers: {}{kept}",
            problems.len(),
            shown.join("; ")
        ),
    )
}

fn conflict(conflicts: &[DiscoveryConflict]) -> Desired {
    if conflicts.is_empty() {
        return Desired::new(
            condition::CONFLICT,
            false,
            "NoConflicts",
            "every name is free or ours",
        );
    }
    let names: Vec<&str> = conflicts.iter().map(|c| c.name.as_str()).collect();
    Desired::new(
        condition::CONFLICT,
        true,
        "NameTaken",
        format!(
            "MCPServers named {} exist and are not this source's: they are left alone (see status.conflicts)",
            names.join(", ")
        ),
    )
}

/// Writes status when what it says changed, or when a refresh is due (so
/// `lastRefresh` advances once per refresh interval). Writing on every scan
/// would wake this controller again with its own change, forever.
async fn write_status_if_changed(
    source: &MCPDiscoverySource,
    discovery: &Discovery,
    previous: &MCPDiscoverySourceStatus,
    mut status: MCPDiscoverySourceStatus,
    interval: Duration,
) -> Result<(), Error> {
    let now = Timestamp::now();
    let refresh_due = previous.last_refresh.as_ref().is_none_or(|last| {
        let interval = SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX);
        last.0.checked_add(interval).map_or(true, |due| due <= now)
    });
    if !refresh_due && same(previous, &status) {
        return Ok(());
    }
    status.last_refresh = Some(Time(now));
    crate::api::apply_status(&discovery.ctx.client, source, &status)
        .await
        .map_err(Error::Status)?;
    Ok(())
}

/// Equal apart from timestamps.
fn same(a: &MCPDiscoverySourceStatus, b: &MCPDiscoverySourceStatus) -> bool {
    let conditions = |s: &MCPDiscoverySourceStatus| {
        s.conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                    c.observed_generation,
                )
            })
            .collect::<Vec<_>>()
    };
    a.discovered == b.discovered
        && a.servers == b.servers
        && a.conflicts == b.conflicts
        && a.excluded_namespaces == b.excluded_namespaces
        && a.observed_generation == b.observed_generation
        && conditions(a) == conditions(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(name: &str, labels: &[(&str, &str)]) -> Namespace {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.into());
        namespace.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        namespace
    }

    #[test]
    fn another_namespace_is_imported_only_when_it_opts_in_or_the_source_is_the_operators() {
        let closed = namespace("team-b", &[]);
        let open = namespace("team-c", &[(DISCOVERABLE_LABEL, "true")]);
        let declined = namespace("team-d", &[(DISCOVERABLE_LABEL, "false")]);
        let operator = Some("hangar-system");
        assert_eq!(import_refused("team-b", &closed, operator), None, "its own");
        assert_eq!(import_refused("team-a", &open, operator), None);
        assert_eq!(import_refused("hangar-system", &closed, operator), None);
        let why = import_refused("team-a", &closed, operator).unwrap();
        assert!(
            why.contains("team-b") && why.contains(DISCOVERABLE_LABEL),
            "{why}"
        );
        assert!(import_refused("team-a", &declined, operator).is_some());
        assert!(
            import_refused("team-a", &closed, None).is_some(),
            "an unknown operator namespace trusts no source"
        );
    }
}
