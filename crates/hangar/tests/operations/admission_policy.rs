//! The chart's admission policies on the real API server. The
//! ValidatingAdmissionPolicy: MCPServers asking for privileged pod overrides
//! are rejected with a message naming the field and the opt-in label, except
//! in a namespace that carries it. The MutatingAdmissionPolicy: new MCPServers
//! and MCPGateways carry the operator's finalizer from their create.

use hangar_api::{MCPGateway, MCPServer};
use hangar_operator::labels::FINALIZER;
use hangar_testenv::shared;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{apply_all, eventually, helm_template, of_kinds, release_for};

const OPT_IN: (&str, &str) = ("mcp-hangar.io/privileged-servers", "true");

/// Each override the policy refuses: a name, the spec, and what the refusal names.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "privileged",
        "{image: x, securityContext: {privileged: true}}",
        "spec.securityContext.privileged",
    ),
    (
        "escalation",
        "{image: x, securityContext: {allowPrivilegeEscalation: true}}",
        "spec.securityContext.allowPrivilegeEscalation",
    ),
    (
        "capabilities",
        "{image: x, securityContext: {capabilities: {add: [NET_BIND_SERVICE, NET_RAW]}}}",
        "spec.securityContext.capabilities.add",
    ),
    (
        "host-path",
        "{image: x, volumes: [{name: root, hostPath: {path: /}}], volumeMounts: [{name: root, mountPath: /host}]}",
        "spec.volumes",
    ),
    (
        "host-process",
        "{image: x, podSecurityContext: {windowsOptions: {hostProcess: true}}}",
        "windowsOptions.hostProcess",
    ),
];

fn server(name: &str, spec: &str) -> MCPServer {
    let yaml = format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\nspec: {spec}"
    );
    serde_json::from_value(serde_saphyr::from_str::<Value>(&yaml).unwrap()).unwrap()
}

async fn create(api: &Api<MCPServer>, name: &str, spec: &str) -> Result<MCPServer, kube::Error> {
    api.create(&PostParams::default(), &server(name, spec))
        .await
}

#[tokio::test]
async fn privileged_overrides_are_refused_unless_the_namespace_opts_in() {
    let plane = shared().await;
    let admin = plane.client();
    let namespace = plane.namespace().await;
    let opted_in = plane.namespace_with_labels(&[OPT_IN]).await;
    let chart = helm_template(&release_for(&namespace), &namespace, &[]);
    let policy = of_kinds(
        chart,
        &[
            "CustomResourceDefinition",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ],
    );
    assert_eq!(
        policy.len(),
        hangar_api::crds().len() + 2,
        "the policy and its binding"
    );
    apply_all(&admin, &policy, &namespace).await;

    // The API server picks a new policy up within moments: try until it refuses.
    let servers: Api<MCPServer> = Api::namespaced(admin.clone(), &namespace);
    let (name, spec, _) = REFUSED[0];
    eventually("the policy to take effect", || async {
        match create(&servers, name, spec).await {
            Err(_) => Some(()),
            Ok(_) => {
                servers
                    .delete(name, &DeleteParams::default())
                    .await
                    .unwrap();
                None
            }
        }
    })
    .await;
    for (name, spec, field) in REFUSED {
        let refusal = match create(&servers, name, spec).await {
            Err(kube::Error::Api(status)) => status.message,
            other => panic!("{name} should be refused, got {other:?}"),
        };
        assert!(
            refusal.contains(field) && refusal.contains("mcp-hangar.io/privileged-servers=true"),
            "{name}: {refusal}"
        );
        println!("{name}: {refusal}");
    }
    // What the restricted profile allows passes, as does a plain server.
    create(
        &servers,
        "bind",
        "{image: x, securityContext: {capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}}}",
    )
    .await
    .expect("NET_BIND_SERVICE alone is allowed");
    create(&servers, "plain", "{image: x}")
        .await
        .expect("a plain server");

    // A namespace that opted in takes every override.
    let opted: Api<MCPServer> = Api::namespaced(admin.clone(), &opted_in);
    for (name, spec, _) in REFUSED {
        create(&opted, name, spec)
            .await
            .unwrap_or_else(|e| panic!("{name} in the opted-in namespace: {e}"));
    }
}

#[tokio::test]
async fn new_servers_and_gateways_carry_the_finalizer_from_their_create() {
    let plane = shared().await;
    let admin = plane.client();
    let namespace = plane.namespace().await;
    let unwatched = plane.namespace().await;
    // A release watching one namespace binds the policy there only.
    let chart = helm_template(
        &release_for(&namespace),
        &namespace,
        &[
            "finalizerPolicy.enabled=true",
            &format!("watchNamespace={namespace}"),
        ],
    );
    let policy = of_kinds(
        chart,
        &[
            "CustomResourceDefinition",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
        ],
    );
    assert_eq!(
        policy.len(),
        hangar_api::crds().len() + 2,
        "the policy and its binding"
    );
    apply_all(&admin, &policy, &namespace).await;

    // The API server picks a new policy up within moments: dry-run creates
    // (which go through admission) until one comes back with the finalizer.
    let servers: Api<MCPServer> = Api::namespaced(admin.clone(), &namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    eventually("the finalizer policy to take effect", || async {
        let probe = servers
            .create(&dry_run, &server("probe", "{image: x}"))
            .await
            .unwrap();
        probe
            .finalizers()
            .contains(&FINALIZER.to_string())
            .then_some(())
    })
    .await;

    let plain = create(&servers, "plain", "{image: x}").await.unwrap();
    assert_eq!(plain.finalizers(), [FINALIZER]);
    // Another controller's finalizer stays, and ours is not added twice.
    for (name, given, expected) in [
        (
            "kept",
            vec!["example.com/keep"],
            vec!["example.com/keep", FINALIZER],
        ),
        ("already", vec![FINALIZER], vec![FINALIZER]),
    ] {
        let mut object = server(name, "{image: x}");
        object.metadata.finalizers = Some(given.iter().map(|f| f.to_string()).collect());
        let created = servers
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
        assert_eq!(created.finalizers(), expected, "{name}");
    }
    let gateways: Api<MCPGateway> = Api::namespaced(admin.clone(), &namespace);
    let gateway: MCPGateway = serde_json::from_value(json!({
        "apiVersion": "mcp-hangar.io/v1alpha1",
        "kind": "MCPGateway",
        "metadata": {"name": "gateway"},
        "spec": {}
    }))
    .unwrap();
    let gateway = gateways
        .create(&PostParams::default(), &gateway)
        .await
        .unwrap();
    assert_eq!(gateway.finalizers(), [FINALIZER]);

    // A namespace the release does not watch: nothing added, as nothing there
    // would ever remove it.
    let elsewhere: Api<MCPServer> = Api::namespaced(admin.clone(), &unwatched);
    let outside = create(&elsewhere, "outside", "{image: x}").await.unwrap();
    assert!(
        outside.finalizers().is_empty(),
        "{:?}",
        outside.finalizers()
    );

    // No operator runs here: remove the finalizers so the objects can go.
    let unfinalized = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    for name in ["plain", "kept", "already"] {
        servers
            .patch(name, &PatchParams::default(), &unfinalized)
            .await
            .unwrap();
        servers
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    gateways
        .patch("gateway", &PatchParams::default(), &unfinalized)
        .await
        .unwrap();
    gateways
        .delete("gateway", &DeleteParams::default())
        .await
        .unwrap();
}
