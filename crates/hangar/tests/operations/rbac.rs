//! The operator binary, run as the Helm chart runs it (its arguments and
//! environment) and with exactly the chart's RBAC: the test impersonates the
//! chart's ServiceAccount, so the API server's RBAC authorizer decides every
//! request. Every controller the operator has reconciles the examples of its
//! kind, and what the chart does not grant is refused.

use std::time::Instant;

use hangar_operator::controllers::CONTROLLERS;
use hangar_testenv::{Identity, shared};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::support::{
    Operator, all_reconciled, apply_all, eventually, examples, helm_template, kind_of,
    lease_holder, release_for,
};

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what} should be forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn the_operator_reconciles_every_kind_with_exactly_the_charts_rbac() {
    let plane = shared().await;
    let admin = plane.client();
    let namespace = plane.namespace().await;

    let chart = helm_template(&release_for(&namespace), &namespace, &[]);
    apply_all(&admin, &chart, &namespace).await;
    let deployment = chart.iter().find(|o| kind_of(o) == "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let service_account = pod["serviceAccountName"].as_str().unwrap();
    let identity = Identity::service_account(&namespace, service_account);
    let operator_client = plane.client_as(&identity);

    // Bindings reach the authorizer through a watch: wait until they apply.
    let servers: Api<hangar_api::MCPServer> = Api::namespaced(operator_client.clone(), &namespace);
    eventually("the chart's RoleBindings to take effect", || async {
        servers.list(&ListParams::default()).await.ok()
    })
    .await;

    // The container as the chart runs it: its arguments (watching only this
    // namespace, metrics on a free port) and its literal environment.
    let container = &pod["containers"][0];
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .filter(|a| a != "operator" && !a.starts_with("--metrics-addr"))
        .collect();
    args.push(format!("--namespace={namespace}"));
    let literal_env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut env: Vec<(&str, &str)> = literal_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("POD_NAMESPACE", &namespace));
    let kubeconfig = plane.kubeconfig_as(&identity);
    let operator = Operator::spawn("operator-0", &kubeconfig, &args, &env);

    // It takes the chart's Lease (named by the chart, in its own namespace).
    let lease_name = deployment["metadata"]["name"].as_str().unwrap();
    eventually("the operator to take the Lease", || async {
        (lease_holder(&admin, &namespace, lease_name)
            .await
            .as_deref()
            == Some("operator-0"))
        .then_some(())
    })
    .await;

    // Every example, then every controller's kind reconciled.
    let started = Instant::now();
    for (_, objects) in examples() {
        apply_all(&admin, &objects, &namespace).await;
    }
    for controller in CONTROLLERS {
        let count = eventually(
            &format!("every {} to be reconciled", controller.kind),
            || all_reconciled(&admin, &namespace, controller.kind),
        )
        .await;
        let series = format!(
            r#"mcp_operator_reconcile_total{{kind="{}",result="success"}}"#,
            controller.kind
        );
        assert!(operator.metric(&series).unwrap_or(0.0) > 0.0, "{series}");
        println!(
            "{}: {count} reconciled under the chart's RBAC",
            controller.kind
        );
    }
    println!(
        "all kinds reconciled {:.1}s after the examples were applied",
        started.elapsed().as_secs_f64()
    );
    let (code, ready) = operator.readiness();
    assert_eq!((code, &ready["role"]), (200, &json!("leader")), "{ready}");

    // Nothing it tried was refused: no 403 in its logs, no Event about one.
    let refused: Vec<String> = operator
        .logs()
        .into_iter()
        .filter(|line| {
            let line = line.to_lowercase();
            line.contains("forbidden") || line.contains(" 403")
        })
        .collect();
    assert!(
        refused.is_empty(),
        "requests the chart's RBAC refused:\n{}",
        refused.join("\n")
    );
    let events = Api::<Event>::namespaced(admin.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .unwrap();
    for event in &events.items {
        let note = event.note.as_deref().unwrap_or_default().to_lowercase();
        assert!(!note.contains("forbidden"), "{:?}: {note}", event.reason);
    }

    // What the chart does not grant, the API server refuses to this identity.
    assert_forbidden(
        Api::<Secret>::all(operator_client.clone())
            .list(&ListParams::default())
            .await,
        "listing Secrets in all namespaces",
    );
    assert_forbidden(
        Api::<Secret>::namespaced(operator_client.clone(), &namespace)
            .list(&ListParams::default())
            .await,
        "listing Secrets in its namespace",
    );
    // Secrets: one by name (get) and the managed Redis's (create); never
    // listed, watched, changed or deleted.
    let secrets = Api::<Secret>::namespaced(operator_client.clone(), &namespace);
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "someones-secret"}, "stringData": {"k": "v"}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(admin.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_forbidden(
        secrets
            .patch(
                "someones-secret",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(json!({"stringData": {"k": "mine"}})),
            )
            .await,
        "changing a Secret",
    );
    assert_forbidden(
        secrets
            .delete("someones-secret", &DeleteParams::default())
            .await,
        "deleting a Secret",
    );
    assert_forbidden(
        Api::<Namespace>::all(operator_client.clone())
            .delete(&namespace, &DeleteParams::default())
            .await,
        "deleting a namespace",
    );
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}}),
    )
    .unwrap();
    assert_forbidden(
        Api::<Pod>::namespaced(operator_client.clone(), &namespace)
            .create(&PostParams::default(), &pod)
            .await,
        "creating a Pod",
    );
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{namespace}-escalate")},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }))
    .unwrap();
    assert_forbidden(
        Api::<ClusterRoleBinding>::all(operator_client.clone())
            .create(&PostParams::default(), &binding)
            .await,
        "binding itself to cluster-admin",
    );
    // Leases: it applies gateways' activity Leases (patch) and takes over its
    // own leader-election Lease (update, by name); no other Lease can it update.
    let other: Lease =
        serde_json::from_value(json!({"metadata": {"name": "someone-else"}, "spec": {}})).unwrap();
    let leases = Api::<Lease>::namespaced(operator_client.clone(), &namespace);
    let created = leases
        .create(&PostParams::default(), &other)
        .await
        .expect("create is not limited by name");
    assert_forbidden(
        leases
            .replace("someone-else", &PostParams::default(), &created)
            .await,
        "updating a Lease other than its own",
    );
    let crds: Api<CustomResourceDefinition> = Api::all(operator_client);
    assert_forbidden(
        crds.delete("mcpservers.mcp-hangar.io", &DeleteParams::default())
            .await,
        "deleting a CRD",
    );
}
