//! Pure builders: an MCPGateway and its compiled config in, the Kubernetes
//! objects that serve it out. Shared by the reconciler and `hangar render`.

use std::collections::BTreeMap;

use hangar_api::{MCPGateway, MCPServer, RedisSpec};
use hangar_compile::{
    Compiled, MANAGED_REDIS_PASSWORD_KEY, REDIS_CA_KEY, activity_lease_name, managed_redis_name,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, KeyToPath,
    ObjectFieldSelector, PodSpec, PodTemplateSpec, Secret, SecretKeySelector, SecretVolumeSource,
    Service, ServiceAccount, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::children::{ChildKind, document, documents};
use crate::labels::{
    ACTIVITY_LABEL, HANGAR_BINARY, INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, SERVER_LABEL,
};
use crate::network;
use crate::server::build::BuildSettings;
use crate::workload::{
    self, NON_ROOT_ID, drain_before_stop, empty_dir, http_probe, mount, non_empty, resources,
    restricted_container_security_context, restricted_pod_security_context, tcp_probe,
};

/// Label naming the MCPGateway a pod belongs to; also its pod selector.
pub const GATEWAY_LABEL: &str = "mcp-hangar.io/gateway";
/// Label naming the MCPGateway a managed Redis belongs to.
pub const REDIS_LABEL: &str = "mcp-hangar.io/gateway-redis";
/// The key of the gateway config in its ConfigMap.
pub const CONFIG_KEY: &str = "gateway.yaml";
/// Where the gateway reads its config. The whole directory is mounted (not a
/// subPath) so the kubelet's in-place ConfigMap updates reach the pods.
pub const CONFIG_DIR: &str = "/etc/hangar/gateway";
/// Environment variable carrying the Redis URL into the gateway.
pub const REDIS_URL_ENV: &str = hangar_config::REDIS_URL_ENV;
/// The image of a managed Redis.
pub const REDIS_IMAGE: &str = "redis:7.4-alpine";
const REDIS_PORT: i32 = 6379;
/// The `redis` user of the official Redis images.
const REDIS_USER: i64 = 999;
const HTTP_PORT_NAME: &str = "http";

/// Everything an MCPGateway needs; `None` means the object must not exist.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct GatewayObjects {
    pub config_map: Option<ConfigMap>,
    pub deployment: Option<Deployment>,
    pub service: Option<Service>,
    pub ingress: Option<Ingress>,
    pub disruption_budget: Option<PodDisruptionBudget>,
    pub redis_deployment: Option<Deployment>,
    pub redis_service: Option<Service>,
    /// Gateway pods always run as their own service account (so selecting a
    /// scale-to-zero server changes only RBAC and the config, never the pod
    /// template); its Role grants only what waking the MCPServers they serve
    /// with replicas: 0 needs: renewing exactly their activity Leases and
    /// reading (never changing) exactly those MCPServers. No rule at all
    /// when there is none.
    pub service_account: Option<ServiceAccount>,
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    /// One Lease per scale-to-zero MCPServer served, which the gateway renews
    /// while it sends calls there and the operator reads.
    pub activity_leases: Vec<Lease>,
    /// Who reaches the gateway's pods and where they connect (`spec.network`).
    pub network_policy: Option<NetworkPolicy>,
    /// Admits the gateway's pods to the container MCPServers it federates.
    pub servers_network_policy: Option<NetworkPolicy>,
    /// Admits only the gateway's pods to its managed Redis.
    pub redis_network_policy: Option<NetworkPolicy>,
}

impl GatewayObjects {
    /// Every kind this set can hold: watched, granted, and swept on deletion.
    pub const KINDS: &[ChildKind] = &[
        ChildKind::ConfigMap,
        ChildKind::Service,
        ChildKind::Deployment,
        ChildKind::Ingress,
        ChildKind::PodDisruptionBudget,
        ChildKind::ServiceAccount,
        ChildKind::Role,
        ChildKind::RoleBinding,
        ChildKind::Lease,
        ChildKind::NetworkPolicy,
    ];

    /// The objects as YAML documents: the gateway's own first, then its Redis.
    pub fn documents(&self) -> Vec<String> {
        let Self {
            config_map,
            deployment,
            service,
            ingress,
            disruption_budget,
            redis_deployment,
            redis_service,
            service_account,
            role,
            role_binding,
            activity_leases,
            network_policy,
            servers_network_policy,
            redis_network_policy,
        } = self;
        let mut out = Vec::new();
        document(&mut out, config_map);
        document(&mut out, service_account);
        document(&mut out, role);
        document(&mut out, role_binding);
        documents(&mut out, activity_leases);
        document(&mut out, network_policy);
        document(&mut out, servers_network_policy);
        document(&mut out, service);
        document(&mut out, deployment);
        document(&mut out, ingress);
        document(&mut out, disruption_budget);
        document(&mut out, redis_network_policy);
        document(&mut out, redis_service);
        document(&mut out, redis_deployment);
        out
    }
}

pub fn config_map_name(gateway: &str) -> String {
    format!("{gateway}-config")
}

/// The address of a managed Redis, as the gateway connects to it (the
/// password comes from the Secret, apart from the URL).
pub fn managed_redis_url(gateway: &str, namespace: &str, tls: bool) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    format!(
        "{scheme}://{}.{namespace}.svc:{REDIS_PORT}",
        managed_redis_name(gateway)
    )
}

/// The key of the managed Redis's Secret holding its config file (`requirepass`).
pub const REDIS_CONFIG_KEY: &str = "redis.conf";
/// Where the managed Redis reads its config file.
pub const REDIS_CONFIG_DIR: &str = "/etc/hangar-redis-config";
/// Where the managed Redis reads its certificate, key and CA (`spec.redis.tls`).
pub const REDIS_TLS_DIR: &str = "/etc/hangar-redis-tls";

/// The Secret of a managed Redis: the generated `password` the gateway
/// authenticates with, and the config file that makes Redis require it.
/// The operator creates it once and never rewrites it (a new password would
/// cut off the running pods); its owner reference lets Kubernetes delete it
/// with the gateway.
pub fn redis_secret(gateway: &MCPGateway, password: &str) -> Secret {
    let gateway_name = gateway.name_any();
    Secret {
        metadata: metadata(
            gateway,
            managed_redis_name(&gateway_name),
            redis_labels(&gateway_name),
        ),
        string_data: Some(BTreeMap::from([
            (MANAGED_REDIS_PASSWORD_KEY.to_string(), password.to_string()),
            (
                REDIS_CONFIG_KEY.to_string(),
                format!("requirepass {password}\n"),
            ),
        ])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// The gateway's MCP endpoint: its Ingress when it has one with a host, else its Service.
pub fn gateway_url(gateway: &MCPGateway) -> String {
    let name = gateway.name_any();
    let namespace = gateway.namespace().unwrap_or_else(|| "default".into());
    match &gateway.spec.ingress {
        Some(ingress) if ingress.host.is_some() => {
            let scheme = if ingress.tls_secret_name.is_some() {
                "https"
            } else {
                "http"
            };
            let base = ingress.path.trim_end_matches('/');
            format!(
                "{scheme}://{}{base}/mcp",
                ingress.host.as_deref().unwrap_or_default()
            )
        }
        _ => format!("http://{name}.{namespace}.svc:{}/mcp", gateway.spec.port),
    }
}

pub fn gateway_labels(name: &str) -> BTreeMap<String, String> {
    labels(name, GATEWAY_LABEL, "gateway")
}

fn redis_labels(name: &str) -> BTreeMap<String, String> {
    labels(name, REDIS_LABEL, "redis")
}

fn labels(name: &str, key: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (key.to_string(), name.to_string()),
        ("app.kubernetes.io/name".into(), format!("mcp-{component}")),
        (INSTANCE_LABEL.into(), name.into()),
        ("app.kubernetes.io/component".into(), component.into()),
        (MANAGED_BY_LABEL.into(), MANAGED_BY.into()),
        ("app.kubernetes.io/part-of".into(), "hangar".into()),
    ])
}

fn metadata(gateway: &MCPGateway, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: gateway.namespace(),
        labels: Some(labels),
        owner_references: gateway.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// Builds every object of a gateway serving `compiled`.
pub fn build(
    gateway: &MCPGateway,
    compiled: &Compiled,
    settings: &BuildSettings,
) -> GatewayObjects {
    let name = gateway.name_any();
    let managed_redis = gateway
        .spec
        .redis
        .as_ref()
        .is_some_and(|redis| redis.managed);
    let woken = woken_servers(gateway, compiled);
    GatewayObjects {
        config_map: Some(ConfigMap {
            metadata: metadata(gateway, config_map_name(&name), gateway_labels(&name)),
            data: Some(BTreeMap::from([(
                CONFIG_KEY.to_string(),
                compiled.config.to_yaml(),
            )])),
            ..Default::default()
        }),
        deployment: Some(deployment(gateway, compiled, settings)),
        service: Some(service(gateway)),
        ingress: ingress(gateway),
        // With one replica there is nothing to keep available during a drain.
        disruption_budget: (gateway.spec.replicas > 1).then(|| disruption_budget(gateway)),
        redis_deployment: managed_redis.then(|| redis_deployment(gateway)),
        redis_service: managed_redis.then(|| redis_service(gateway)),
        service_account: Some(ServiceAccount {
            metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
            ..Default::default()
        }),
        role: Some(Role {
            metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
            rules: Some(wake_rules(&woken, &name)),
        }),
        role_binding: Some(RoleBinding {
            metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: name.clone(),
                namespace: gateway.namespace(),
                ..Default::default()
            }]),
        }),
        activity_leases: woken
            .iter()
            .map(|server| activity_lease(gateway, server))
            .collect(),
        network_policy: gateway_network_policy(gateway, &compiled.workloads, managed_redis),
        servers_network_policy: network::federated_servers(
            metadata(gateway, servers_policy_name(&name), gateway_labels(&name)),
            SERVER_LABEL,
            &compiled.workloads,
            gateway_pod_selector(&name),
        ),
        redis_network_policy: managed_redis.then(|| {
            network::redis(
                metadata(gateway, managed_redis_name(&name), redis_labels(&name)),
                redis_pod_selector(&name),
                REDIS_PORT,
                gateway_pod_selector(&name),
            )
        }),
    }
}

/// The NetworkPolicy admitting a gateway to the servers it federates.
pub fn servers_policy_name(gateway: &str) -> String {
    format!("{gateway}-servers")
}

fn gateway_pod_selector(gateway: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(GATEWAY_LABEL.to_string(), gateway.to_string())])
}

fn redis_pod_selector(gateway: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(REDIS_LABEL.to_string(), gateway.to_string())])
}

/// The gateway pods' policy; with declared egress they still reach the
/// servers they federate and their managed Redis.
fn gateway_network_policy(
    gateway: &MCPGateway,
    servers: &[String],
    managed_redis: bool,
) -> Option<NetworkPolicy> {
    let name = gateway.name_any();
    let mut reaches = Vec::new();
    if !servers.is_empty() {
        reaches.push(network::to_pods(
            network::servers_selector(SERVER_LABEL, servers),
            None,
        ));
    }
    if managed_redis {
        reaches.push(network::to_pods(
            network::pods(redis_pod_selector(&name)),
            Some(REDIS_PORT),
        ));
    }
    network::gateway(
        metadata(gateway, name.clone(), gateway_labels(&name)),
        gateway_pod_selector(&name),
        gateway.spec.port,
        &gateway.spec.network,
        reaches,
    )
}

/// The Lease gateway `gateway` renews while it sends calls to `server`.
fn activity_lease(gateway: &MCPGateway, server: &str) -> Lease {
    let name = gateway.name_any();
    let mut labels = gateway_labels(&name);
    labels.insert(ACTIVITY_LABEL.into(), server.into());
    Lease {
        metadata: metadata(gateway, activity_lease_name(server, &name), labels),
        // Holder and renew time are the gateway's to write.
        spec: Some(LeaseSpec::default()),
    }
}

/// What the gateway's Role grants: for the scale-to-zero servers it wakes,
/// their Leases and reading them; nothing when it wakes none (a rule with no
/// resource names would grant every object of its kind).
fn wake_rules(woken: &[String], gateway: &str) -> Vec<PolicyRule> {
    if woken.is_empty() {
        return Vec::new();
    }
    vec![
        // Renewing its Leases records activity.
        PolicyRule {
            api_groups: Some(vec![Lease::group(&()).to_string()]),
            resources: Some(vec![Lease::plural(&()).to_string()]),
            verbs: vec!["get".into(), "patch".into()],
            resource_names: Some(
                woken
                    .iter()
                    .map(|server| activity_lease_name(server, gateway))
                    .collect(),
            ),
            ..Default::default()
        },
        // Reading the servers explains one that does not start; no write to
        // an MCPServer is granted, so its spec stays its author's.
        PolicyRule {
            api_groups: Some(vec![MCPServer::group(&()).to_string()]),
            resources: Some(vec![MCPServer::plural(&()).to_string()]),
            verbs: vec!["get".into()],
            resource_names: Some(woken.to_vec()),
            ..Default::default()
        },
    ]
}

/// The MCPServers of the gateway's namespace it wakes from zero replicas, by name.
fn woken_servers(gateway: &MCPGateway, compiled: &Compiled) -> Vec<String> {
    let namespace = gateway.namespace();
    let mut names: Vec<String> = compiled
        .config
        .servers
        .iter()
        .filter_map(|server| server.scale_to_zero.as_ref()?.mcp_server.as_ref())
        .filter(|object| Some(&object.namespace) == namespace.as_ref())
        .map(|object| object.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn deployment(gateway: &MCPGateway, compiled: &Compiled, settings: &BuildSettings) -> Deployment {
    let spec = &gateway.spec;
    let name = gateway.name_any();
    let namespace = gateway.namespace().unwrap_or_default();
    let mut env = vec![EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    // Secret values the config refers to by environment variable: the
    // ConfigMap itself never holds a secret.
    env.extend(compiled.secret_env.iter().map(|secret| EnvVar {
        name: secret.env.clone(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.secret.clone(),
                key: secret.key.clone(),
                optional: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }));
    if let Some(redis) = redis_env(spec.redis.as_ref(), &name, &namespace) {
        env.push(redis);
    }
    let container = Container {
        name: "gateway".into(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| settings.hangar_image.clone()),
        ),
        command: Some(vec![HANGAR_BINARY.into()]),
        args: Some(vec![
            "gateway".into(),
            "--config".into(),
            format!("{CONFIG_DIR}/{CONFIG_KEY}"),
            "--listen".into(),
            format!("0.0.0.0:{}", spec.port),
        ]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(HTTP_PORT_NAME.into()),
            container_port: spec.port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        resources: Some(
            spec.resources
                .clone()
                .unwrap_or_else(|| resources(("100m", "64Mi"), ("1", "256Mi"))),
        ),
        security_context: Some(restricted_container_security_context()),
        volume_mounts: Some(vec![mount("config", CONFIG_DIR, true)]),
        readiness_probe: Some(http_probe(HTTP_PORT_NAME, "/readyz", 5, 3)),
        liveness_probe: Some(http_probe(HTTP_PORT_NAME, "/healthz", 10, 3)),
        lifecycle: Some(drain_before_stop()),
        ..Default::default()
    };
    Deployment {
        metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(GATEWAY_LABEL.to_string(), name.clone())])),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(gateway_labels(&name)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(vec![Volume {
                        name: "config".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: config_map_name(&name),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    // Always its own account, whose Role holds what waking
                    // the servers it selects needs (maybe nothing): a new
                    // selection then changes the config and RBAC, not the pods.
                    service_account_name: Some(name.clone()),
                    automount_service_account_token: Some(true),
                    node_selector: (!spec.node_selector.is_empty())
                        .then(|| spec.node_selector.clone()),
                    tolerations: non_empty(&spec.tolerations),
                    affinity: spec.affinity.clone(),
                    security_context: Some(restricted_pod_security_context(NON_ROOT_ID)),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Redis URL for the gateway: managed, literal, or from a Secret.
fn redis_env(redis: Option<&RedisSpec>, gateway: &str, namespace: &str) -> Option<EnvVar> {
    let redis = redis?;
    let (value, value_from) = match (&redis.url, &redis.url_from) {
        _ if redis.managed => (
            Some(managed_redis_url(gateway, namespace, redis.tls.is_some())),
            None,
        ),
        (Some(url), _) => (Some(url.clone()), None),
        (None, Some(selector)) => (
            None,
            Some(EnvVarSource {
                secret_key_ref: Some(selector.clone()),
                ..Default::default()
            }),
        ),
        (None, None) => return None,
    };
    Some(EnvVar {
        name: REDIS_URL_ENV.into(),
        value,
        value_from,
    })
}

fn service(gateway: &MCPGateway) -> Service {
    let name = gateway.name_any();
    Service {
        metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
        spec: Some(ServiceSpec {
            type_: Some(gateway.spec.service_type.as_str().into()),
            selector: Some(BTreeMap::from([(GATEWAY_LABEL.to_string(), name)])),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT_NAME.into()),
                port: gateway.spec.port,
                target_port: Some(IntOrString::String(HTTP_PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ingress(gateway: &MCPGateway) -> Option<Ingress> {
    let spec = gateway.spec.ingress.as_ref()?;
    let name = gateway.name_any();
    Some(workload::ingress(
        metadata(gateway, name.clone(), gateway_labels(&name)),
        spec,
        &name,
        gateway.spec.port,
    ))
}

fn disruption_budget(gateway: &MCPGateway) -> PodDisruptionBudget {
    let name = gateway.name_any();
    PodDisruptionBudget {
        metadata: metadata(gateway, name.clone(), gateway_labels(&name)),
        spec: Some(PodDisruptionBudgetSpec {
            // Keep at least one gateway serving through voluntary disruptions.
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(GATEWAY_LABEL.to_string(), name)])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn redis_deployment(gateway: &MCPGateway) -> Deployment {
    let gateway_name = gateway.name_any();
    let name = managed_redis_name(&gateway_name);
    let tls = gateway.spec.redis.as_ref().and_then(|r| r.tls.as_ref());
    let mut mounts = vec![
        mount("data", "/data", false),
        mount("config", REDIS_CONFIG_DIR, true),
    ];
    let mut volumes = vec![
        empty_dir("data"),
        secret_volume("config", &name, &[REDIS_CONFIG_KEY]),
    ];
    if let Some(tls) = tls {
        mounts.push(mount("tls", REDIS_TLS_DIR, true));
        volumes.push(secret_volume(
            "tls",
            &tls.secret_name,
            &["tls.crt", "tls.key", REDIS_CA_KEY],
        ));
    }
    let container = Container {
        name: "redis".into(),
        image: Some(REDIS_IMAGE.into()),
        // The config file holds the generated password (never in the
        // arguments or environment); protected mode refuses connections
        // should it ever run without one. State is a cache and sessions:
        // nothing to persist across restarts.
        args: Some(redis_args(tls.is_some())),
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: REDIS_PORT,
            ..Default::default()
        }]),
        resources: Some(resources(("50m", "64Mi"), ("500m", "256Mi"))),
        security_context: Some(restricted_container_security_context()),
        volume_mounts: Some(mounts),
        readiness_probe: Some(tcp_probe("redis", 5, 3)),
        liveness_probe: Some(tcp_probe("redis", 20, 3)),
        ..Default::default()
    };
    Deployment {
        metadata: metadata(gateway, name.clone(), redis_labels(&gateway_name)),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    REDIS_LABEL.to_string(),
                    gateway_name.clone(),
                )])),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(redis_labels(&gateway_name)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    automount_service_account_token: Some(false),
                    security_context: Some(restricted_pod_security_context(REDIS_USER)),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The keys `keys` of Secret `secret` as files of a volume.
fn secret_volume(name: &str, secret: &str, keys: &[&str]) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items: Some(
                keys.iter()
                    .map(|key| KeyToPath {
                        key: key.to_string(),
                        path: key.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What the managed Redis runs: `redis-server` with its config file; with
/// `tls`, TLS only (no plain port) with the mounted certificate.
pub fn redis_args(tls: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "redis-server",
        &format!("{REDIS_CONFIG_DIR}/{REDIS_CONFIG_KEY}"),
        "--protected-mode",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .map(String::from)
    .to_vec();
    if tls {
        let file = |key: &str| format!("{REDIS_TLS_DIR}/{key}");
        args.extend([
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            REDIS_PORT.to_string(),
            "--tls-cert-file".into(),
            file("tls.crt"),
            "--tls-key-file".into(),
            file("tls.key"),
            "--tls-ca-cert-file".into(),
            file(REDIS_CA_KEY),
            // Clients prove themselves with the password, not a certificate.
            "--tls-auth-clients".into(),
            "no".into(),
        ]);
    }
    args
}

fn redis_service(gateway: &MCPGateway) -> Service {
    let gateway_name = gateway.name_any();
    Service {
        metadata: metadata(
            gateway,
            managed_redis_name(&gateway_name),
            redis_labels(&gateway_name),
        ),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(REDIS_LABEL.to_string(), gateway_name)])),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: REDIS_PORT,
                target_port: Some(IntOrString::String("redis".into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use hangar_compile::{Candidates, SecretDestinations, Target, compile};

    use super::*;

    fn objects(manifests: &str) -> GatewayObjects {
        let manifests = hangar_manifests::parse(manifests, "test").unwrap();
        let gateway = &manifests.gateways[0];
        let candidates = Candidates::in_namespace(&manifests, "team");
        let compiled = compile(
            &candidates.select(Some(gateway)),
            Target::Cluster {
                namespace: "team",
                secrets: &SecretDestinations::Unchecked,
            },
        );
        build(gateway, &compiled, &BuildSettings::default())
    }

    const GATEWAY: &str = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge, namespace: team, uid: u1}\nspec: {serverSelector: {}}\n";

    #[test]
    fn gateway_pods_get_api_rights_only_to_wake_cold_servers() {
        let warm = objects(&format!(
            "{GATEWAY}---\napiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: warm, namespace: team}}\nspec: {{image: x}}\n"
        ));
        assert_eq!(
            warm.role.as_ref().unwrap().rules,
            Some(vec![]),
            "no rule without a server to wake (one without resource names would grant all)"
        );
        assert_eq!(warm.role_binding.as_ref().unwrap().role_ref.name, "edge");
        assert!(warm.activity_leases.is_empty());
        let warm_pod = warm.deployment.unwrap().spec.unwrap().template;

        let cold = objects(&format!(
            "{GATEWAY}---\napiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: warm, namespace: team}}\nspec: {{image: x}}\n---\napiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: cold, namespace: team}}\nspec: {{image: x, replicas: 0}}\n"
        ));
        let rules = cold.role.unwrap().rules.unwrap();
        let granted: Vec<(String, String, Vec<String>, Vec<String>)> = rules
            .iter()
            .map(|rule| {
                (
                    rule.api_groups.clone().unwrap().join(","),
                    rule.resources.clone().unwrap().join(","),
                    rule.verbs.clone(),
                    rule.resource_names.clone().unwrap(),
                )
            })
            .collect();
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            granted,
            [
                (
                    "coordination.k8s.io".to_string(),
                    "leases".to_string(),
                    strings(&["get", "patch"]),
                    strings(&["cold.edge.activity"]),
                ),
                (
                    "mcp-hangar.io".to_string(),
                    "mcpservers".to_string(),
                    strings(&["get"]),
                    strings(&["cold"]),
                ),
            ],
            "its own Lease of that server, and reading that server only"
        );
        let lease = &cold.activity_leases[..];
        assert_eq!(lease.len(), 1);
        assert_eq!(
            lease[0].metadata.name.as_deref(),
            Some("cold.edge.activity")
        );
        assert_eq!(
            lease[0].metadata.labels.as_ref().unwrap()[ACTIVITY_LABEL],
            "cold"
        );
        let binding = cold.role_binding.unwrap();
        assert_eq!(binding.role_ref.name, "edge");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(
            (
                subject.kind.as_str(),
                subject.name.as_str(),
                subject.namespace.as_deref()
            ),
            ("ServiceAccount", "edge", Some("team"))
        );
        assert_eq!(
            cold.service_account.unwrap().metadata.name.as_deref(),
            Some("edge")
        );
        let cold_pod = cold.deployment.unwrap().spec.unwrap().template;
        assert_eq!(
            cold_pod, warm_pod,
            "selecting a cold server changes RBAC and the config, not the pods"
        );
        let pod = cold_pod.spec.unwrap();
        assert_eq!(pod.automount_service_account_token, Some(true));
        assert_eq!(pod.service_account_name.as_deref(), Some("edge"));
    }

    #[test]
    fn a_gateway_reaches_its_container_servers_and_only_it_reaches_its_redis() {
        let built = objects(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge, namespace: team, uid: u1}\n\
             spec: {serverSelector: {}, redis: {managed: true}, network: {egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 443}]}]}}\n---\n\
             apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: files, namespace: team}\nspec: {image: x}\n---\n\
             apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: saas, namespace: team}\nspec: {mode: remote, endpoint: 'https://saas.example/mcp'}\n",
        );
        insta::assert_yaml_snapshot!(
            "gateway_network_policies",
            (
                &built.network_policy,
                &built.servers_network_policy,
                &built.redis_network_policy
            )
        );
        let servers = built.servers_network_policy.unwrap().spec.unwrap();
        let selected = &servers.pod_selector.unwrap().match_expressions.unwrap()[0];
        assert_eq!(
            selected.values.as_deref(),
            Some(&["files".to_string()][..]),
            "container servers only: a remote one has no pods"
        );
        let redis = built.redis_network_policy.unwrap().spec.unwrap();
        assert_eq!(redis.egress, Some(vec![]), "Redis connects nowhere");
        let from = &redis.ingress.unwrap()[0].from.clone().unwrap()[0];
        assert_eq!(
            from.pod_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()[GATEWAY_LABEL],
            "edge"
        );

        let open = objects(GATEWAY);
        let ingress = open.network_policy.unwrap().spec.unwrap().ingress.unwrap();
        assert_eq!(ingress.len(), 1);
        assert!(
            ingress[0].from.is_none(),
            "clients from anywhere, on its port"
        );
        assert!(open.servers_network_policy.is_none());
        assert!(open.redis_network_policy.is_none());
    }
}
