//! Pure builders: an MCPServer in, the Kubernetes objects that run it out.
//! No I/O here; `hangar render` and the reconciler share these functions.

use std::collections::BTreeMap;

use hangar_api::{MCPServer, ServerMode, Transport, split_image};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::children::{ChildKind, document};
use crate::labels::{CONFIG_HASH_ANNOTATION, HANGAR_BINARY, server_labels, server_selector};
use crate::network;
use crate::workload::{
    self, NON_ROOT_ID, drain_before_stop, empty_dir, mount, non_empty, resources,
    restricted_container_security_context, restricted_pod_security_context, tcp_probe,
};

/// Settings of the operator that shape what it builds and where it imports from.
#[derive(Clone, Debug)]
pub struct BuildSettings {
    /// The image holding the `hangar` binary: stdio bridges and gateways run it.
    pub hangar_image: String,
    /// The namespace the operator runs in (its `POD_NAMESPACE`): trusted to
    /// discover across namespaces. `None` when unknown.
    pub operator_namespace: Option<String>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        Self {
            hangar_image: default_hangar_image(),
            operator_namespace: None,
        }
    }
}

/// The image of this very build of Hangar.
pub fn default_hangar_image() -> String {
    format!("ghcr.io/mcp-hangar/hangar:{}", env!("CARGO_PKG_VERSION"))
}

/// Everything an MCPServer needs. `None` means the object must not exist
/// (it is deleted if an earlier spec created it).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ServerObjects {
    pub deployment: Option<Deployment>,
    pub service: Option<Service>,
    pub config_map: Option<ConfigMap>,
    pub ingress: Option<Ingress>,
    pub autoscaler: Option<HorizontalPodAutoscaler>,
    /// Who reaches the pods and where they connect (`spec.network`).
    pub network_policy: Option<NetworkPolicy>,
}

impl ServerObjects {
    /// Every kind this set can hold: watched, granted, and swept on deletion.
    pub const KINDS: &[ChildKind] = &[
        ChildKind::ConfigMap,
        ChildKind::Service,
        ChildKind::Deployment,
        ChildKind::Ingress,
        ChildKind::HorizontalPodAutoscaler,
        ChildKind::NetworkPolicy,
    ];

    /// The objects as YAML documents, in the order they are applied.
    pub fn documents(&self) -> Vec<String> {
        let Self {
            deployment,
            service,
            config_map,
            ingress,
            autoscaler,
            network_policy,
        } = self;
        let mut out = Vec::new();
        document(&mut out, config_map);
        document(&mut out, network_policy);
        document(&mut out, service);
        document(&mut out, deployment);
        document(&mut out, ingress);
        document(&mut out, autoscaler);
        out
    }
}

/// A spec the API server accepted but that cannot be run as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("spec.image is required in container mode")]
    MissingImage,
    #[error(
        "spec.image {image:?} carries a tag or digest and spec.tag {tag:?} is set too: give it in one of them"
    )]
    TagGivenTwice { image: String, tag: String },
    #[error("spec.volumeMounts[{index}] mounts volume {volume:?}, which is not in spec.volumes")]
    UnknownVolume { index: usize, volume: String },
    #[error("spec.volumes[{index}] is named {name:?}, which Hangar reserves for its own volumes")]
    ReservedVolumeName { index: usize, name: String },
    #[error("{0}")]
    Duration(String),
}

const CONTAINER_NAME: &str = "mcp-server";
const PORT_NAME: &str = "mcp";
const CONFIG_VOLUME: &str = "hangar-config";
const TMP_VOLUME: &str = "hangar-tmp";
const BRIDGE_VOLUME: &str = "hangar-bin";
const BRIDGE_DIR: &str = "/hangar-bin";
const RESERVED_VOLUMES: [&str; 3] = [CONFIG_VOLUME, TMP_VOLUME, BRIDGE_VOLUME];

/// Name of the ConfigMap holding `spec.config.files`.
pub fn config_map_name(server: &str) -> String {
    format!("{server}-config")
}

/// An MCPServer that can run as written: what [`validate`] returns and
/// [`build`] takes.
#[derive(Clone, Debug)]
pub enum Runnable<'a> {
    /// Nothing runs in the cluster: the operator probes and federates its endpoint.
    Remote,
    /// A workload with an image to run (the reference the pods pull).
    Container {
        server: &'a MCPServer,
        image: String,
    },
}

/// Checks what CEL cannot (cost limits) but the workload depends on.
pub fn validate(server: &MCPServer) -> Result<Runnable<'_>, InvalidSpec> {
    let spec = &server.spec;
    if spec.mode == ServerMode::Remote {
        return Ok(Runnable::Remote);
    }
    let Some(image) = spec.image.as_deref() else {
        return Err(InvalidSpec::MissingImage);
    };
    if let (Some(tag), (_, Some(_))) = (&spec.tag, split_image(image)) {
        return Err(InvalidSpec::TagGivenTwice {
            image: image.to_string(),
            tag: tag.clone(),
        });
    }
    for (index, volume) in spec.volumes.iter().enumerate() {
        if RESERVED_VOLUMES.contains(&volume.name.as_str()) {
            return Err(InvalidSpec::ReservedVolumeName {
                index,
                name: volume.name.clone(),
            });
        }
    }
    for (index, mount) in spec.volume_mounts.iter().enumerate() {
        if !spec.volumes.iter().any(|volume| volume.name == mount.name) {
            return Err(InvalidSpec::UnknownVolume {
                index,
                volume: mount.name.clone(),
            });
        }
    }
    Ok(Runnable::Container {
        server,
        image: spec.image_reference().unwrap_or_default(),
    })
}

/// Builds every object of a runnable MCPServer running `replicas` replicas
/// now (see `scale::effective_replicas`). Remote servers have none.
pub fn build(runnable: Runnable<'_>, replicas: i32, settings: &BuildSettings) -> ServerObjects {
    let Runnable::Container { server, image } = runnable else {
        return ServerObjects::default();
    };
    let config_map = config_map(server);
    let config_hash = config_map.as_ref().map(content_hash);
    ServerObjects {
        deployment: Some(deployment(server, &image, replicas, settings, config_hash)),
        service: Some(service(server)),
        config_map,
        ingress: ingress(server),
        // Scaled to zero, nothing is left to autoscale.
        autoscaler: if replicas > 0 {
            autoscaler(server)
        } else {
            None
        },
        network_policy: network::server(
            metadata(server, server.name_any()),
            server_selector(&server.name_any()),
            server.spec.port,
            &server.spec.network,
            settings.operator_namespace.as_deref(),
        ),
    }
}

fn metadata(server: &MCPServer, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: server.namespace(),
        labels: Some(server_labels(&server.name_any())),
        // Absent when rendering manifests that were never stored (no uid yet).
        owner_references: server.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

fn deployment(
    server: &MCPServer,
    image: &str,
    replicas: i32,
    settings: &BuildSettings,
    config_hash: Option<String>,
) -> Deployment {
    let spec = &server.spec;
    let name = server.name_any();
    let mut volumes = spec.volumes.clone();
    let mut mounts = spec.volume_mounts.clone();
    // A writable /tmp (also HOME) under a read-only root filesystem: npx, uvx and
    // most runtimes need somewhere to write caches.
    volumes.push(empty_dir(TMP_VOLUME));
    mounts.push(mount(TMP_VOLUME, "/tmp", false));
    if let Some(config) = &spec.config {
        volumes.push(Volume {
            name: CONFIG_VOLUME.into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(&name),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(mount(CONFIG_VOLUME, &config.mount_path, true));
    }
    let mut env = spec.env.clone();
    if !env.iter().any(|var| var.name == "HOME") {
        env.push(EnvVar {
            name: "HOME".into(),
            value: Some("/tmp".into()),
            ..Default::default()
        });
    }

    let (command, args, init_containers) = match spec.transport {
        Transport::Stdio => {
            // The stdio server runs as a child of `hangar bridge`, which serves it
            // over Streamable HTTP on the MCP port. The bridge binary comes from
            // the Hangar image through an init container and a shared emptyDir.
            volumes.push(empty_dir(BRIDGE_VOLUME));
            mounts.push(mount(BRIDGE_VOLUME, BRIDGE_DIR, true));
            let install = Container {
                name: "install-bridge".into(),
                image: Some(settings.hangar_image.clone()),
                command: Some(vec![
                    HANGAR_BINARY.into(),
                    "copy-self".into(),
                    format!("{BRIDGE_DIR}/hangar"),
                ]),
                volume_mounts: Some(vec![mount(BRIDGE_VOLUME, BRIDGE_DIR, false)]),
                security_context: Some(container_security_context(server)),
                resources: Some(resources(("10m", "16Mi"), ("100m", "64Mi"))),
                ..Default::default()
            };
            let mut bridge = vec![
                format!("{BRIDGE_DIR}/hangar"),
                "bridge".into(),
                "--listen".into(),
                format!("0.0.0.0:{}", spec.port),
                "--path".into(),
                spec.path.clone(),
                "--".into(),
            ];
            bridge.extend(spec.command.iter().cloned());
            bridge.extend(spec.args.iter().cloned());
            (Some(bridge), None, Some(vec![install]))
        }
        Transport::StreamableHttp | Transport::Sse => {
            (non_empty(&spec.command), non_empty(&spec.args), None)
        }
    };

    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(image.to_string()),
        command,
        args,
        env: Some(env),
        env_from: non_empty(&spec.env_from),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: spec.port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        resources: Some(spec.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(container_security_context(server)),
        volume_mounts: Some(mounts),
        // The kubelet only checks the port is open; the operator's MCP health
        // check decides whether the server really speaks MCP.
        startup_probe: Some(tcp_probe(PORT_NAME, 2, 60)),
        readiness_probe: Some(tcp_probe(PORT_NAME, 5, 3)),
        liveness_probe: Some(tcp_probe(PORT_NAME, 20, 3)),
        // Out of the Service before the server is signalled: a stopping
        // pod (rolling update, scale down) gets no new connections.
        lifecycle: Some(drain_before_stop()),
        ..Default::default()
    };

    let annotations =
        config_hash.map(|hash| BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_string(), hash)]));
    let pod = PodSpec {
        containers: vec![container],
        init_containers,
        volumes: Some(volumes),
        service_account_name: spec.service_account_name.clone(),
        // Most MCP servers never talk to the Kubernetes API; only mount a token
        // when a ServiceAccount was chosen on purpose.
        automount_service_account_token: Some(spec.service_account_name.is_some()),
        image_pull_secrets: non_empty(&spec.image_pull_secrets),
        node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
        tolerations: non_empty(&spec.tolerations),
        affinity: spec.affinity.clone(),
        security_context: Some(
            spec.pod_security_context
                .clone()
                .unwrap_or_else(|| restricted_pod_security_context(NON_ROOT_ID)),
        ),
        ..Default::default()
    };
    Deployment {
        metadata: metadata(server, name.clone()),
        spec: Some(DeploymentSpec {
            // With an autoscaler the HPA owns the replica count: leaving the
            // field out of our apply leaves it to the HPA.
            replicas: (replicas == 0 || spec.autoscaling.is_none()).then_some(replicas),
            selector: LabelSelector {
                match_labels: Some(server_selector(&name)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(server_labels(&name)),
                    annotations,
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service(server: &MCPServer) -> Service {
    let name = server.name_any();
    Service {
        metadata: metadata(server, name.clone()),
        spec: Some(ServiceSpec {
            type_: Some(server.spec.service_type.as_str().into()),
            selector: Some(server_selector(&name)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: server.spec.port,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn config_map(server: &MCPServer) -> Option<ConfigMap> {
    let config = server.spec.config.as_ref()?;
    Some(ConfigMap {
        metadata: metadata(server, config_map_name(&server.name_any())),
        data: Some(config.files.clone()),
        ..Default::default()
    })
}

fn ingress(server: &MCPServer) -> Option<Ingress> {
    let spec = server.spec.ingress.as_ref()?;
    let name = server.name_any();
    Some(workload::ingress(
        metadata(server, name.clone()),
        spec,
        &name,
        server.spec.port,
    ))
}

fn autoscaler(server: &MCPServer) -> Option<HorizontalPodAutoscaler> {
    let scaling = server.spec.autoscaling.as_ref()?;
    let name = server.name_any();
    Some(HorizontalPodAutoscaler {
        metadata: metadata(server, name.clone()),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name,
            },
            min_replicas: Some(scaling.min_replicas),
            max_replicas: scaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(scaling.target_cpu_utilization_percentage),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The server's container security context: the spec's, or "restricted".
fn container_security_context(server: &MCPServer) -> SecurityContext {
    server
        .spec
        .security_context
        .clone()
        .unwrap_or_else(restricted_container_security_context)
}

/// Requests enough for a Node or Python MCP server; limits that stop a runaway one.
fn default_resources() -> ResourceRequirements {
    resources(("100m", "128Mi"), ("1", "512Mi"))
}

/// A short, stable hash of a ConfigMap's data.
fn content_hash(config_map: &ConfigMap) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in config_map.data.iter().flatten() {
        hasher.update(key.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests;
