//! What a scan means for the MCPServers: which to apply, which names are taken
//! by someone else, which to delete. Pure.

use std::collections::{BTreeMap, BTreeSet};

use hangar_api::{
    DISCOVERY_SOURCE_LABEL, DiscoveryConflict, DiscoveryMode, MCPDiscoverySource, MCPServer,
    annotation,
};
use kube::{Resource, ResourceExt};
use serde_json::{Map, Value, json};

use super::scan::Found;

/// An MCPServer that exists in the source's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub name: String,
    pub uid: String,
    /// The controller owning it: `None` for one written by hand.
    pub controller: Option<(String, String)>,
}

impl Existing {
    pub fn of(server: &MCPServer) -> Self {
        let controller = server
            .owner_references()
            .iter()
            .find(|owner| owner.controller == Some(true))
            .map(|owner| (owner.uid.clone(), format!("{} {}", owner.kind, owner.name)));
        Existing {
            name: server.name_any(),
            uid: server.uid().unwrap_or_default(),
            controller,
        }
    }

    fn owned_by(&self, uid: &str) -> bool {
        self.controller
            .as_ref()
            .is_some_and(|(owner, _)| owner == uid)
    }
}

/// The outcome of one scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Servers to apply; `true` when the MCPServer does not exist yet.
    pub apply: Vec<(Found, bool)>,
    /// Found servers whose name belongs to an MCPServer this source does not own.
    pub conflicts: Vec<DiscoveryConflict>,
    /// MCPServers this source created whose server is gone (Authoritative only), with their UIDs.
    pub delete: Vec<(String, String)>,
    /// MCPServers this source created whose server is gone, kept (Additive, or
    /// the source reports a problem with them).
    pub keep: Vec<String>,
}

/// Decides what happens to each found server and each MCPServer the source owns.
/// `unsure` names servers the source has a problem with: they are never deleted.
pub fn plan(
    source_uid: &str,
    mode: DiscoveryMode,
    found: Vec<Found>,
    unsure: &BTreeSet<String>,
    existing: &[Existing],
) -> Plan {
    let mut plan = Plan::default();
    let mut taken: BTreeMap<String, String> = BTreeMap::new();
    for server in found {
        if let Some(first) = taken.get(&server.name) {
            plan.conflicts.push(DiscoveryConflict {
                name: server.name.clone(),
                reason: format!("{} and {first} both want this name", server.origin),
            });
            continue;
        }
        taken.insert(server.name.clone(), server.origin.clone());
        match existing.iter().find(|e| e.name == server.name) {
            Some(other) if !other.owned_by(source_uid) => {
                let owner = match &other.controller {
                    Some((_, owner)) => format!("is managed by {owner}"),
                    None => "was not created by this source".into(),
                };
                plan.conflicts.push(DiscoveryConflict {
                    name: server.name.clone(),
                    reason: format!(
                        "an MCPServer of this name {owner}; it is left alone ({} not applied)",
                        server.origin
                    ),
                });
            }
            Some(_) => plan.apply.push((server, false)),
            None => plan.apply.push((server, true)),
        }
    }
    for gone in existing
        .iter()
        .filter(|e| e.owned_by(source_uid) && !taken.contains_key(&e.name))
    {
        if mode == DiscoveryMode::Authoritative && !unsure.contains(&gone.name) {
            plan.delete.push((gone.name.clone(), gone.uid.clone()));
        } else {
            plan.keep.push(gone.name.clone());
        }
    }
    plan
}

/// The MCPServer for a found server, as a server-side apply body: the source's
/// label and owner reference, the template, and only the spec fields the
/// source sets (the API server checks them).
pub fn server_object(source: &MCPDiscoverySource, found: &Found) -> Value {
    let template = source.spec.template.clone().unwrap_or_default();
    let mut spec: Map<String, Value> = found.spec.clone();
    if let Some(check) = &template.health_check {
        spec.entry("healthCheck")
            .or_insert_with(|| serde_json::to_value(check).unwrap_or_default());
    }
    if let Some(breaker) = &template.circuit_breaker {
        spec.entry("circuitBreaker")
            .or_insert_with(|| serde_json::to_value(breaker).unwrap_or_default());
    }
    let mut labels = template.labels;
    labels.extend(found.labels.clone());
    labels.insert(DISCOVERY_SOURCE_LABEL.into(), source.name_any());
    let mut annotations = template.annotations;
    annotations.extend(found.annotations.clone());
    annotations.insert(annotation::DISCOVERED_FROM.into(), found.origin.clone());
    let owner = source.controller_owner_ref(&());
    json!({
        "apiVersion": MCPServer::api_version(&()),
        "kind": MCPServer::kind(&()),
        "metadata": {
            "name": found.name,
            "namespace": source.namespace(),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": owner.map(|o| vec![o]).unwrap_or_default(),
        },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, origin: &str) -> Found {
        Found {
            name: name.into(),
            origin: origin.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            spec: json!({"mode": "remote", "endpoint": format!("http://{name}.a.svc:80/mcp")})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    fn existing(name: &str, owner: Option<(&str, &str)>) -> Existing {
        Existing {
            name: name.into(),
            uid: format!("uid-{name}"),
            controller: owner.map(|(uid, what)| (uid.into(), what.into())),
        }
    }

    #[test]
    fn servers_of_others_are_conflicts_and_never_touched() {
        let plan = plan(
            "me",
            DiscoveryMode::Authoritative,
            vec![
                found("mine", "Service a/mine"),
                found("handmade", "Service a/handmade"),
                found("theirs", "Service a/theirs"),
                found("new", "Service a/new"),
                found("new", "Service b/new"),
            ],
            &BTreeSet::new(),
            &[
                existing("mine", Some(("me", "MCPDiscoverySource me"))),
                existing("handmade", None),
                existing("theirs", Some(("other", "MCPDiscoverySource other"))),
                existing("unrelated", None),
            ],
        );
        let applied: Vec<(&str, bool)> = plan
            .apply
            .iter()
            .map(|(f, new)| (f.name.as_str(), *new))
            .collect();
        assert_eq!(applied, [("mine", false), ("new", true)]);
        let conflicts: Vec<(&str, &str)> = plan
            .conflicts
            .iter()
            .map(|c| (c.name.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            conflicts,
            [
                (
                    "handmade",
                    "an MCPServer of this name was not created by this source; it is left alone (Service a/handmade not applied)"
                ),
                (
                    "theirs",
                    "an MCPServer of this name is managed by MCPDiscoverySource other; it is left alone (Service a/theirs not applied)"
                ),
                ("new", "Service b/new and Service a/new both want this name"),
            ]
        );
        assert!(plan.delete.is_empty(), "nothing of ours is gone");
    }

    #[test]
    fn only_authoritative_deletes_and_never_what_it_is_unsure_of() {
        let owned = [
            existing("kept", Some(("me", "x"))),
            existing("gone", Some(("me", "x"))),
            existing("broken", Some(("me", "x"))),
            existing("handmade", None),
        ];
        let unsure = BTreeSet::from(["broken".to_string()]);
        let found = || vec![found("kept", "Service a/kept")];
        let strict = plan("me", DiscoveryMode::Authoritative, found(), &unsure, &owned);
        assert_eq!(
            strict.delete,
            [("gone".to_string(), "uid-gone".to_string())]
        );
        assert_eq!(strict.keep, ["broken"]);
        let lenient = plan("me", DiscoveryMode::Additive, found(), &unsure, &owned);
        assert!(lenient.delete.is_empty());
        assert_eq!(lenient.keep, ["gone", "broken"]);
    }

    #[test]
    fn the_mcpserver_carries_source_label_owner_and_template() {
        let source: MCPDiscoverySource = serde_json::from_value(json!({
            "apiVersion": "mcp-hangar.io/v1alpha1", "kind": "MCPDiscoverySource",
            "metadata": {"name": "team", "namespace": "hangar", "uid": "source-uid"},
            "spec": {"type": "Namespace", "template": {
                "labels": {"tier": "gold", "team": "default"},
                "annotations": {"contact": "platform@acme.dev"},
                "healthCheck": {"interval": "1m"}
            }}
        }))
        .unwrap();
        let mut weather = found("weather", "Service a/weather");
        weather.labels.insert("team".into(), "forecasts".into());
        let body = server_object(&source, &weather);
        assert_eq!(body["metadata"]["namespace"], "hangar");
        assert_eq!(
            body["metadata"]["labels"],
            json!({"mcp-hangar.io/discovery-source": "team", "team": "forecasts", "tier": "gold"})
        );
        assert_eq!(
            body["metadata"]["annotations"],
            json!({"contact": "platform@acme.dev", "mcp-hangar.io/discovered-from": "Service a/weather"})
        );
        let owner = &body["metadata"]["ownerReferences"][0];
        assert_eq!(
            (
                &owner["kind"],
                &owner["name"],
                &owner["uid"],
                &owner["controller"]
            ),
            (
                &json!("MCPDiscoverySource"),
                &json!("team"),
                &json!("source-uid"),
                &json!(true)
            )
        );
        assert_eq!(body["spec"]["healthCheck"]["interval"], "1m");
        assert!(
            body["spec"].get("replicas").is_none(),
            "only what the source sets"
        );

        // A server that sets its own health check keeps it.
        weather
            .spec
            .insert("healthCheck".into(), json!({"enabled": false}));
        assert_eq!(
            server_object(&source, &weather)["spec"]["healthCheck"],
            json!({"enabled": false})
        );
    }
}
