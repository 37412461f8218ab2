//! The shared control plane: a real kube-apiserver that serves CRDs, authorizes
//! with RBAC, enforces Pod Security, and keeps tests apart by namespace.

use hangar_testenv::{ControlPlane, Identity, shared};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::time::{Duration, Instant};

fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test fixture matches the Kubernetes type")
}

/// The HTTP status of an API error, or a panic naming what else went wrong.
fn status_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other}"),
    }
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> kube::Error {
    let err = result.expect_err(&format!("{what} should be forbidden"));
    assert_eq!(status_code(&err), 403, "{what}: {err}");
    err
}

/// RBAC bindings reach the authorizer through a watch, so a new one takes
/// effect a moment after it is created.
async fn eventually_allowed_to_list(what: &str, configmaps: &Api<ConfigMap>) {
    let start = Instant::now();
    loop {
        match configmaps.list(&ListParams::default()).await {
            Ok(_) => return,
            Err(e) if start.elapsed() > Duration::from_secs(30) => {
                panic!("{what} never succeeded: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn grant_configmap_reading(
    plane: &ControlPlane,
    namespace: &str,
    subject: serde_json::Value,
) {
    let client = plane.client();
    let role: Role = from_json(json!({
        "metadata": {"name": "configmap-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }));
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .expect("creating the role");
    let binding: RoleBinding = from_json(json!({
        "metadata": {"name": "configmap-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
        "subjects": [subject],
    }));
    Api::<RoleBinding>::namespaced(client, namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating the role binding");
}

#[tokio::test]
async fn version_is_the_pinned_release() {
    let info = shared()
        .await
        .client()
        .apiserver_version()
        .await
        .expect("GET /version");
    assert_eq!(info.git_version, "v1.36.3");
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "36"));
}

fn widget_crd() -> CustomResourceDefinition {
    from_json(json!({
        "metadata": {"name": "widgets.testenv.hangar.dev"},
        "spec": {
            "group": "testenv.hangar.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {"size": {"type": "integer", "minimum": 1}},
                    }},
                }},
            }],
        },
    }))
}

#[tokio::test]
async fn a_crd_installs_becomes_established_and_is_served_with_its_schema() {
    let plane = shared().await;
    plane.install_crds(vec![widget_crd()]).await;
    // Applying the same CRDs again, as every test on the shared plane may, is harmless.
    plane.install_crds(vec![widget_crd()]).await;

    let crd = Api::<CustomResourceDefinition>::all(plane.client())
        .get("widgets.testenv.hangar.dev")
        .await
        .expect("the CRD exists");
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"),
        "conditions: {conditions:?}"
    );

    let ns = plane.namespace().await;
    let resource =
        ApiResource::from_gvk(&GroupVersionKind::gvk("testenv.hangar.dev", "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(plane.client(), &ns, &resource);
    let widget = |name: &str, size: i64| -> DynamicObject {
        from_json(json!({
            "apiVersion": "testenv.hangar.dev/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": {"size": size},
        }))
    };
    widgets
        .create(&PostParams::default(), &widget("good", 3))
        .await
        .expect("a valid widget is accepted");
    let err = widgets
        .create(&PostParams::default(), &widget("bad", 0))
        .await
        .expect_err("size 0 violates the schema's minimum");
    assert_eq!(status_code(&err), 422, "{err}");
    assert!(err.to_string().contains("spec.size"), "{err}");
}

#[tokio::test]
async fn rbac_denies_an_impersonated_user_until_a_role_binding_allows_it() {
    let plane = shared().await;
    let ns = plane.namespace().await;
    let alice = Identity::user("alice");
    let configmaps: Api<ConfigMap> = Api::namespaced(plane.client_as(&alice), &ns);

    let err = assert_forbidden(
        configmaps.list(&ListParams::default()).await,
        "alice listing configmaps",
    );
    assert!(err.to_string().contains(r#"User "alice""#), "{err}");

    grant_configmap_reading(
        plane,
        &ns,
        json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}),
    )
    .await;
    eventually_allowed_to_list("alice listing configmaps after the binding", &configmaps).await;

    // Exactly what the role grants, nothing more.
    let cm: ConfigMap = from_json(json!({"metadata": {"name": "written-by-alice"}}));
    assert_forbidden(
        configmaps.create(&PostParams::default(), &cm).await,
        "alice creating a configmap",
    );
    let secrets: Api<Secret> = Api::namespaced(plane.client_as(&alice), &ns);
    assert_forbidden(
        secrets.list(&ListParams::default()).await,
        "alice listing secrets",
    );
    let elsewhere: Api<ConfigMap> =
        Api::namespaced(plane.client_as(&alice), &plane.namespace().await);
    assert_forbidden(
        elsewhere.list(&ListParams::default()).await,
        "alice listing configmaps in another namespace",
    );
}

#[tokio::test]
async fn groups_of_an_impersonated_user_are_authorized() {
    let plane = shared().await;
    let ns = plane.namespace().await;
    grant_configmap_reading(
        plane,
        &ns,
        json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "readers"}),
    )
    .await;
    let in_group: Api<ConfigMap> = Api::namespaced(
        plane.client_as(&Identity::user("bob").in_group("readers")),
        &ns,
    );
    eventually_allowed_to_list("bob in group readers listing configmaps", &in_group).await;
    let alone: Api<ConfigMap> = Api::namespaced(plane.client_as(&Identity::user("bob")), &ns);
    assert_forbidden(
        alone.list(&ListParams::default()).await,
        "bob without the group listing configmaps",
    );
}

#[tokio::test]
async fn a_service_account_is_authorized_by_its_binding_and_by_its_groups() {
    let plane = shared().await;

    let ns = plane.namespace().await;
    let operator = Identity::service_account(&ns, "operator");
    assert_eq!(
        operator.name(),
        format!("system:serviceaccount:{ns}:operator")
    );
    let as_operator: Api<ConfigMap> = Api::namespaced(plane.client_as(&operator), &ns);
    assert_forbidden(
        as_operator.list(&ListParams::default()).await,
        "the service account before its binding",
    );
    grant_configmap_reading(
        plane,
        &ns,
        json!({"kind": "ServiceAccount", "name": "operator", "namespace": ns}),
    )
    .await;
    eventually_allowed_to_list("the service account listing configmaps", &as_operator).await;
    let other: Api<ConfigMap> = Api::namespaced(
        plane.client_as(&Identity::service_account(&ns, "other")),
        &ns,
    );
    assert_forbidden(
        other.list(&ListParams::default()).await,
        "another service account of the namespace",
    );

    // The API server gives an impersonated service account the groups of a real one.
    let ns = plane.namespace().await;
    grant_configmap_reading(
        plane,
        &ns,
        json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": format!("system:serviceaccounts:{ns}")}),
    )
    .await;
    let any_sa: Api<ConfigMap> =
        Api::namespaced(plane.client_as(&Identity::service_account(&ns, "any")), &ns);
    eventually_allowed_to_list("a service account via its namespace group", &any_sa).await;
}

async fn client_from_file(path: &std::path::Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("the kubeconfig file parses");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig file is complete");
    Client::try_from(config).expect("a client from the kubeconfig file")
}

#[tokio::test]
async fn kubeconfig_files_carry_the_admin_and_impersonated_identities() {
    let plane = shared().await;
    let ns = plane.namespace().await;

    let admin = client_from_file(plane.kubeconfig()).await;
    Api::<Namespace>::all(admin)
        .get(&ns)
        .await
        .expect("the admin kubeconfig reads namespaces");

    let carol = Identity::user("carol").in_group("readers-of-nothing");
    let path = plane.kubeconfig_as(&carol);
    assert!(
        path.starts_with(plane.dir()),
        "{} is outside the plane's directory",
        path.display()
    );
    let as_carol: Api<ConfigMap> = Api::namespaced(client_from_file(&path).await, &ns);
    let err = assert_forbidden(
        as_carol.list(&ListParams::default()).await,
        "carol from her kubeconfig",
    );
    assert!(err.to_string().contains(r#"User "carol""#), "{err}");
    grant_configmap_reading(plane, &ns, json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "readers-of-nothing"}))
        .await;
    eventually_allowed_to_list("carol via the group in her kubeconfig", &as_carol).await;
}

/// Run in parallel with its twin: both write the same object name, which only
/// works when each has a namespace of its own.
async fn isolated_namespace(owner: &str) {
    let plane = shared().await;
    let ns = plane.namespace().await;
    assert!(
        ns.starts_with(&format!("each-test-gets-its-own-namespace-{owner}-")),
        "namespace {ns}"
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(plane.client(), &ns);
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "same-name"}, "data": {"owner": owner}}));
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .expect("creating the configmap");
    let all = configmaps
        .list(&ListParams::default())
        .await
        .expect("listing configmaps");
    let owners: Vec<_> = all
        .items
        .iter()
        .filter_map(|c| c.data.as_ref()?.get("owner").cloned())
        .collect();
    assert_eq!(
        owners,
        [owner],
        "namespace {ns} holds exactly this test's configmap"
    );
}

#[tokio::test]
async fn each_test_gets_its_own_namespace_a() {
    isolated_namespace("a").await;
}

#[tokio::test]
async fn each_test_gets_its_own_namespace_b() {
    isolated_namespace("b").await;
}

fn pod(security_context: serde_json::Value, pod_security_context: serde_json::Value) -> Pod {
    from_json(json!({
        "metadata": {"name": "probe"},
        "spec": {
            "securityContext": pod_security_context,
            "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10", "securityContext": security_context}],
        },
    }))
}

#[tokio::test]
async fn a_restricted_namespace_rejects_a_privileged_pod() {
    let plane = shared().await;
    let restricted = plane
        .namespace_with_labels(&[("pod-security.kubernetes.io/enforce", "restricted")])
        .await;
    let labels = Api::<Namespace>::all(plane.client())
        .get(&restricted)
        .await
        .expect("reading the namespace")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    let privileged = pod(json!({"privileged": true}), json!({}));
    let err = Api::<Pod>::namespaced(plane.client(), &restricted)
        .create(&PostParams::default(), &privileged)
        .await
        .expect_err("a privileged pod in a restricted namespace");
    assert_eq!(status_code(&err), 403, "{err}");
    assert!(
        err.to_string()
            .contains(r#"violates PodSecurity "restricted:latest""#),
        "{err}"
    );
    assert!(err.to_string().contains("privileged"), "{err}");

    // The same pod is fine where no policy is enforced, so the policy rejected it.
    Api::<Pod>::namespaced(plane.client(), &plane.namespace().await)
        .create(&PostParams::default(), &privileged)
        .await
        .expect("a privileged pod in an unlabelled namespace");

    // And the restricted namespace takes a pod that meets the profile.
    let compliant = pod(
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}),
        json!({"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}),
    );
    Api::<Pod>::namespaced(plane.client(), &restricted)
        .create(&PostParams::default(), &compliant)
        .await
        .expect("a pod meeting the restricted profile");
}
