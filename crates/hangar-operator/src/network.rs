//! NetworkPolicies, pure builders: who may reach the pods Hangar runs, and
//! where they may connect. An MCPServer's pods admit the operator's health
//! checks (and the peers `spec.network.ingress` adds); each gateway adds
//! itself to the servers it federates and to its managed Redis, so only the
//! gateways that select a server reach it. NetworkPolicies only add allowed
//! traffic: a pod any policy selects accepts what some policy allows.

use std::collections::BTreeMap;

use hangar_api::NetworkSpec;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Labels of the operator's pods in both install methods (the chart and the
/// Kustomize base): its health checks come from them.
pub const OPERATOR_POD_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/component", "operator"),
    ("app.kubernetes.io/part-of", "hangar"),
];

/// Where a namespace's own name is, on every namespace.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// The operator's pods: in `namespace` when known, else in any namespace.
fn operator_peer(namespace: Option<&str>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match namespace {
            Some(namespace) => selector(labels(&[(NAMESPACE_NAME_LABEL, namespace)])),
            None => LabelSelector::default(),
        }),
        pod_selector: Some(selector(labels(&OPERATOR_POD_LABELS))),
        ..Default::default()
    }
}

/// Lookups to the cluster DNS (any pod of `kube-system`, port 53).
fn dns() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(selector(labels(&[(NAMESPACE_NAME_LABEL, "kube-system")]))),
            ..Default::default()
        }]),
        ports: Some(
            ["UDP", "TCP"]
                .map(|protocol| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(protocol.into()),
                    ..Default::default()
                })
                .to_vec(),
        ),
    }
}

/// Egress as `network` declares it, plus what the pods must always reach.
fn egress(
    network: &NetworkSpec,
    always: Vec<NetworkPolicyEgressRule>,
) -> Option<Vec<NetworkPolicyEgressRule>> {
    let declared = network.egress.as_ref()?;
    let mut rules = declared.clone();
    if network.dns {
        rules.push(dns());
    }
    rules.extend(always);
    Some(rules)
}

fn policy(
    metadata: ObjectMeta,
    pods: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = vec!["Ingress".to_string()];
    if egress.is_some() {
        types.push("Egress".into());
    }
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods),
            policy_types: Some(types),
            ingress: Some(ingress),
            egress,
        }),
    }
}

/// An MCPServer's pods (selected by `pods`): its MCP `port` admits the
/// operator's health checks, then what `network.ingress` adds; gateways add
/// themselves ([`federated_servers`]).
pub fn server(
    metadata: ObjectMeta,
    pods: BTreeMap<String, String>,
    port: i32,
    network: &NetworkSpec,
    operator_namespace: Option<&str>,
) -> Option<NetworkPolicy> {
    if !network.policies {
        return None;
    }
    let mut ingress = vec![NetworkPolicyIngressRule {
        from: Some(vec![operator_peer(operator_namespace)]),
        ports: Some(vec![tcp(port)]),
    }];
    ingress.extend(network.ingress.iter().cloned());
    Some(policy(
        metadata,
        selector(pods),
        ingress,
        egress(network, Vec::new()),
    ))
}

/// A gateway's pods (selected by `pods`): clients on its `port` from
/// anywhere, or only the peers `network.ingress` names. With declared egress,
/// its servers' and its Redis's pods stay reachable.
pub fn gateway(
    metadata: ObjectMeta,
    pods: BTreeMap<String, String>,
    port: i32,
    network: &NetworkSpec,
    reaches: Vec<NetworkPolicyEgressRule>,
) -> Option<NetworkPolicy> {
    if !network.policies {
        return None;
    }
    let ingress = if network.ingress.is_empty() {
        vec![NetworkPolicyIngressRule {
            from: None,
            ports: Some(vec![tcp(port)]),
        }]
    } else {
        network.ingress.clone()
    };
    Some(policy(
        metadata,
        selector(pods),
        ingress,
        egress(network, reaches),
    ))
}

/// Admits the gateway's pods (`gateway_pods`) to the pods of the container
/// MCPServers it federates (`server_key` naming each server's pods).
pub fn federated_servers(
    metadata: ObjectMeta,
    server_key: &str,
    servers: &[String],
    gateway_pods: BTreeMap<String, String>,
) -> Option<NetworkPolicy> {
    if servers.is_empty() {
        return None;
    }
    let pods = servers_selector(server_key, servers);
    let ingress = vec![NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(selector(gateway_pods)),
            ..Default::default()
        }]),
        ports: None,
    }];
    Some(policy(metadata, pods, ingress, None))
}

/// The pods of the servers named `servers` (`server_key` naming each server's pods).
pub fn servers_selector(server_key: &str, servers: &[String]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: server_key.into(),
            operator: "In".into(),
            values: Some(servers.to_vec()),
        }]),
        ..Default::default()
    }
}

/// Pods selected by these labels.
pub fn pods(labels: BTreeMap<String, String>) -> LabelSelector {
    selector(labels)
}

/// The egress rule to `pods` (in the same namespace), on `port` or any.
pub fn to_pods(pods: LabelSelector, port: Option<i32>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(pods),
            ..Default::default()
        }]),
        ports: port.map(|port| vec![tcp(port)]),
    }
}

/// A managed Redis's pods (`pods`): only the gateway's pods, on `port`; no egress.
pub fn redis(
    metadata: ObjectMeta,
    pods: BTreeMap<String, String>,
    port: i32,
    gateway_pods: BTreeMap<String, String>,
) -> NetworkPolicy {
    let ingress = vec![NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(selector(gateway_pods)),
            ..Default::default()
        }]),
        ports: Some(vec![tcp(port)]),
    }];
    policy(metadata, selector(pods), ingress, Some(Vec::new()))
}
