//! `hangar operator` through a restart of the real kube-apiserver (a
//! dedicated control plane, etcd kept): the leader cannot renew its Lease,
//! stops its controllers and is not ready while the API server is away, but
//! its process stays; when the API server is back it leads again and applies
//! a spec change made after the return.

use std::time::{Duration, Instant};

use hangar_api::MCPServer;
use hangar_testenv::ControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{Operator, create_server, eventually};

/// Longer than the default renew deadline (10 s): the leader loses the Lease.
const DOWN: Duration = Duration::from_secs(20);

fn image_of(deployment: &Deployment) -> Option<String> {
    deployment.spec.as_ref()?.template.spec.as_ref()?.containers[0]
        .image
        .clone()
}

async fn leading(operator: &Operator) {
    eventually(&format!("{} to lead", operator.name), || async {
        let (code, body) = operator.readiness();
        (code == 200 && body["role"] == "leader").then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_leader_survives_an_api_server_restart_and_applies_a_change_made_after_it() {
    let plane = ControlPlane::start().await;
    plane.install_crds(hangar_api::crds()).await;
    let admin = plane.client();
    let namespace = plane.namespace().await;
    let args = [
        format!("--namespace={namespace}"),
        format!("--leader-elect-namespace={namespace}"),
    ];
    let mut operator = Operator::spawn("replica-a", plane.kubeconfig(), &args, &[]);
    leading(&operator).await;
    create_server(
        &admin,
        &namespace,
        "metadata: {name: one}\nspec: {image: python, tag: 3.11-slim}",
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &namespace);
    eventually("the Deployment of one", || async {
        deployments.get_opt("one").await.ok().flatten()
    })
    .await;

    plane.restart_apiserver(DOWN).await;
    assert_eq!(
        operator.exited(),
        None,
        "the operator exited while the API server was away"
    );
    leading(&operator).await;

    // A client built before the restart may hold dead connections: a new one.
    let admin = plane.client();
    let changed = Instant::now();
    Api::<MCPServer>::namespaced(admin.clone(), &namespace)
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tag": "3.12-slim"}})),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &namespace);
    eventually("the new tag in the Deployment", || async {
        let deployment = deployments.get_opt("one").await.ok().flatten()?;
        (image_of(&deployment).as_deref() == Some("python:3.12-slim")).then_some(())
    })
    .await;
    println!(
        "API server down {DOWN:?}; a spec change made after its return applied in {:.1}s",
        changed.elapsed().as_secs_f64()
    );

    assert_eq!(operator.exited(), None, "the operator exited");
    let records = operator.records();
    let said = |message: &str| records.iter().filter(|r| r["message"] == message).count();
    assert_eq!(
        said("stopped leading: the controllers stopped; competing for the lease again"),
        1,
        "the outage cost the Lease once"
    );
    assert_eq!(
        said("acquired the leader lease"),
        2,
        "it led before and after"
    );
}
