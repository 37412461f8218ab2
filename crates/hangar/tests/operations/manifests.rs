//! The install manifests: generated copies in sync, and what `helm template`,
//! `kustomize build` and `examples/kubernetes` produce accepted by the real
//! kube-apiserver (server-side apply with strict field validation), with the
//! operator's pods passing the Pod Security Standard "restricted".

use std::collections::BTreeMap;
use std::process::Command;

use hangar_testenv::shared;
use serde_json::Value;

use crate::support::{
    apply_all, assert_pods_restricted, bound_to, examples, helm_template, kind_of, kustomize_build,
    name_of, of_kinds, release_for, repo_root, restricted_namespace,
};

fn kinds(objects: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for object in objects {
        *counts.entry(kind_of(object).to_string()).or_default() += 1;
    }
    counts
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind_of(o) == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

fn operator_container(objects: &[Value]) -> &Value {
    &find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

/// The chart and the Kustomize base carry copies of generated files; they must
/// be exactly what `hangar crds` and `hangar rbac` generate.
#[test]
fn generated_copies_match_their_source() {
    let root = repo_root();
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let mut stale = Vec::new();
    let generated: Vec<String> = std::fs::read_dir(root.join("deploy/crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".mcp-hangar.io.yaml"))
        .collect();
    assert_eq!(
        generated.len(),
        hangar_api::crds().len(),
        "CRD files in deploy/crds"
    );
    for name in &generated {
        let copy = format!("deploy/helm/hangar/crds/{name}");
        if !root.join(&copy).exists() || read(&copy) != read(&format!("deploy/crds/{name}")) {
            stale.push(copy);
        }
    }
    for entry in std::fs::read_dir(root.join("deploy/helm/hangar/crds")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !generated.contains(&name) {
            stale.push(format!("deploy/helm/hangar/crds/{name} (no such CRD)"));
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("rbac")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hangar rbac: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rbac = String::from_utf8(output.stdout).unwrap();
    for copy in [
        "deploy/kustomize/base/cluster-role.yaml",
        "deploy/helm/hangar/files/cluster-role.yaml",
    ] {
        if read(copy) != rbac {
            stale.push(copy.to_string());
        }
    }
    for (source, copy) in [
        (
            "deploy/kustomize/base/admission-policy.yaml",
            "deploy/helm/hangar/files/admission-policy.yaml",
        ),
        (
            "deploy/kustomize/components/finalizer-policy/finalizer-policy.yaml",
            "deploy/helm/hangar/files/finalizer-policy.yaml",
        ),
    ] {
        if read(copy) != read(source) {
            stale.push(copy.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files ({}): run `make manifests`",
        stale.join(", ")
    );
}

#[tokio::test]
async fn the_helm_chart_renders_manifests_the_api_server_accepts() {
    let plane = shared().await;
    let admin = plane.client();
    let namespace = restricted_namespace(plane).await;

    let objects = helm_template(
        &release_for(&namespace),
        &namespace,
        &["finalizerPolicy.enabled=true"],
    );
    let expected: BTreeMap<String, usize> = [
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("CustomResourceDefinition", hangar_api::crds().len()),
        ("Deployment", 1),
        ("MutatingAdmissionPolicy", 1),
        ("MutatingAdmissionPolicyBinding", 1),
        ("PodDisruptionBudget", 1),
        ("Role", 1),
        ("RoleBinding", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
        ("ValidatingAdmissionPolicy", 1),
        ("ValidatingAdmissionPolicyBinding", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds(&objects), expected);
    assert_eq!(find(&objects, "Deployment")["spec"]["replicas"], 2);
    // The chart's policies are the Kustomize base's and component's, named per release.
    for (kind, source) in [
        (
            "ValidatingAdmissionPolicy",
            "deploy/kustomize/base/admission-policy.yaml",
        ),
        (
            "MutatingAdmissionPolicy",
            "deploy/kustomize/components/finalizer-policy/finalizer-policy.yaml",
        ),
    ] {
        let source: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join(source)).unwrap())
                .unwrap();
        let policy = find(&objects, kind);
        assert_eq!(policy["spec"], source["spec"], "{kind}");
        assert_eq!(
            find(&objects, &format!("{kind}Binding"))["spec"]["policyName"],
            policy["metadata"]["name"]
        );
    }
    let without = helm_template(
        &release_for(&namespace),
        &namespace,
        &[
            "admissionPolicy.enabled=false",
            "finalizerPolicy.enabled=false",
        ],
    );
    for kind in ["ValidatingAdmissionPolicy", "MutatingAdmissionPolicy"] {
        assert!(!without.iter().any(|o| kind_of(o) == kind), "{kind}");
    }
    let objects: Vec<Value> = objects
        .into_iter()
        .map(|object| bound_to(&namespace, object))
        .collect();
    apply_all(&admin, &objects, &namespace).await;
    assert_pods_restricted(&admin, &objects, &namespace).await;

    // Watching one namespace: the same rules as a Role there, no ClusterRole.
    let watched = plane.namespace().await;
    let release = release_for(&watched);
    let scoped = helm_template(
        &release,
        &namespace,
        &[&format!("watchNamespace={watched}")],
    );
    let role = scoped
        .iter()
        .find(|o| kind_of(o) == "Role" && o["metadata"]["namespace"] == watched.as_str())
        .expect("a Role in the watched namespace");
    assert_eq!(role["rules"], find(&objects, "ClusterRole")["rules"]);
    assert!(
        !scoped
            .iter()
            .any(|o| kind_of(o).starts_with("Cluster") && kind_of(o) != "CustomResourceDefinition")
    );
    let args = &operator_container(&scoped)["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from(format!("--namespace={watched}"))),
        "{args}"
    );
    apply_all(&admin, &scoped, &namespace).await;

    // The ServiceMonitor (its CRD belongs to the Prometheus Operator, which this
    // control plane lacks, so it is checked, not applied): it selects the
    // metrics Service and scrapes its named port.
    let monitored = helm_template(
        &release_for(&namespace),
        &namespace,
        &["serviceMonitor.enabled=true"],
    );
    let monitor = find(&monitored, "ServiceMonitor");
    let service = find(&monitored, "Service");
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    for (key, value) in selector {
        assert_eq!(&service["metadata"]["labels"][key], value, "label {key}");
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );

    // Two replicas without an elected leader would both reconcile: refused.
    let refused = Command::new(hangar_testenv::tools::kube_bin("helm"))
        .args([
            "template",
            "x",
            "deploy/helm/hangar",
            "--set",
            "leaderElection.enabled=false",
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("replicaCount > 1 needs leaderElection.enabled"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[tokio::test]
async fn every_kustomize_overlay_is_accepted() {
    let plane = shared().await;
    let admin = plane.client();
    for (overlay, replicas, image) in [
        ("dev", 1, "hangar:dev"),
        ("k3d", 2, "k3d-hangar-registry.localhost:5000/hangar:dev"),
        ("production", 2, "ghcr.io/mcp-hangar/hangar:0.1.0"),
    ] {
        let objects = kustomize_build(overlay);
        assert_eq!(
            kinds(&objects)["CustomResourceDefinition"],
            hangar_api::crds().len(),
            "{overlay}: the generated CRDs"
        );
        let deployment = find(&objects, "Deployment");
        assert_eq!(deployment["spec"]["replicas"], replicas, "{overlay}");
        let container = operator_container(&objects);
        assert_eq!(container["image"], image, "{overlay}");
        let hangar_image = container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "HANGAR_IMAGE")
            .map(|e| e["value"].clone());
        assert_eq!(
            hangar_image,
            Some(Value::from(image)),
            "{overlay}: stdio bridges use the same image"
        );
        // Everything lands in hangar-system, which the base makes "restricted".
        apply_all(&admin, &objects, "default").await;
        assert_pods_restricted(&admin, &objects, "hangar-system").await;
    }
}

#[tokio::test]
async fn every_example_is_accepted() {
    let plane = shared().await;
    let admin = plane.client();
    plane.install_crds(hangar_api::crds()).await;
    let examples = examples();
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (file, objects) in &examples {
        let text =
            std::fs::read_to_string(repo_root().join("examples/kubernetes").join(file)).unwrap();
        assert!(
            text.starts_with('#'),
            "{file} should begin with a comment that explains it"
        );
        assert!(!objects.is_empty(), "{file} has no objects");
        let namespace = plane.namespace().await;
        apply_all(&admin, objects, &namespace).await;
        for object in objects {
            kinds_seen.insert(kind_of(object).to_string());
            assert!(
                !name_of(object).is_empty(),
                "{file}: an object without a name"
            );
        }
    }
    // Every Hangar kind has an example.
    for crd in hangar_api::crds() {
        assert!(
            kinds_seen.contains(&crd.spec.names.kind),
            "no example of {}",
            crd.spec.names.kind
        );
    }
}

/// `values.schema.json` makes Helm refuse values the operator cannot run (a
/// `--set logging.format=xml` used to render, and the operator then exited),
/// names the field, and stays in step with the operator's own flags.
#[test]
fn the_chart_refuses_values_the_operator_cannot_run() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/helm/hangar/values.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let formats: Vec<String> = <hangar::logging::Format as clap::ValueEnum>::value_variants()
        .iter()
        .filter_map(clap::ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_string())
        .collect();
    assert_eq!(
        schema["properties"]["logging"]["properties"]["format"]["enum"],
        serde_json::json!(formats),
        "the chart's logging.format is the operator's --log-format"
    );

    let helm = hangar_testenv::tools::kube_bin("helm");
    let template = |sets: &[&str]| {
        let mut command = Command::new(&helm);
        command
            .args(["template", "hangar", "deploy/helm/hangar"])
            .current_dir(repo_root());
        for set in sets {
            command.args(["--set", set]);
        }
        command.output().unwrap()
    };
    assert!(template(&[]).status.success(), "the defaults are valid");
    assert!(
        template(&[
            "podDisruptionBudget.maxUnavailable=50%",
            "logging.format=text"
        ])
        .status
        .success()
    );
    for (set, named) in [
        ("logging.format=xml", "/logging/format"),
        ("replicaCont=3", "'replicaCont' not allowed"),
        (
            "leaderElection.leaseDuration=fifteen",
            "/leaderElection/leaseDuration",
        ),
        ("metrics.port=0", "/metrics/port"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ] {
        let output = template(&[set]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{set} was accepted");
        assert!(stderr.contains(named), "{set}: {stderr}");
    }
}

/// The opt-in Kustomize component adds the finalizer policy and its binding
/// to an overlay (here production, in a copy of `deploy/` with one overlay
/// more), and the API server accepts them.
#[tokio::test]
async fn the_finalizer_policy_component_adds_to_an_overlay() {
    let plane = shared().await;
    let admin = plane.client();
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .args(["-r", "deploy"])
        .arg(copy.path())
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(status.success(), "copying deploy/");
    let overlay = copy
        .path()
        .join("deploy/kustomize/overlays/with-finalizer-policy");
    std::fs::create_dir(&overlay).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         resources: [../production]\ncomponents: [../../components/finalizer-policy]\n",
    )
    .unwrap();
    let objects = crate::support::documents(&crate::support::tool(
        "kustomize",
        &["build", overlay.to_str().unwrap()],
    ));
    let base = kustomize_build("production");
    let mut expected = kinds(&base);
    expected.insert("MutatingAdmissionPolicy".into(), 1);
    expected.insert("MutatingAdmissionPolicyBinding".into(), 1);
    assert_eq!(kinds(&objects), expected);
    let policy = find(&objects, "MutatingAdmissionPolicy");
    assert_eq!(
        find(&objects, "MutatingAdmissionPolicyBinding")["spec"]["policyName"],
        policy["metadata"]["name"]
    );
    // Only the two new objects; bound to a namespace of no other test's.
    let namespace = plane.namespace().await;
    let added: Vec<Value> = of_kinds(
        objects,
        &["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"],
    )
    .into_iter()
    .map(|mut object| {
        if kind_of(&object) == "MutatingAdmissionPolicyBinding" {
            object["metadata"]["name"] = Value::from(format!("finalizer-{namespace}"));
        }
        bound_to(&namespace, object)
    })
    .collect();
    apply_all(&admin, &added, &namespace).await;
}
