use hangar_compile::in_cluster_url;

use super::*;

fn server(yaml: &str) -> MCPServer {
    let text = format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\n{yaml}");
    hangar_manifests::parse(&text, "test.yaml")
        .unwrap()
        .servers
        .remove(0)
}

/// Builds with the replica count the spec asks for.
fn build_now(server: &MCPServer, settings: &BuildSettings) -> Result<ServerObjects, InvalidSpec> {
    Ok(build(validate(server)?, server.spec.replicas, settings))
}

fn settings() -> BuildSettings {
    BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
        ..BuildSettings::default()
    }
}

#[test]
fn minimal_server_runs_restricted_with_default_resources() {
    let objects = build_now(
        &server("metadata: {name: tools, namespace: team}\nspec: {image: ghcr.io/acme/tools}"),
        &settings(),
    )
    .unwrap();
    assert!(
        objects.config_map.is_none() && objects.ingress.is_none() && objects.autoscaler.is_none()
    );
    insta::assert_yaml_snapshot!("minimal_deployment", objects.deployment);
    insta::assert_yaml_snapshot!("minimal_service", objects.service);
}

#[test]
fn every_spec_field_is_carried_through() {
    let objects = build_now(
        &server(
            r#"
metadata: {name: search, namespace: team}
spec:
  image: registry.local:5000/acme/search
  tag: sha256:0123456789abcdef
  command: [python, -m, search_mcp]
  args: [--index, /data/index]
  env:
    - {name: LOG_LEVEL, value: debug}
    - name: API_KEY
      valueFrom: {secretKeyRef: {name: search-secrets, key: api-key}}
  envFrom:
    - configMapRef: {name: search-env}
  port: 9000
  path: /rpc
  replicas: 3
  resources:
    requests: {cpu: 250m, memory: 256Mi}
    limits: {memory: 1Gi}
  serviceType: NodePort
  nodeSelector: {disktype: ssd}
  tolerations:
    - {key: mcp-servers, operator: Equal, value: "true", effect: NoSchedule}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            labelSelector: {matchLabels: {mcp-hangar.io/server: search}}
            topologyKey: kubernetes.io/hostname
  serviceAccountName: search
  imagePullSecrets: [{name: registry-credentials}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: search-index}
  volumeMounts:
    - {name: data, mountPath: /data, readOnly: true}
  config:
    files: {settings.json: '{"shards": 4}'}
  ingress:
    host: search.example.com
    className: nginx
    tlsSecretName: search-tls
    annotations: {nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"}
  autoscaling: {minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70}
"#,
        ),
        &settings(),
    )
    .unwrap();
    insta::assert_yaml_snapshot!("full", objects);
}

#[test]
fn stdio_servers_run_behind_the_bridge() {
    let objects = build_now(
        &server(
            "metadata: {name: everything, namespace: team}\nspec: {image: node, tag: 22-alpine, transport: stdio, command: [npx, -y, '@modelcontextprotocol/server-everything'], args: [stdio]}",
        ),
        &settings(),
    )
    .unwrap();
    let pod = objects
        .deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    insta::assert_yaml_snapshot!("stdio_pod", pod);
}

#[test]
fn remote_servers_have_no_workload() {
    let remote = server(
        "metadata: {name: github}\nspec: {mode: remote, endpoint: 'https://api.githubcopilot.com/mcp/'}",
    );
    assert_eq!(
        build_now(&remote, &settings()).unwrap(),
        ServerObjects::default()
    );
    assert_eq!(
        in_cluster_url(&remote).as_deref(),
        Some("https://api.githubcopilot.com/mcp/")
    );
}

#[test]
fn the_url_is_the_service_address() {
    let server = server(
        "metadata: {name: tools, namespace: team}\nspec: {image: x, port: 9000, path: /rpc}",
    );
    assert_eq!(
        in_cluster_url(&server).as_deref(),
        Some("http://tools.team.svc:9000/rpc")
    );
}

#[test]
fn a_config_change_changes_the_pod_template() {
    let with = |content: &str| {
        let yaml = format!(
            "metadata: {{name: s}}\nspec: {{image: x, config: {{files: {{a.json: '{content}'}}}}}}"
        );
        let deployment = build_now(&server(&yaml), &settings())
            .unwrap()
            .deployment
            .unwrap();
        deployment
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()[CONFIG_HASH_ANNOTATION]
            .clone()
    };
    assert_ne!(with("1"), with("2"));
    assert_eq!(with("1"), with("1"));
}

#[test]
fn specs_that_cannot_run_are_explained() {
    let cases = [
        (
            "spec: {registry: {name: r, server: io.x/y}}",
            "spec.image is required in container mode",
        ),
        (
            "spec: {image: x, volumeMounts: [{name: data, mountPath: /d}]}",
            "spec.volumeMounts[0] mounts volume \"data\", which is not in spec.volumes",
        ),
        (
            "spec: {image: x, volumes: [{name: hangar-tmp, emptyDir: {}}]}",
            "spec.volumes[0] is named \"hangar-tmp\", which Hangar reserves for its own volumes",
        ),
    ];
    for (spec, message) in cases {
        let error = build_now(
            &server(&format!("metadata: {{name: s}}\n{spec}")),
            &settings(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn an_autoscaler_owns_the_replica_count() {
    let objects = build_now(
        &server(
            "metadata: {name: s}\nspec: {image: x, replicas: 4, autoscaling: {maxReplicas: 5}}",
        ),
        &settings(),
    )
    .unwrap();
    assert_eq!(objects.deployment.unwrap().spec.unwrap().replicas, None);
    let hpa = objects.autoscaler.unwrap().spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(1), 5));
}

#[test]
fn scaled_to_zero_there_is_no_autoscaler() {
    let server =
        server("metadata: {name: s}\nspec: {image: x, replicas: 0, autoscaling: {maxReplicas: 5}}");
    let idle = build(validate(&server).unwrap(), 0, &settings());
    assert_eq!(idle.deployment.unwrap().spec.unwrap().replicas, Some(0));
    assert!(idle.autoscaler.is_none());
    let woken = build(validate(&server).unwrap(), 1, &settings());
    assert_eq!(
        woken.deployment.unwrap().spec.unwrap().replicas,
        None,
        "the autoscaler takes over once woken"
    );
    assert!(woken.autoscaler.is_some());
}

#[test]
fn the_network_policy_admits_the_operator_and_what_spec_network_adds() {
    let settings = BuildSettings {
        operator_namespace: Some("hangar-system".into()),
        ..settings()
    };
    let minimal = build_now(
        &server("metadata: {name: tools, namespace: team}\nspec: {image: ghcr.io/acme/tools}"),
        &settings,
    )
    .unwrap();
    let policy = minimal.network_policy.unwrap().spec.unwrap();
    assert_eq!(
        policy.policy_types.as_deref(),
        Some(&["Ingress".to_string()][..])
    );
    assert!(
        policy.egress.is_none(),
        "egress is not limited unless declared"
    );
    let ingress = policy.ingress.unwrap();
    assert_eq!(ingress.len(), 1, "only the operator's health checks");
    let from = &ingress[0].from.as_ref().unwrap()[0];
    assert_eq!(
        from.namespace_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["kubernetes.io/metadata.name"],
        "hangar-system"
    );

    let profiled = build_now(
        &server(
            r#"
metadata: {name: search, namespace: team}
spec:
  image: ghcr.io/acme/search
  port: 9000
  network:
    ingress:
      - from: [{namespaceSelector: {matchLabels: {team: data}}, podSelector: {matchLabels: {app: notebook}}}]
        ports: [{port: 9000}]
    egress:
      - to: [{ipBlock: {cidr: 10.20.0.0/16}}]
        ports: [{port: 5432, protocol: TCP}]
"#,
        ),
        &settings,
    )
    .unwrap();
    insta::assert_yaml_snapshot!("network_policy", profiled.network_policy);

    let open = build_now(
        &server(
            "metadata: {name: open, namespace: team}\nspec: {image: x, network: {policies: false}}",
        ),
        &settings,
    )
    .unwrap();
    assert!(open.network_policy.is_none());
    let remote = build_now(
        &server("metadata: {name: r, namespace: team}\nspec: {mode: remote, endpoint: 'https://x.example/mcp'}"),
        &settings,
    )
    .unwrap();
    assert!(
        remote.network_policy.is_none(),
        "nothing runs in the cluster"
    );
}
