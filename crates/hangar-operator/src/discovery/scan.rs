//! What a discovery source finds: Services (and Deployments behind Services)
//! that speak MCP, or the servers a ConfigMap lists. Pure: objects in, found
//! servers out.

use std::collections::{BTreeMap, BTreeSet};

use hangar_api::{DiscoveryType, MCP_APP_PROTOCOL, annotation};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use kube::ResourceExt;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::labels::MANAGED_BY;

/// A server found in the source, before it becomes an MCPServer.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Name of the MCPServer.
    pub name: String,
    /// Where it was found, e.g. `Service team-a/weather`.
    pub origin: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The MCPServer spec, with only the fields the source sets: the rest stay
    /// free for others (e.g. `replicas` through the scale subresource).
    pub spec: Map<String, Value>,
}

/// Something in the source that looks like a server but cannot become one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The MCPServer it would have become, when known: such a server is not
    /// deleted while its source has a problem.
    pub name: Option<String>,
    pub origin: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// Servers found among the Services and Deployments of one namespace.
///
/// `Namespace` discovery takes every Service that speaks MCP (our annotation,
/// a port with `appProtocol: mcp`, or a port named `mcp`); `Annotations`
/// discovery only annotated ones. Both take annotated Deployments through the
/// Service that selects their pods, with the Deployment's annotations. Services
/// Hangar manages are skipped: their MCPServers exist already.
pub fn services(
    kind: DiscoveryType,
    source_namespace: &str,
    services: &[Service],
    deployments: &[Deployment],
) -> Vec<Result<Found, Problem>> {
    let candidates: Vec<&Service> = services.iter().filter(|s| !managed_by_hangar(s)).collect();
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for deployment in deployments {
        if deployment
            .annotations()
            .get(annotation::DISCOVER)
            .map(String::as_str)
            != Some("true")
        {
            continue;
        }
        let origin = origin("Deployment", deployment.namespace(), &deployment.name_any());
        let Some(service) = service_of(deployment, &candidates) else {
            out.push(Err(Problem {
                name: Some(derived_name(
                    deployment.annotations(),
                    &deployment.name_any(),
                    deployment.namespace().as_deref(),
                    source_namespace,
                )),
                origin,
                message:
                    "no Service selects its pods; create one, Hangar reaches the server through it"
                        .into(),
            }));
            continue;
        };
        used.insert(service.name_any());
        out.push(found(
            service,
            deployment.annotations(),
            &deployment.name_any(),
            origin,
            source_namespace,
        ));
    }
    for service in candidates {
        if used.contains(&service.name_any()) {
            continue;
        }
        let flag = service
            .annotations()
            .get(annotation::DISCOVER)
            .map(String::as_str);
        let wanted = match kind {
            DiscoveryType::Annotations => flag == Some("true"),
            _ => flag == Some("true") || (flag != Some("false") && speaks_mcp(service)),
        };
        if wanted {
            let origin = origin("Service", service.namespace(), &service.name_any());
            out.push(found(
                service,
                service.annotations(),
                &service.name_any(),
                origin,
                source_namespace,
            ));
        }
    }
    out
}

fn managed_by_hangar(service: &Service) -> bool {
    service
        .labels()
        .get("app.kubernetes.io/managed-by")
        .map(String::as_str)
        == Some(MANAGED_BY)
}

fn mcp_port(port: &ServicePort) -> bool {
    port.app_protocol.as_deref() == Some(MCP_APP_PROTOCOL)
        || port.name.as_deref() == Some(MCP_APP_PROTOCOL)
}

fn speaks_mcp(service: &Service) -> bool {
    ports(service).iter().any(mcp_port)
}

fn ports(service: &Service) -> &[ServicePort] {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
}

/// The Service whose selector picks the Deployment's pods: one that speaks MCP
/// if there are several, else the first by name.
fn service_of<'a>(deployment: &Deployment, services: &[&'a Service]) -> Option<&'a Service> {
    let pod_labels = deployment
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .labels
        .as_ref()?;
    let mut selecting: Vec<&Service> = services
        .iter()
        .copied()
        .filter(|service| {
            service.namespace() == deployment.namespace()
                && service
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|selector| {
                        !selector.is_empty()
                            && selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
                    })
        })
        .collect();
    selecting.sort_by_key(|s| (!speaks_mcp(s), s.name_any()));
    selecting.first().copied()
}

fn origin(kind: &str, namespace: Option<String>, name: &str) -> String {
    format!("{kind} {}/{name}", namespace.unwrap_or_default())
}

/// A remote MCPServer for `service`, shaped by `annotations` (the Service's or
/// the annotated Deployment's).
fn found(
    service: &Service,
    annotations: &BTreeMap<String, String>,
    object_name: &str,
    origin: String,
    source_namespace: &str,
) -> Result<Found, Problem> {
    let namespace = service.namespace().unwrap_or_default();
    let name = derived_name(annotations, object_name, Some(&namespace), source_namespace);
    let problem = |message: String| Problem {
        name: Some(name.clone()),
        origin: origin.clone(),
        message,
    };
    if let Some(explicit) = annotations.get(annotation::NAME) {
        check_name(explicit)
            .map_err(|why| problem(format!("annotation {}: {why}", annotation::NAME)))?;
    }
    let port = pick_port(service, annotations.get(annotation::PORT)).map_err(problem)?;
    let path = annotations
        .get(annotation::PATH)
        .cloned()
        .unwrap_or_else(|| "/mcp".into());
    if !path.starts_with('/') {
        return Err(problem(format!(
            "annotation {} must start with /, not {path:?}",
            annotation::PATH
        )));
    }
    let transport = match annotations.get(annotation::TRANSPORT).map(String::as_str) {
        None | Some("streamable-http") => "streamable-http",
        Some("sse") => "sse",
        Some(other) => {
            return Err(problem(format!(
                "annotation {} is {other:?}; a Service speaks streamable-http or sse",
                annotation::TRANSPORT
            )));
        }
    };
    let labels = match annotations.get(annotation::LABELS) {
        Some(text) => parse_labels(text)
            .map_err(|why| problem(format!("annotation {}: {why}", annotation::LABELS)))?,
        None => BTreeMap::new(),
    };
    let endpoint = format!(
        "http://{}.{namespace}.svc:{}{path}",
        service.name_any(),
        port.port
    );
    let spec = json!({"mode": "remote", "endpoint": endpoint, "transport": transport});
    Ok(Found {
        name,
        origin,
        labels,
        annotations: BTreeMap::new(),
        spec: spec.as_object().cloned().unwrap_or_default(),
    })
}

/// The port named by the annotation, else the MCP port, else the only port.
fn pick_port<'a>(service: &'a Service, wanted: Option<&String>) -> Result<&'a ServicePort, String> {
    let ports = ports(service);
    let listed = || {
        ports
            .iter()
            .map(|p| p.name.clone().unwrap_or_else(|| p.port.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = wanted {
        return ports
            .iter()
            .find(|p| p.name.as_ref() == Some(wanted) || p.port.to_string() == *wanted)
            .ok_or_else(|| {
                format!(
                    "annotation {} names port {wanted:?}, which the Service does not have (it has: {})",
                    annotation::PORT,
                    listed()
                )
            });
    }
    if let Some(port) = ports.iter().find(|p| mcp_port(p)) {
        return Ok(port);
    }
    match ports {
        [only] => Ok(only),
        [] => Err("the Service has no ports".into()),
        _ => Err(format!(
            "the Service has several ports ({}) and none is named mcp: set annotation {}",
            listed(),
            annotation::PORT
        )),
    }
}

/// The annotation's name, else the object's name; objects from other
/// namespaces get theirs appended, so the same name in two namespaces does not collide.
fn derived_name(
    annotations: &BTreeMap<String, String>,
    object: &str,
    namespace: Option<&str>,
    source_namespace: &str,
) -> String {
    if let Some(explicit) = annotations.get(annotation::NAME) {
        return explicit.clone();
    }
    match namespace {
        Some(namespace) if namespace != source_namespace => {
            fit_name(&format!("{object}-{namespace}"))
        }
        _ => object.to_string(),
    }
}

/// Names longer than a DNS label keep their start and a hash of the whole.
fn fit_name(name: &str) -> String {
    const MAX: usize = 63;
    if name.len() <= MAX {
        return name.to_string();
    }
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    let head = name[..MAX - hash.len() - 1].trim_end_matches('-');
    format!("{head}-{hash}")
}

/// MCPServer names become Service and Deployment names: DNS labels.
fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name: lowercase letters, digits and '-', starting with a letter, at most 63 characters"
        ))
    }
}

/// `key=value,key=value`.
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("{pair:?} is not key=value"))
        })
        .collect()
}

/// Servers listed in a ConfigMap: a YAML list of `{name, labels, annotations,
/// spec}`. `Err` when the text is not such a list at all; entries that are
/// wrong are problems. The spec itself is checked by the API server, whose
/// messages name the field.
pub fn listed(origin: &str, text: &str) -> Result<Vec<Result<Found, Problem>>, String> {
    let document: Value = serde_saphyr::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let Value::Array(items) = document else {
        return Err("not a YAML list of servers (- name: …, spec: …)".into());
    };
    let mut seen = BTreeSet::new();
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let name = item.get("name").and_then(Value::as_str).map(str::to_string);
            let problem = |message: String| Problem {
                name: name.clone(),
                origin: format!(
                    "{origin} entry {index} ({})",
                    name.as_deref().unwrap_or("no name")
                ),
                message,
            };
            let Some(name) = &name else {
                return Err(problem("it has no name".into()));
            };
            check_name(name).map_err(problem)?;
            if !seen.insert(name.clone()) {
                return Err(problem("the name is listed more than once".into()));
            }
            let mut spec = match item.get("spec") {
                Some(Value::Object(spec)) => spec.clone(),
                _ => return Err(problem("it has no spec (an MCPServer spec)".into())),
            };
            // An endpoint alone says "remote".
            if spec.contains_key("endpoint") && !spec.contains_key("mode") {
                spec.insert("mode".into(), json!("remote"));
            }
            Ok(Found {
                name: name.clone(),
                origin: problem(String::new()).origin,
                labels: string_map(&item, "labels").map_err(problem)?,
                annotations: string_map(&item, "annotations").map_err(problem)?,
                spec,
            })
        })
        .collect())
}

/// `item[key]` as a map of strings; empty when absent.
fn string_map(item: &Value, key: &str) -> Result<BTreeMap<String, String>, String> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(v) => Ok((k.clone(), v.clone())),
                other => Err(format!("{key}.{k} must be a string, not {other}")),
            })
            .collect(),
        Some(_) => Err(format!("{key} must be a map of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        serde_json::from_value(value).unwrap()
    }

    fn deployment(yaml: &str) -> Deployment {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        serde_json::from_value(value).unwrap()
    }

    fn names(found: &[Result<Found, Problem>]) -> Vec<String> {
        found
            .iter()
            .map(|f| match f {
                Ok(found) => found.name.clone(),
                Err(problem) => format!("problem: {problem}"),
            })
            .collect()
    }

    fn sample() -> Vec<Service> {
        vec![
            service(
                "metadata: {name: by-protocol, namespace: a}\nspec: {ports: [{name: http, port: 80, appProtocol: mcp}]}",
            ),
            service(
                "metadata: {name: by-port-name, namespace: a}\nspec: {ports: [{name: mcp, port: 3000}]}",
            ),
            service(
                "metadata: {name: annotated, namespace: a, annotations: {mcp-hangar.io/discover: 'true', mcp-hangar.io/path: /rpc, mcp-hangar.io/transport: sse}}\nspec: {ports: [{port: 9000}]}",
            ),
            service(
                "metadata: {name: opted-out, namespace: a, annotations: {mcp-hangar.io/discover: 'false'}}\nspec: {ports: [{name: mcp, port: 80}]}",
            ),
            service(
                "metadata: {name: plain-web, namespace: a}\nspec: {ports: [{name: http, port: 80}]}",
            ),
            service(
                "metadata: {name: managed, namespace: a, labels: {app.kubernetes.io/managed-by: hangar}}\nspec: {ports: [{name: mcp, port: 8080}]}",
            ),
        ]
    }

    #[test]
    fn namespace_discovery_takes_services_that_speak_mcp() {
        let found = services(DiscoveryType::Namespace, "a", &sample(), &[]);
        assert_eq!(names(&found), ["by-protocol", "by-port-name", "annotated"]);
        let annotated = found[2].as_ref().unwrap();
        assert_eq!(
            annotated.spec,
            json!({"mode": "remote", "endpoint": "http://annotated.a.svc:9000/rpc", "transport": "sse"})
                .as_object()
                .cloned()
                .unwrap()
        );
        assert_eq!(annotated.origin, "Service a/annotated");
        assert_eq!(
            found[0].as_ref().unwrap().spec["endpoint"],
            "http://by-protocol.a.svc:80/mcp"
        );
    }

    #[test]
    fn annotation_discovery_takes_only_annotated_services_and_deployments() {
        let mut all = sample();
        all.push(service("metadata: {name: web, namespace: b}\nspec: {selector: {app: web}, ports: [{name: http, port: 80}, {name: rpc, port: 7000}]}"));
        let deployments = [
            deployment(
                "metadata: {name: web, namespace: b, annotations: {mcp-hangar.io/discover: 'true', mcp-hangar.io/port: rpc, mcp-hangar.io/name: web-tools, mcp-hangar.io/labels: 'team=web, tier=gold'}}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web, pod-template-hash: x}}}}",
            ),
            deployment(
                "metadata: {name: lonely, namespace: b, annotations: {mcp-hangar.io/discover: 'true'}}\nspec: {selector: {matchLabels: {app: lonely}}, template: {metadata: {labels: {app: lonely}}}}",
            ),
            deployment(
                "metadata: {name: quiet, namespace: b}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}",
            ),
        ];
        let found = services(DiscoveryType::Annotations, "a", &all, &deployments);
        assert_eq!(
            names(&found),
            [
                "web-tools",
                "problem: Deployment b/lonely: no Service selects its pods; create one, Hangar reaches the server through it",
                "annotated"
            ]
        );
        let web = found[0].as_ref().unwrap();
        assert_eq!(web.spec["endpoint"], "http://web.b.svc:7000/mcp");
        assert_eq!(web.origin, "Deployment b/web");
        assert_eq!(web.labels["tier"], "gold");
        // The Deployment's Service is not found a second time.
        let namespace = services(DiscoveryType::Namespace, "a", &all, &deployments);
        assert_eq!(
            names(&namespace)
                .iter()
                .filter(|n| n.contains("web"))
                .count(),
            1
        );
    }

    #[test]
    fn names_from_other_namespaces_carry_the_namespace() {
        let found = services(
            DiscoveryType::Namespace,
            "hangar",
            &[service(
                "metadata: {name: tools, namespace: team-b}\nspec: {ports: [{name: mcp, port: 80}]}",
            )],
            &[],
        );
        assert_eq!(names(&found), ["tools-team-b"]);
        let long = fit_name(&format!("{}-{}", "s".repeat(40), "n".repeat(40)));
        assert_eq!(long.len(), 63);
        assert_eq!(
            long,
            fit_name(&format!("{}-{}", "s".repeat(40), "n".repeat(40)))
        );
    }

    #[test]
    fn bad_annotations_are_problems_that_say_what_to_fix() {
        let found = services(
            DiscoveryType::Annotations,
            "a",
            &[
                service(
                    "metadata: {name: two-ports, namespace: a, annotations: {mcp-hangar.io/discover: 'true'}}\nspec: {ports: [{name: http, port: 80}, {name: admin, port: 81}]}",
                ),
                service(
                    "metadata: {name: stdio, namespace: a, annotations: {mcp-hangar.io/discover: 'true', mcp-hangar.io/transport: stdio}}\nspec: {ports: [{port: 80}]}",
                ),
                service(
                    "metadata: {name: bad-name, namespace: a, annotations: {mcp-hangar.io/discover: 'true', mcp-hangar.io/name: Tools_1}}\nspec: {ports: [{port: 80}]}",
                ),
            ],
            &[],
        );
        assert_eq!(
            names(&found),
            [
                "problem: Service a/two-ports: the Service has several ports (http, admin) and none is named mcp: set annotation mcp-hangar.io/port",
                "problem: Service a/stdio: annotation mcp-hangar.io/transport is \"stdio\"; a Service speaks streamable-http or sse",
                "problem: Service a/bad-name: annotation mcp-hangar.io/name: \"Tools_1\" is not a valid name: lowercase letters, digits and '-', starting with a letter, at most 63 characters",
            ]
        );
        assert_eq!(
            found[0].as_ref().unwrap_err().name.as_deref(),
            Some("two-ports")
        );
    }

    #[test]
    fn a_configmap_lists_remote_and_container_servers() {
        let text = r#"
- name: weather
  labels: {team: forecasts}
  spec: {endpoint: "http://weather.forecasts.svc:8080/mcp"}
- name: time
  annotations: {owner: platform}
  spec: {image: ghcr.io/acme/time-mcp, tag: "1.4.0", replicas: 0}
- name: time
  spec: {image: ghcr.io/acme/other}
- name: Bad_Name
  spec: {image: x}
- name: no-spec
- name: odd-labels
  labels: {team: [a, b]}
  spec: {image: x}
"#;
        let found = listed("ConfigMap a/servers", text).unwrap();
        assert_eq!(found.len(), 6);
        let weather = found[0].as_ref().unwrap();
        assert_eq!(
            weather.spec["mode"], "remote",
            "an endpoint alone means remote"
        );
        assert_eq!(weather.labels["team"], "forecasts");
        assert_eq!(weather.origin, "ConfigMap a/servers entry 0 (weather)");
        let time = found[1].as_ref().unwrap();
        assert_eq!(
            time.spec.len(),
            3,
            "only the fields the list sets: {:?}",
            time.spec
        );
        assert_eq!(time.annotations["owner"], "platform");
        let problems: Vec<String> = found[2..]
            .iter()
            .map(|f| f.as_ref().unwrap_err().to_string())
            .collect();
        assert_eq!(
            problems,
            [
                "ConfigMap a/servers entry 2 (time): the name is listed more than once",
                "ConfigMap a/servers entry 3 (Bad_Name): \"Bad_Name\" is not a valid name: lowercase letters, digits and '-', starting with a letter, at most 63 characters",
                "ConfigMap a/servers entry 4 (no-spec): it has no spec (an MCPServer spec)",
                "ConfigMap a/servers entry 5 (odd-labels): labels.team must be a string, not [\"a\",\"b\"]",
            ]
        );
        assert_eq!(
            listed("x", "servers: {}").unwrap_err(),
            "not a YAML list of servers (- name: …, spec: …)"
        );
    }

    #[test]
    fn labels_annotation_parses_pairs() {
        assert_eq!(
            parse_labels("a=1, b = 2,").unwrap(),
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        assert_eq!(parse_labels("a").unwrap_err(), "\"a\" is not key=value");
    }
}
