//! The MCPServer controller against a real kube-apiserver. No kubelet or
//! controller-manager runs, so tests write Deployment status themselves.

use std::sync::Arc;
use std::time::Duration;

use hangar_api::{MCPServer, ServerState, crds};
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::{self, build::BuildSettings};
use hangar_testenv::{eventually, gone};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// A namespace with the MCPServer controller running on it.
async fn operator(labels: &[(&str, &str)]) -> (Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace_with_labels(labels).await;
    let client = plane.client();
    let settings = BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
        ..BuildSettings::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::default()),
        settings,
    ));
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    (client, ns)
}

async fn create_server(client: &Client, ns: &str, yaml: &str) -> MCPServer {
    let text = format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n{yaml}");
    let server: MCPServer = serde_json::from_value(serde_saphyr::from_str(&text).unwrap()).unwrap();
    Api::<MCPServer>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &server)
        .await
        .unwrap()
}

async fn state_of(servers: &Api<MCPServer>, name: &str) -> Option<ServerState> {
    servers.get(name).await.ok()?.status?.state
}

/// Plays the Deployment controller and kubelet: reports `ready` of the desired replicas available.
async fn report_deployment(deployments: &Api<Deployment>, name: &str, ready: i32) {
    let deployment = deployments.get(name).await.unwrap();
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let available = if ready >= desired { "True" } else { "False" };
    let status = json!({"status": {
        "observedGeneration": deployment.metadata.generation,
        "replicas": desired, "updatedReplicas": desired, "readyReplicas": ready, "availableReplicas": ready,
        "conditions": [{"type": "Available", "status": available, "reason": "Test", "message": "set by the test",
                        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    }});
    deployments
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

const FULL_SPEC: &str = r#"
metadata: {name: search}
spec:
  image: registry.local:5000/acme/search
  tag: "2.1"
  command: [python, -m, search_mcp]
  args: [--index, /data/index]
  env:
    - {name: LOG_LEVEL, value: debug}
    - name: API_KEY
      valueFrom: {secretKeyRef: {name: search-secrets, key: api-key}}
  envFrom: [{configMapRef: {name: search-env}}]
  port: 9000
  path: /rpc
  replicas: 3
  resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {memory: 1Gi}}
  serviceType: NodePort
  nodeSelector: {disktype: ssd}
  tolerations: [{key: mcp-servers, operator: Equal, value: "true", effect: NoSchedule}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a, b]}]}]
  serviceAccountName: search
  imagePullSecrets: [{name: registry-credentials}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: search-index}}]
  volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
  config: {files: {settings.json: '{"shards": 4}'}, mountPath: /etc/search}
  ingress: {host: search.example.com, className: nginx, tlsSecretName: search-tls}
"#;

#[tokio::test]
async fn every_spec_field_reaches_the_workload() {
    let (client, ns) = operator(&[]).await;
    let server = create_server(&client, &ns, FULL_SPEC).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt("search").await.unwrap()
    })
    .await;

    let owner = &deployment.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("MCPServer", server.uid().unwrap().as_str(), Some(true))
    );
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.unwrap();
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry.local:5000/acme/search:2.1")
    );
    assert_eq!(
        container.command.as_ref().unwrap(),
        &["python", "-m", "search_mcp"]
    );
    assert_eq!(
        container.args.as_ref().unwrap(),
        &["--index", "/data/index"]
    );
    let env = container.env.as_ref().unwrap();
    assert_eq!(env[0].value.as_deref(), Some("debug"));
    let secret = env[1]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("search-secrets", "api-key")
    );
    assert_eq!(
        container.env_from.as_ref().unwrap()[0]
            .config_map_ref
            .as_ref()
            .unwrap()
            .name,
        "search-env"
    );
    assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 9000);
    let resources = container.resources.as_ref().unwrap();
    assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "250m");
    assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "1Gi");
    assert_eq!(pod.node_selector.as_ref().unwrap()["disktype"], "ssd");
    assert_eq!(
        pod.tolerations.as_ref().unwrap()[0].key.as_deref(),
        Some("mcp-servers")
    );
    assert!(pod.affinity.as_ref().unwrap().node_affinity.is_some());
    assert_eq!(pod.service_account_name.as_deref(), Some("search"));
    assert_eq!(
        pod.image_pull_secrets.as_ref().unwrap()[0].name,
        "registry-credentials"
    );
    let volumes = pod.volumes.as_ref().unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.name == "data" && v.persistent_volume_claim.is_some())
    );
    assert!(volumes.iter().any(|v| {
        v.config_map
            .as_ref()
            .is_some_and(|cm| cm.name == "search-config")
    }));
    let mounts = container.volume_mounts.as_ref().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m.name == "data" && m.mount_path == "/data")
    );
    assert!(mounts.iter().any(|m| m.mount_path == "/etc/search"));

    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get("search")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(service.type_.as_deref(), Some("NodePort"));
    assert_eq!(service.ports.unwrap()[0].port, 9000);
    let config = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("search-config")
        .await
        .unwrap();
    assert_eq!(config.data.unwrap()["settings.json"], r#"{"shards": 4}"#);
    let ingress = Api::<Ingress>::namespaced(client.clone(), &ns)
        .get("search")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(ingress.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        ingress.rules.unwrap()[0].host.as_deref(),
        Some("search.example.com")
    );
    assert_eq!(
        ingress.tls.unwrap()[0].secret_name.as_deref(),
        Some("search-tls")
    );

    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let status = eventually("status", || async {
        servers
            .get("search")
            .await
            .unwrap()
            .status
            .filter(|s| s.url.is_some())
    })
    .await;
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://search.{ns}.svc:9000/rpc").as_str())
    );
    assert_eq!(
        status.selector.as_deref(),
        Some("mcp-hangar.io/server=search")
    );
}

#[tokio::test]
async fn status_follows_the_deployment_cold_initializing_ready() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    create_server(
        &client,
        &ns,
        "metadata: {name: tools}\nspec: {image: ghcr.io/acme/tools, replicas: 0, healthCheck: {enabled: false}}",
    )
    .await;
    eventually("Cold", || async {
        (state_of(&servers, "tools").await == Some(ServerState::Cold)).then_some(())
    })
    .await;

    servers
        .patch_scale(
            "tools",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    eventually("the Deployment to want 2 replicas", || async {
        let replicas = deployments
            .get("tools")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas;
        (replicas == Some(2)).then_some(())
    })
    .await;
    eventually("Initializing", || async {
        (state_of(&servers, "tools").await == Some(ServerState::Initializing)).then_some(())
    })
    .await;

    report_deployment(&deployments, "tools", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state_of(&servers, "tools").await,
        Some(ServerState::Initializing),
        "1 of 2 ready is not Ready"
    );

    report_deployment(&deployments, "tools", 2).await;
    let server = eventually("Ready", || async {
        let server = servers.get("tools").await.unwrap();
        (server.status.as_ref()?.state == Some(ServerState::Ready)).then_some(server)
    })
    .await;
    let status = server.status.unwrap();
    assert_eq!((status.replicas, status.ready_replicas), (Some(2), Some(2)));
    assert_eq!(status.observed_generation, server.metadata.generation);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.observed_generation),
        ("True", server.metadata.generation)
    );

    // Every transition was an Event, named after the state it entered; the
    // first state (Cold), shown in status, was not.
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let transitions = eventually("two state-change events", || async {
        let transitions: Vec<(String, String)> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.action.as_deref() == Some("StateChanged"))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect();
        (transitions.len() >= 2).then_some(transitions)
    })
    .await;
    assert!(
        !transitions.iter().any(|(_, n)| n.starts_with("(new)")),
        "an Event for the first state: {transitions:?}"
    );
    for (reason, note) in [
        ("Initializing", "Cold → Initializing"),
        ("Ready", "Initializing → Ready"),
    ] {
        assert!(
            transitions
                .iter()
                .any(|(r, n)| r == reason && n.starts_with(note)),
            "no {reason} event saying {note:?} in {transitions:?}"
        );
    }
}

#[tokio::test]
async fn spec_changes_roll_out_and_drift_is_repaired() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let image = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    };
    create_server(
        &client,
        &ns,
        "metadata: {name: tools}\nspec: {image: ghcr.io/acme/tools, tag: '1.0'}",
    )
    .await;
    eventually("the first Deployment", || async {
        deployments.get_opt("tools").await.unwrap()
    })
    .await;

    // A spec change rolls out.
    servers
        .patch(
            "tools",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tag": "2.0", "args": ["--verbose"]}})),
        )
        .await
        .unwrap();
    eventually("tag 2.0 in the Deployment", || async {
        let d = deployments.get("tools").await.unwrap();
        (image(&d) == "ghcr.io/acme/tools:2.0").then_some(())
    })
    .await;

    // Someone edits the Deployment by hand: the operator puts its fields back.
    let tamper = json!({"spec": {"template": {"spec": {"containers": [{"name": "mcp-server", "image": "evil:latest"}]}}}});
    deployments
        .patch("tools", &PatchParams::default(), &Patch::Strategic(tamper))
        .await
        .unwrap();
    eventually("the image to be repaired", || async {
        let d = deployments.get("tools").await.unwrap();
        (image(&d) == "ghcr.io/acme/tools:2.0").then_some(())
    })
    .await;

    // Someone deletes the Deployment: it comes back.
    let old_uid = deployments.get("tools").await.unwrap().uid();
    deployments
        .delete("tools", &DeleteParams::default())
        .await
        .unwrap();
    eventually("a new Deployment", || async {
        let d = deployments.get_opt("tools").await.unwrap()?;
        (d.uid() != old_uid).then_some(())
    })
    .await;

    // Optional objects follow the spec both ways.
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    servers
        .patch(
            "tools",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"autoscaling": {"maxReplicas": 4}}})),
        )
        .await
        .unwrap();
    eventually("an autoscaler", || async {
        hpas.get_opt("tools").await.unwrap()
    })
    .await;
    servers
        .patch(
            "tools",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"autoscaling": null}})),
        )
        .await
        .unwrap();
    gone(&hpas, "tools").await;
}

#[tokio::test]
async fn deleting_the_server_removes_everything() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_server(&client, &ns, "metadata: {name: tools}\nspec: {image: ghcr.io/acme/tools, config: {files: {a.json: '{}'}}, ingress: {host: t.example.com}}").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("the Deployment", || async {
        deployments.get_opt("tools").await.unwrap()
    })
    .await;
    let finalizers = servers.get("tools").await.unwrap().finalizers().to_vec();
    assert_eq!(finalizers, ["mcp-hangar.io/cleanup"]);

    servers
        .delete("tools", &DeleteParams::default())
        .await
        .unwrap();
    gone(&servers, "tools").await;
    assert!(deployments.get_opt("tools").await.unwrap().is_none());
    assert!(
        Api::<Service>::namespaced(client.clone(), &ns)
            .get_opt("tools")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get_opt("tools-config")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<Ingress>::namespaced(client.clone(), &ns)
            .get_opt("tools")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_object_it_does_not_own_is_never_deleted() {
    let (client, ns) = operator(&[]).await;
    // Someone else's ConfigMap happens to have the name the server's config would get.
    let theirs = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("tools-config".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_server(
        &client,
        &ns,
        "metadata: {name: tools}\nspec: {image: ghcr.io/acme/tools}",
    )
    .await;
    eventually("Reconciled", || async {
        let status = servers.get("tools").await.unwrap().status?;
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Reconciled" && c.status == "True")
            .then_some(())
    })
    .await;
    servers
        .delete("tools", &DeleteParams::default())
        .await
        .unwrap();
    gone(&servers, "tools").await;
    assert!(
        config_maps.get_opt("tools-config").await.unwrap().is_some(),
        "a ConfigMap the operator did not create was deleted"
    );
}

#[tokio::test]
async fn an_unrunnable_spec_is_reported_in_status() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_server(
        &client,
        &ns,
        "metadata: {name: tools}\nspec: {image: x, volumeMounts: [{name: data, mountPath: /d}]}",
    )
    .await;
    let ready = eventually("a Ready=False condition", || async {
        let status = servers.get("tools").await.unwrap().status?;
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.reason == "InvalidSpec")
    })
    .await;
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains("spec.volumeMounts[0] mounts volume \"data\", which is not in spec.volumes"),
        "{}",
        ready.message
    );
}

/// The pod template passes the "restricted" Pod Security Standard, checked by the
/// API server's PodSecurity admission in a namespace that enforces it.
#[tokio::test]
async fn pods_pass_the_restricted_pod_security_standard() {
    let (client, ns) = operator(&[("pod-security.kubernetes.io/enforce", "restricted")]).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for (name, spec) in [
        ("plain", "{image: ghcr.io/acme/tools}"),
        (
            "stdio",
            "{image: node, transport: stdio, command: [npx, -y, '@modelcontextprotocol/server-everything']}",
        ),
    ] {
        create_server(
            &client,
            &ns,
            &format!("metadata: {{name: {name}}}\nspec: {spec}"),
        )
        .await;
        let deployment = eventually("the Deployment", || async {
            deployments.get_opt(name).await.unwrap()
        })
        .await;
        let template = deployment.spec.unwrap().template;
        let pod = Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("{name}-pod")),
                ..template.metadata.unwrap()
            },
            spec: template.spec,
            ..Default::default()
        };
        pods.create(&PostParams::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("restricted namespace rejected the {name} pod: {e}"));

        // The namespace does enforce: the same pod without the container security context is refused.
        let mut unrestricted = pod.clone();
        unrestricted.metadata.name = Some(format!("{name}-unrestricted"));
        unrestricted.spec.as_mut().unwrap().containers[0].security_context = None;
        let error = pods
            .create(&PostParams::default(), &unrestricted)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("violates PodSecurity \"restricted"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn crash_looping_pods_make_the_server_dead() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create_server(
        &client,
        &ns,
        "metadata: {name: tools}\nspec: {image: ghcr.io/acme/tools, healthCheck: {enabled: false}}",
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt("tools").await.unwrap()
    })
    .await;

    // Play the ReplicaSet controller and kubelet: one pod of the server, crash-looping.
    let template = deployment.spec.unwrap().template;
    let pod = Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("tools-7f9c".into()),
            ..template.metadata.unwrap()
        },
        spec: template.spec,
        ..Default::default()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"containerStatuses": [{
        "name": "mcp-server", "image": "ghcr.io/acme/tools:latest", "imageID": "", "ready": false, "restartCount": 6,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}}
    }]}});
    pods.patch_status(
        "tools-7f9c",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();

    let dead = eventually("Dead", || async {
        let server = servers.get("tools").await.unwrap();
        (server.status.as_ref()?.state == Some(ServerState::Dead)).then_some(server)
    })
    .await;
    let ready = dead
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.reason, "WorkloadFailing");
    assert!(
        ready
            .message
            .contains("pod tools-7f9c container mcp-server: CrashLoopBackOff"),
        "{}",
        ready.message
    );
}

/// `kubectl get mcpservers` as kubectl asks for it: the server-side Table of the printer columns.
async fn table_row(client: &Client, ns: &str, name: &str) -> Vec<(String, serde_json::Value)> {
    let request = http::Request::get(format!(
        "/apis/mcp-hangar.io/v1alpha1/namespaces/{ns}/mcpservers/{name}"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: serde_json::Value = client.request(request).await.unwrap();
    let columns = table["columnDefinitions"].as_array().unwrap();
    let cells = table["rows"][0]["cells"].as_array().unwrap();
    columns
        .iter()
        .zip(cells)
        .map(|(column, cell)| (column["name"].as_str().unwrap().to_string(), cell.clone()))
        .collect()
}

#[tokio::test]
async fn an_image_with_its_tag_runs_as_written_and_status_shows_the_tag() {
    let (client, ns) = operator(&[]).await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // (name, spec) → (image the pod runs, Image and Tag columns)
    let cases = [
        (
            "quick-start",
            "{image: 'ghcr.io/my-org/my-mcp-tools:latest'}",
            (
                "ghcr.io/my-org/my-mcp-tools:latest",
                "ghcr.io/my-org/my-mcp-tools",
                "latest",
            ),
        ),
        (
            "pinned",
            "{image: 'registry.local:5000/acme/tools@sha256:0123abcd'}",
            (
                "registry.local:5000/acme/tools@sha256:0123abcd",
                "registry.local:5000/acme/tools",
                "sha256:0123abcd",
            ),
        ),
        (
            "split",
            "{image: 'registry.local:5000/acme/tools', tag: '1.4'}",
            (
                "registry.local:5000/acme/tools:1.4",
                "registry.local:5000/acme/tools",
                "1.4",
            ),
        ),
        (
            "untagged",
            "{image: ghcr.io/acme/tools}",
            ("ghcr.io/acme/tools:latest", "ghcr.io/acme/tools", "latest"),
        ),
    ];
    for (name, spec, _) in &cases {
        create_server(
            &client,
            &ns,
            &format!("metadata: {{name: {name}}}\nspec: {spec}"),
        )
        .await;
    }
    for (name, _, (reference, repository, tag)) in cases {
        let deployment = eventually("the Deployment", || async {
            deployments.get_opt(name).await.unwrap()
        })
        .await;
        let pod = deployment.spec.unwrap().template.spec.unwrap();
        assert_eq!(
            pod.containers[0].image.as_deref(),
            Some(reference),
            "{name}"
        );
        let status = eventually("status.tag", || async {
            servers
                .get(name)
                .await
                .unwrap()
                .status
                .filter(|s| s.tag.is_some())
        })
        .await;
        assert_eq!(
            (status.image.as_deref(), status.tag.as_deref()),
            (Some(repository), Some(tag)),
            "{name}"
        );
        let row = table_row(&client, &ns, name).await;
        let column = |wanted: &str| {
            row.iter()
                .find(|(column, _)| column == wanted)
                .map(|(_, cell)| cell.clone())
        };
        assert_eq!(column("Image"), Some(json!(repository)), "{name}: {row:?}");
        assert_eq!(column("Tag"), Some(json!(tag)), "{name}: {row:?}");
    }
}
