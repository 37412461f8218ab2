//! Every field without a Hangar equivalent is reported, per object, with its
//! path: on stderr's summary and in a comment above the object. One test per
//! source API, one for fields no mapping has heard of, `--strict`, and the
//! objects that cannot be converted at all.

use hangar_convert::{Conversion, ConvertError, output};
use hangar_manifests::parse_documents;

fn convert(yaml: &str) -> Conversion {
    let documents = parse_documents(yaml, "input.yaml").unwrap();
    hangar_convert::convert(&documents).unwrap_or_else(|e| panic!("{e}"))
}

fn error(yaml: &str) -> String {
    let documents = parse_documents(yaml, "input.yaml").unwrap();
    match hangar_convert::convert(&documents) {
        Ok(conversion) => panic!(
            "converted, expected an error:\n{}",
            output::yaml(&conversion).unwrap()
        ),
        Err(error) => error.to_string(),
    }
}

/// The paths reported for the one object of `yaml`, checked to appear in the
/// summary and in the comment above the object, each with a reason.
fn unmapped(yaml: &str) -> Vec<String> {
    let conversion = convert(yaml);
    assert_eq!(conversion.items.len(), 1);
    let item = &conversion.items[0];
    let summary = output::summary(&conversion);
    let written = output::yaml(&conversion).unwrap();
    for unmapped in &item.unmapped {
        assert!(
            !unmapped.reason.is_empty(),
            "{} has no reason",
            unmapped.path
        );
        let line = format!("{}: {}", unmapped.path, unmapped.reason);
        assert!(
            summary.contains(&format!("not carried over: {line}")),
            "summary lacks {line}:\n{summary}"
        );
        assert!(
            written.contains(&format!("#   {line}")),
            "the comment lacks {line}:\n{written}"
        );
    }
    // The comment sits above the object, in the same document.
    if !item.unmapped.is_empty() && item.object.is_some() {
        let comment = written.find("# Not carried over").unwrap();
        assert!(comment < written.find("apiVersion:").unwrap(), "{written}");
    }
    item.unmapped.iter().map(|u| u.path.clone()).collect()
}

#[test]
fn mcp_hangar_provider_fields_without_equivalent() {
    let paths = unmapped(
        "
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPProvider
metadata: {name: p}
spec:
  mode: container
  image: ghcr.io/a/b:1
  workingDir: /work
  shutdownGracePeriod: 1m
  priorityClassName: high
  healthCheck: {successThreshold: 2}
  circuitBreaker: {halfOpenRequests: 3, successThreshold: 1}
  tools: {allowList: [a], rateLimit: {requestsPerMinute: 60}}
  observability: {tracing: {enabled: true}}
  capabilities: {enforcementMode: block}
",
    );
    assert_eq!(
        paths,
        [
            "spec.workingDir",
            "spec.shutdownGracePeriod",
            "spec.healthCheck.successThreshold",
            "spec.circuitBreaker.halfOpenRequests",
            "spec.priorityClassName",
            "spec.tools.allowList",
            "spec.tools.rateLimit",
            "spec.observability",
            "spec.capabilities",
        ]
    );
}

#[test]
fn mcp_hangar_group_and_discovery_fields_without_equivalent() {
    let group = unmapped(
        "
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPProviderGroup
metadata: {name: g}
spec:
  selector: {matchLabels: {a: b}}
  strategy: Weighted
  failover: {retryDelay: 1s, retryOn: [timeout]}
  healthPolicy: {minHealthyCount: 2, unhealthyThreshold: 3}
  sessionAffinity: {enabled: true, type: Header, header: X-User}
  circuitBreaker: {enabled: false, failureThreshold: 10}
",
    );
    assert_eq!(
        group,
        [
            "spec.strategy",
            "spec.failover.retryDelay",
            "spec.failover.retryOn",
            "spec.healthPolicy.minHealthyCount",
            "spec.sessionAffinity",
        ]
    );
    let discovery = unmapped(
        "
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPDiscoverySource
metadata: {name: d}
spec:
  type: ConfigMap
  paused: true
  configMapRef: {name: providers, namespace: elsewhere}
  providerTemplate: {spec: {image: x, healthCheck: {interval: 1m}}}
  filters: {maxProviders: 3}
",
    );
    assert_eq!(
        discovery,
        [
            "spec.paused",
            "spec.configMapRef.namespace",
            "spec.providerTemplate.spec.image",
            "spec.filters",
        ]
    );
}

#[test]
fn mcp_io_fields_without_equivalent() {
    let paths = unmapped(
        "
apiVersion: mcp.io/v1
kind: MCPServer
metadata: {name: s}
spec:
  image: mcp-server-git
  registry: {name: io.github.acme/git, registry: default}
  ports: [{name: metrics, port: 9090}]
  istio: {enabled: true}
  autoscaling:
    hpa: {enabled: true, maxReplicas: 3, targetMemoryUtilizationPercentage: 80}
",
    );
    assert_eq!(
        paths,
        [
            "spec.autoscaling.hpa.targetMemoryUtilizationPercentage",
            "spec.registry",
            "spec.ports",
            "spec.istio",
        ]
    );
}

#[test]
fn the_mcp_io_repository_form_reads_its_runtime_block() {
    let conversion = convert(
        "
apiVersion: mcp.allbeone.io/v1
kind: MCPServer
metadata: {name: fs}
spec:
  runtime: {type: stdio, image: 'node:22', command: [npx, -y, fs-server], port: 8081, env: {B: '2', A: '1'}}
  environment: {C: '3'}
  serviceAccount: fs
",
    );
    let item = &conversion.items[0];
    assert!(item.unmapped.is_empty(), "{:?}", item.unmapped);
    let spec = &item.object.as_ref().unwrap()["spec"];
    assert_eq!(spec["transport"], "stdio");
    assert_eq!(
        (spec["image"].as_str(), spec["tag"].as_str()),
        (Some("node"), Some("22"))
    );
    assert_eq!(spec["command"][2], "fs-server");
    assert_eq!(spec["port"], 8081);
    let env: Vec<&str> = spec["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["A", "B", "C"]);
    assert_eq!(spec["serviceAccountName"], "fs");
}

#[test]
fn mcp_example_fields_without_equivalent() {
    let paths = unmapped(
        "
apiVersion: mcp.example.com/v1
kind: MCPServer
metadata: {name: gw}
spec:
  image: ghcr.io/example/kube-mcp:1
  toolSelector: {matchLabels: {gateway: gw}}
  logLevel: debug
",
    );
    assert_eq!(paths, ["spec.image", "spec.logLevel"]);
}

#[test]
fn toolhive_fields_without_equivalent() {
    let server = unmapped(
        "
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {name: fetch}
spec:
  image: ghcr.io/stackloklabs/gofetch/server
  transport: streamable-http
  permissionProfile: {type: builtin, name: network}
  oidcConfigRef: {name: idp, audience: fetch}
  toolConfigRef: {name: only-fetch}
  telemetryConfigRef: {name: otel}
  sessionAffinity: ClientIP
  rateLimiting: {shared: {maxTokens: 10}}
  podTemplateSpec:
    metadata: {labels: {a: b}}
    spec:
      priorityClassName: high
      containers:
        - {name: mcp, resources: {limits: {cpu: 200m}}}
        - {name: sidecar, image: busybox}
",
    );
    assert_eq!(
        server,
        [
            "spec.permissionProfile",
            "spec.podTemplateSpec.metadata",
            "spec.podTemplateSpec.spec.containers[1]",
            "spec.podTemplateSpec.spec.priorityClassName",
            "spec.sessionAffinity",
            "spec.oidcConfigRef",
            "spec.toolConfigRef",
            "spec.telemetryConfigRef",
            "spec.rateLimiting",
        ]
    );
    let proxy = unmapped(
        "
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPRemoteProxy
metadata: {name: remote}
spec:
  remoteUrl: https://mcp.example.com/mcp
  proxyPort: 8080
  externalAuthConfigRef: {name: exchange}
  audit: {enabled: true}
",
    );
    assert_eq!(
        proxy,
        ["spec.proxyPort", "spec.externalAuthConfigRef", "spec.audit"]
    );
}

#[test]
fn toolhive_virtual_server_fields_without_equivalent() {
    let conversion = convert(
        "
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPOIDCConfig
metadata: {name: idp, namespace: ns}
spec:
  type: inline
  inline: {issuer: 'https://idp.example.com', introspectionUrl: 'https://idp.example.com/introspect'}
---
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {name: vmcp, namespace: ns}
spec:
  groupRef: {name: team}
  incomingAuth:
    type: oidc
    oidcConfigRef: {name: idp, audience: vmcp}
    authzConfig:
      type: inline
      inline: {policies: ['permit(principal, action == Action::\"tools/call\", resource);']}
  outgoingAuth: {source: inline}
  config:
    aggregation: {conflictResolution: priority, conflictResolutionConfig: {priorityOrder: [a, b]}}
    compositeTools: [{name: both, steps: []}]
",
    );
    let gateway = &conversion.items[1];
    let paths: Vec<&str> = gateway.unmapped.iter().map(|u| u.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "(MCPOIDCConfig idp).spec.inline.introspectionUrl",
            "spec.incomingAuth.authzConfig",
            "spec.outgoingAuth.source",
            "spec.config.aggregation.conflictResolutionConfig.priorityOrder",
            "spec.config.compositeTools",
        ]
    );
    // Policies it cannot express make the gateway deny everyone, never allow everyone.
    let auth = &gateway.object.as_ref().unwrap()["spec"]["auth"];
    assert_eq!(auth["authorization"]["default"], "Deny");
    assert_eq!(auth["oidc"]["issuer"], "https://idp.example.com");
    let naming = &gateway.object.as_ref().unwrap()["spec"]["toolNaming"];
    assert_eq!(naming["onConflict"], "KeepFirst");
}

#[test]
fn kmcp_fields_without_equivalent() {
    let paths = unmapped(
        "
apiVersion: kagent.dev/v1alpha1
kind: MCPServer
metadata: {name: k}
spec:
  transportType: stdio
  deployment:
    image: ghcr.io/acme/tool:1
    cmd: tool
    imagePullPolicy: Always
    sidecars: [{name: proxy, image: envoy}]
    labels: {team: a}
    serviceAccount: {annotations: {eks.amazonaws.com/role-arn: x}}
    initContainer: {image: custom}
  timeout: 45s
",
    );
    assert_eq!(
        paths,
        [
            "spec.deployment.imagePullPolicy",
            "spec.deployment.initContainer",
            "spec.deployment.serviceAccount",
            "spec.deployment.sidecars",
            "spec.deployment.labels",
            "spec.timeout",
        ]
    );
}

#[test]
fn mcp_lifecycle_fields_without_equivalent() {
    let paths = unmapped(
        "
apiVersion: mcp.x-k8s.io/v1alpha1
kind: MCPServer
metadata: {name: l}
spec:
  extraLabels: {team: a}
  source: {type: ContainerImage, containerImage: {ref: 'quay.io/a/b:1', pullPolicy: Always}}
  config: {port: 8080}
  runtime: {health: {livenessProbe: {tcpSocket: {port: 8080}}}}
  network: {ingressFrom: [{podSelector: {}}]}
  gateway: {provider: httproute}
",
    );
    assert_eq!(
        paths,
        [
            "spec.source.containerImage.pullPolicy",
            "spec.runtime.health.livenessProbe",
            "spec.extraLabels",
            "spec.network",
            "spec.gateway",
        ]
    );
}

#[test]
fn a_field_no_mapping_knows_is_reported_not_dropped() {
    let paths = unmapped(
        "
apiVersion: toolhive.stacklok.dev/v1alpha1
kind: MCPServer
metadata: {name: future}
spec:
  image: ghcr.io/a/b
  transport: sse
  brandNewField: {enabled: true}
  resources: {requests: {cpu: 10m}}
",
    );
    assert_eq!(paths, ["spec.brandNewField"]);
}

#[test]
fn strict_makes_any_field_without_equivalent_an_error() {
    let conversion = convert(
        "
apiVersion: kagent.dev/v1alpha1
kind: MCPServer
metadata: {name: k}
spec: {transportType: http, httpTransport: {targetPort: 8000}, deployment: {image: a/b, port: 8000}, timeout: 30s}
",
    );
    match conversion.check_strict() {
        Err(ConvertError::Strict { fields, objects }) => assert_eq!((fields, objects), (1, 1)),
        other => panic!("expected a strict error, got {other:?}"),
    }
    let clean = convert(
        "apiVersion: kagent.dev/v1alpha1\nkind: MCPServer\nmetadata: {name: k}\nspec: {transportType: http, httpTransport: {targetPort: 8000}, deployment: {image: a/b, port: 8000}}\n",
    );
    clean.check_strict().unwrap();
}

#[test]
fn what_cannot_be_converted_is_an_error_naming_the_fix() {
    // ToolHive's own github example: the stdio bridge needs the command the image runs.
    let message = error(
        "
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata: {name: github, namespace: toolhive-system}
spec: {image: ghcr.io/github/github-mcp-server, transport: stdio, proxyPort: 8080}
",
    );
    assert!(
        message.contains(
            "input.yaml, document 1: toolhive.stacklok.dev/v1beta1 MCPServer toolhive-system/github"
        ) && message.contains("spec.podTemplateSpec.spec.containers"),
        "{message}"
    );

    // An authenticated VirtualMCPServer never becomes an open gateway.
    let message = error(
        "
apiVersion: toolhive.stacklok.dev/v1beta1
kind: VirtualMCPServer
metadata: {name: vmcp}
spec: {groupRef: {name: g}, incomingAuth: {type: oidc, oidcConfigRef: {name: idp, audience: a}}}
",
    );
    assert!(
        message.contains("MCPOIDCConfig \"idp\", which is not in the input"),
        "{message}"
    );

    // Two sources that become one Hangar object.
    let message = error(
        "
apiVersion: kagent.dev/v1alpha1
kind: MCPServer
metadata: {name: same}
spec: {transportType: stdio, deployment: {cmd: npx, args: [x]}}
---
apiVersion: mcp.x-k8s.io/v1alpha1
kind: MCPServer
metadata: {name: same}
spec: {source: {containerImage: {ref: 'a/b:1'}}, config: {port: 80}}
",
    );
    assert!(message.contains("becomes MCPServer \"same\""), "{message}");

    // A server whose image its operator took from a registry.
    let message = error(
        "apiVersion: mcp.allbeone.io/v1\nkind: MCPServer\nmetadata: {name: r}\nspec: {registry: {serverName: io.github.a/b}}\n",
    );
    assert!(message.contains("spec.image is required"), "{message}");

    // Wrong types name the field; all failing objects are listed.
    let message = error(
        "
apiVersion: mcp.io/v1
kind: MCPServer
metadata: {name: a}
spec: {image: x, replicas: two}
---
apiVersion: mcp.io/v1
kind: MCPServer
metadata: {name: b}
spec: {image: x, port: [80]}
",
    );
    assert!(
        message.contains("2 object(s) cannot be converted")
            && message.contains("spec.replicas must be an integer")
            && message.contains("spec.port must be an integer"),
        "{message}"
    );
}

#[test]
fn other_objects_are_copied_unchanged() {
    let conversion = convert(
        "
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {token: x}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: mine}
spec: {image: x}
",
    );
    assert_eq!(conversion.unmapped_count(), 0);
    let written = output::yaml(&conversion).unwrap();
    assert!(
        written.contains("# Not an MCP resource (input.yaml, document 1)"),
        "{written}"
    );
    assert!(written.contains("stringData:\n  token: x"), "{written}");
    assert!(
        written.contains("# Already mcp-hangar.io/v1alpha1"),
        "{written}"
    );
}
