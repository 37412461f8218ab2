//! MCPServerGroup status: its members, how many are healthy, and whether that
//! meets `healthPolicy.minHealthyPercentage`. (Balancing happens in the gateway.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use hangar_api::{
    GroupMemberStatus, MCPServer, MCPServerGroup, MCPServerGroupStatus, ServerState, condition,
};
use hangar_compile::selector_matches;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::api::scoped;
use crate::children::trimmed_controller;
use crate::conditions::{self, Desired};
use crate::context::{Context, correlated};
use crate::outcome::{self, Failure};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not list MCPServers: {0}")]
    List(#[source] kube::Error),
    #[error("could not write status: {0}")]
    Status(#[source] kube::Error),
}

impl Failure for Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::List(_) => "ListFailed",
            Error::Status(_) => "StatusUpdateFailed",
        }
    }
}

/// Runs the MCPServerGroup controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let operator_metrics = ctx.metrics.clone();
    let config = ctx.controller_config();
    let controller =
        trimmed_controller(scoped::<MCPServerGroup>(&client, namespace)).with_config(config);
    let groups = controller.store();
    controller
        // A member's state or labels changed: every group of its namespace may count differently.
        .watches(
            scoped::<MCPServer>(&client, namespace),
            watcher::Config::default(),
            move |server: MCPServer| {
                let namespace = server.namespace();
                groups
                    .state()
                    .iter()
                    .filter(|group| group.namespace() == namespace)
                    .map(|group| ObjectRef::from_obj(&**group))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            correlated(&operator_metrics, reconcile),
            |_, _, _| Action::requeue(Duration::from_secs(5)),
            ctx,
        )
        .for_each(|_| async {})
        .await;
}

async fn reconcile(group: Arc<MCPServerGroup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_group(&group, &ctx).await;
    outcome::record(&ctx, "MCPServerGroup", &*group, started, &result).await;
    result
}

async fn reconcile_group(group: &MCPServerGroup, ctx: &Context) -> Result<Action, Error> {
    let namespace = group.namespace().unwrap_or_default();
    let servers: Api<MCPServer> = Api::namespaced(ctx.client.clone(), &namespace);
    let servers = servers
        .list(&ListParams::default())
        .await
        .map_err(Error::List)?
        .items;
    let previous = group.status.clone().unwrap_or_default();
    let status = summarize(group, &servers, &previous);
    let was_ready = previous
        .conditions
        .iter()
        .any(|c| c.type_ == condition::READY && c.status == "True");
    let is_ready = status
        .conditions
        .iter()
        .any(|c| c.type_ == condition::READY && c.status == "True");
    crate::api::apply_status(&ctx.client, group, &status)
        .await
        .map_err(Error::Status)?;
    if was_ready != is_ready || group.status.is_none() {
        let note = format!(
            "{}/{} members healthy",
            status.healthy_members, status.members
        );
        let (type_, reason) = if is_ready {
            (EventType::Normal, "Healthy")
        } else {
            (EventType::Warning, "Unhealthy")
        };
        ctx.event(group, type_, reason, "Reconcile", note).await;
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// The group's status from the servers in its namespace. Pure.
pub fn summarize(
    group: &MCPServerGroup,
    servers: &[MCPServer],
    previous: &MCPServerGroupStatus,
) -> MCPServerGroupStatus {
    let mut members: Vec<GroupMemberStatus> = servers
        .iter()
        .filter(|server| selector_matches(&group.spec.selector, server.labels()))
        .map(|server| {
            let state = server.status.as_ref().and_then(|s| s.state);
            GroupMemberStatus {
                name: server.name_any(),
                state,
                healthy: state == Some(ServerState::Ready),
            }
        })
        .collect();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let total = i32::try_from(members.len()).unwrap_or(i32::MAX);
    let healthy = i32::try_from(members.iter().filter(|m| m.healthy).count()).unwrap_or(i32::MAX);
    let minimum = group.spec.health_policy.min_healthy_percentage;
    let counts = format!("{healthy}/{total} members healthy, at least {minimum}% needed");
    let ready = if total == 0 {
        Desired::new(
            condition::READY,
            false,
            "NoMembers",
            "no MCPServer in the namespace matches spec.selector",
        )
    } else if healthy * 100 >= minimum * total {
        Desired::new(condition::READY, true, "EnoughHealthyMembers", counts)
    } else {
        Desired::new(condition::READY, false, "TooFewHealthyMembers", counts)
    };
    MCPServerGroupStatus {
        members: total,
        healthy_members: healthy,
        member_statuses: members,
        conditions: conditions::merge(&previous.conditions, vec![ready], group.meta().generation),
        observed_generation: group.meta().generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(min_healthy: i32) -> MCPServerGroup {
        serde_json::from_value(json!({
            "apiVersion": "mcp-hangar.io/v1alpha1", "kind": "MCPServerGroup",
            "metadata": {"name": "search", "namespace": "team", "generation": 1},
            "spec": {"selector": {"matchLabels": {"team": "search"}}, "healthPolicy": {"minHealthyPercentage": min_healthy}}
        }))
        .unwrap()
    }

    fn server(name: &str, team: &str, state: &str) -> MCPServer {
        serde_json::from_value(json!({
            "apiVersion": "mcp-hangar.io/v1alpha1", "kind": "MCPServer",
            "metadata": {"name": name, "namespace": "team", "labels": {"team": team}},
            "spec": {"image": "x"},
            "status": {"state": state}
        }))
        .unwrap()
    }

    fn ready(status: &MCPServerGroupStatus) -> (&str, &str) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn members_are_the_selected_servers_and_health_counts() {
        let servers = [
            server("b", "search", "Ready"),
            server("a", "search", "Dead"),
            server("c", "billing", "Ready"),
        ];
        let status = summarize(&group(50), &servers, &MCPServerGroupStatus::default());
        assert_eq!((status.members, status.healthy_members), (2, 1));
        let names: Vec<_> = status
            .member_statuses
            .iter()
            .map(|m| (m.name.as_str(), m.healthy))
            .collect();
        assert_eq!(names, [("a", false), ("b", true)]);
        assert_eq!(
            ready(&status),
            ("True", "EnoughHealthyMembers"),
            "1 of 2 is 50%"
        );
        assert_eq!(
            ready(&summarize(
                &group(51),
                &servers,
                &MCPServerGroupStatus::default()
            )),
            ("False", "TooFewHealthyMembers")
        );
    }

    #[test]
    fn a_group_without_members_is_not_ready() {
        let status = summarize(&group(0), &[], &MCPServerGroupStatus::default());
        assert_eq!(ready(&status), ("False", "NoMembers"));
    }
}
