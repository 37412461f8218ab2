//! Two `hangar operator` processes against one API server, with the default
//! leader election settings: exactly one reconciles; when it is killed (SIGKILL,
//! no chance to clean up) the other takes over within the lease duration; when
//! a leader is stopped (SIGTERM) it releases the Lease and a standby takes over
//! at once. No object is written by both.

use std::time::{Duration, Instant};

use hangar_testenv::shared;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::support::{Operator, all_reconciled, create_server, eventually, lease_holder};

/// The defaults of `hangar operator` (and the chart).
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY_PERIOD: Duration = Duration::from_secs(2);
const LEASE: &str = "hangar-operator";

/// Who wrote each Event about `server`: (reporting instance, time).
async fn event_writers(client: &Client, namespace: &str, server: &str) -> Vec<(String, Timestamp)> {
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        // The MCPServer's own Events: the API server's controllers report on
        // its same-named Service too (the ClusterIP repair controller, say).
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("MCPServer") && r.name.as_deref() == Some(server)
            })
        })
        .map(|e| {
            (
                e.reporting_instance.unwrap_or_default(),
                e.event_time.unwrap().0,
            )
        })
        .collect()
}

/// Log lines written inside a reconcile of `server`.
fn reconciles_of(operator: &Operator, server: &str) -> usize {
    operator
        .records()
        .iter()
        .filter(|r| r["span"]["name"] == "reconcile" && r["span"]["object"] == server)
        .count()
}

async fn reconciled(client: &Client, namespace: &str, server: &str) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("the Deployment of {server}"), || async {
        deployments.get_opt(server).await.unwrap()
    })
    .await;
    eventually("every MCPServer reconciled", || {
        all_reconciled(client, namespace, "MCPServer")
    })
    .await;
}

/// Waits until `operator` says it is a ready standby.
async fn standing_by(operator: &Operator) -> Value {
    eventually(&format!("{} to stand by", operator.name), || async {
        let (code, body) = operator.readiness();
        (code == 200 && body["role"] == "standby").then_some(body)
    })
    .await
}

/// Polls the Lease until `holder` holds it; returns how long that took from `since`.
async fn taken_over(client: &Client, namespace: &str, holder: &str, since: Instant) -> Duration {
    eventually(&format!("{holder} to hold the Lease"), || async {
        (lease_holder(client, namespace, LEASE).await.as_deref() == Some(holder))
            .then(|| since.elapsed())
    })
    .await
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_when_it_dies_or_stops() {
    let plane = shared().await;
    plane.install_crds(hangar_api::crds()).await;
    let admin = plane.client();
    let namespace = plane.namespace().await;
    let args = [
        format!("--namespace={namespace}"),
        format!("--leader-elect-namespace={namespace}"),
    ];
    let spawn = |name: &str| Operator::spawn(name, plane.kubeconfig(), &args, &[]);

    let (a, b) = (spawn("replica-a"), spawn("replica-b"));
    let first = eventually("a leader", || lease_holder(&admin, &namespace, LEASE)).await;
    let (mut leader, standby) = if first == a.name { (a, b) } else { (b, a) };
    let ready = standing_by(&standby).await;
    assert_eq!(ready["leader"], json!(leader.name));
    let (code, ready) = leader.readiness();
    assert_eq!((code, &ready["role"]), (200, &json!("leader")), "{ready}");

    // Exactly one reconciles.
    create_server(
        &admin,
        &namespace,
        "metadata: {name: one}\nspec: {image: python, tag: 3.11-slim}",
    )
    .await;
    reconciled(&admin, &namespace, "one").await;
    assert!(
        reconciles_of(&leader, "one") > 0,
        "the leader logged no reconcile of one"
    );
    assert_eq!(reconciles_of(&standby, "one"), 0, "the standby reconciled");
    assert_eq!(leader.metric("mcp_operator_leader"), Some(1.0));
    assert_eq!(standby.metric("mcp_operator_leader"), Some(0.0));
    let writes = |o: &Operator| {
        o.get("/metrics")
            .1
            .lines()
            .filter(|l| {
                l.starts_with("mcp_operator_resource_operations_total{")
                    || l.starts_with("mcp_operator_reconcile_total{")
            })
            .count()
    };
    assert!(writes(&leader) > 0);
    assert_eq!(
        writes(&standby),
        0,
        "the standby wrote: {}",
        standby.get("/metrics").1
    );

    // The leader dies without releasing the Lease: the standby waits until it expires.
    let killed_at = Timestamp::now();
    let kill = Instant::now();
    leader.kill();
    let takeover = taken_over(&admin, &namespace, &standby.name, kill).await;
    let bound = LEASE_DURATION + 2 * RETRY_PERIOD + Duration::from_secs(2);
    println!(
        "leader {} killed: {} took over after {:.1}s (lease duration {:?}, retry period {:?})",
        leader.name,
        standby.name,
        takeover.as_secs_f64(),
        LEASE_DURATION,
        RETRY_PERIOD
    );
    assert!(
        takeover <= bound,
        "takeover took {takeover:?}, more than {bound:?}"
    );
    let leader_name = leader.name.clone();
    drop(leader);
    let mut leader = standby;

    create_server(
        &admin,
        &namespace,
        "metadata: {name: two}\nspec: {image: python, tag: 3.11-slim}",
    )
    .await;
    reconciled(&admin, &namespace, "two").await;
    assert!(
        reconciles_of(&leader, "two") > 0,
        "the new leader logged no reconcile of two"
    );

    // No object was written by both: every Event before the kill is the first
    // leader's, every one after it the second's.
    for server in ["one", "two"] {
        for (writer, at) in event_writers(&admin, &namespace, server).await {
            if at < killed_at {
                assert_eq!(writer, leader_name, "an Event on {server} before the kill");
            } else {
                assert_eq!(writer, leader.name, "an Event on {server} after the kill");
            }
        }
    }

    // A stopped leader finishes, releases the Lease, and a standby takes it at once.
    let standby = spawn("replica-c");
    standing_by(&standby).await;
    let stop = Instant::now();
    let status = leader.terminate();
    assert!(status.success(), "{} exited with {status}", leader.name);
    assert!(
        leader
            .records()
            .iter()
            .any(|r| r["message"] == "released the leader lease"),
        "{} did not release the Lease",
        leader.name
    );
    let handover = taken_over(&admin, &namespace, &standby.name, stop).await;
    println!(
        "leader {} stopped (SIGTERM): {} took over after {:.1}s",
        leader.name,
        standby.name,
        handover.as_secs_f64()
    );
    // Waiting for expiry would take at least the lease duration less a retry period.
    let bound = LEASE_DURATION - RETRY_PERIOD;
    assert!(
        handover < bound,
        "handover took {handover:?}: the standby waited for the Lease to expire"
    );
}
