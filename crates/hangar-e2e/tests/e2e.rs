//! Hangar end to end on a real single-node cluster (`hangar-testenv`'s
//! `Cluster`): the Helm chart installs the operator from the locally built
//! image, MCP servers run in pods of a namespace enforcing the Pod Security
//! Standard "restricted", and the official Python SDK client calls them
//! through an MCPGateway's Service. Nothing writes a Deployment's or a pod's
//! status: the kubelet, the controller-manager and the operator do.
//!
//! The scenarios share one cluster and run in order (each builds on the one
//! before); a plain `main` (harness = false) prints each step's time and, at
//! the end, the figures (apply to Ready per server kind, wake from zero,
//! circuits opening and closing, calls failed during a rolling update, helm
//! install to the first call).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hangar_api::{CircuitState, MCPGateway, MCPServer, ServerState};
use hangar_e2e::cluster::{
    OPERATOR_NAMESPACE, RELEASE, TAG, archive, describe, install_chart, pod_ready,
    print_cluster_on_failure, state_of,
};
use hangar_e2e::{Forward, Report, Session, apply, get_json, helm, seconds, within};
use hangar_testenv::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// The rolling update moves servers from `TAG` to this tag, the same image
/// under a second name.
const NEXT_TAG: &str = "e2e-next";
const PYTHON_IMAGE: &str = "hangar.local/mcp-python";
/// Upper bound on a pod coming up, an MCPServer getting Ready and the like.
/// Only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(240);
/// The label the gateway selects its servers and groups by.
const GATEWAY_LABEL: &str = "e2e/gateway";
const GATEWAY: &str = "edge";
/// The scale-to-zero server's idle time before it goes back to zero.
const IDLE_TTL: &str = "30s";
/// Seconds the scale-to-zero server waits before serving on its second wake:
/// longer than its idleTTL.
const SLOW_START: &str = "40";

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(run());
}

async fn run() {
    let mut report = Report::new();
    let cluster = hangar_testenv::shared_cluster().await;
    report.step("the node is ready");
    // Redis's image comes later, when the gateway has been seen waiting for it.
    for name in ["hangar", "python"] {
        cluster.import_image(&archive(name)).await;
    }
    cluster
        .tag_image(
            &format!("{PYTHON_IMAGE}:{TAG}"),
            &format!("{PYTHON_IMAGE}:{NEXT_TAG}"),
        )
        .await;
    report.step("images imported (hangar, python)");

    let client = cluster.plane().client();
    let namespace = cluster
        .plane()
        .namespace_with_labels(&[("pod-security.kubernetes.io/enforce", "restricted")])
        .await;
    print_cluster_on_failure(cluster.plane().kubeconfig(), &[&namespace]);
    let mut e2e = E2e {
        cluster,
        client,
        namespace,
        report,
    };
    let installed = e2e.helm_install().await;
    e2e.servers_of_each_kind_become_ready().await;
    let mut session = e2e
        .a_gateway_with_two_replicas_federates_them(installed)
        .await;
    e2e.a_session_survives_the_deletion_of_its_gateway_pod(&mut session)
        .await;
    e2e.a_cold_server_wakes_for_a_call_and_sleeps_again(&mut session)
        .await;
    e2e.a_server_pod_killed_mid_call(&mut session).await;
    e2e.a_cut_off_server_opens_its_circuits_and_closes_them()
        .await;
    e2e.a_crash_looping_server_is_dead_with_the_reason().await;
    e2e.a_rolling_update_under_calls().await;
    drop(session);
    e2e.deleting_everything_leaves_nothing_behind().await;
    e2e.report.summary();
}

struct E2e {
    cluster: &'static Cluster,
    client: Client,
    /// Where the servers and the gateway live; enforces "restricted".
    namespace: String,
    report: Report,
}

impl E2e {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + k8s_openapi::serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn apply(&self, yaml: &str) {
        apply(&self.client, &self.namespace, yaml).await;
    }

    async fn helm_install(&mut self) -> Instant {
        install_chart(self.cluster, &mut self.report, DEADLINE).await
    }

    /// A container server (Streamable HTTP), a stdio one behind the
    /// init-copied `hangar bridge`, and a remote one (a plain Deployment and
    /// Service the operator does not manage): the operator's own MCP health
    /// check reaches each by its Service's DNS name, and their status says
    /// what the real Python process answered.
    async fn servers_of_each_kind_become_ready(&mut self) {
        let ns = self.namespace.clone();
        self.apply(&format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: backend}}
spec:
  selector: {{matchLabels: {{app: backend}}}}
  template:
    metadata: {{labels: {{app: backend}}}}
    spec:
      containers:
        - name: server
          image: {PYTHON_IMAGE}:{TAG}
          imagePullPolicy: Never
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 2}}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {{drop: [ALL]}}
            runAsNonRoot: true
            seccompProfile: {{type: RuntimeDefault}}
---
apiVersion: v1
kind: Service
metadata: {{name: backend}}
spec:
  selector: {{app: backend}}
  ports: [{{port: 8080, targetPort: 8080}}]
"#
        ))
        .await;
        // The remote server's endpoint runs before it is applied: its time
        // to Ready is then the operator's, not the backend pod's start.
        self.cluster.service_routes(&ns, "backend", 8080).await;
        let applied = Instant::now();
        self.apply(&format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: web, labels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
spec:
  image: {PYTHON_IMAGE}
  tag: {TAG}
  healthCheck: {{interval: 5s}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: bridged, labels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
spec:
  image: {PYTHON_IMAGE}
  tag: {TAG}
  transport: stdio
  command: [python, /srv/server.py, stdio]
  healthCheck: {{interval: 5s}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: remote, labels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
spec:
  mode: remote
  endpoint: http://backend.{ns}.svc.cluster.local:8080/mcp
  healthCheck: {{interval: 5s}}
"#
        ))
        .await;
        let servers: Api<MCPServer> = self.api();
        let mut ready_after = std::collections::BTreeMap::new();
        within(
            DEADLINE,
            "web, bridged and remote to be Ready",
            async || {
                let mut waiting = Vec::new();
                for name in ["web", "bridged", "remote"] {
                    if ready_after.contains_key(name) {
                        continue;
                    }
                    let server = servers.get(name).await.map_err(|e| e.to_string())?;
                    if state_of(&server) == Some(ServerState::Ready) {
                        ready_after.insert(name, applied.elapsed());
                    } else {
                        waiting.push(format!("{name}: {}", describe(&server)));
                    }
                }
                if waiting.is_empty() {
                    Ok(())
                } else {
                    Err(waiting.join("; "))
                }
            },
        )
        .await;
        for (name, kind) in [
            ("web", "container (Streamable HTTP)"),
            ("bridged", "stdio (hangar bridge)"),
            ("remote", "remote"),
        ] {
            self.report.figure(
                &format!("apply to Ready, {kind} server"),
                seconds(ready_after[name]),
            );
            let server = servers.get(name).await.expect("reading the server");
            let status = server.status.clone().unwrap_or_default();
            let info = status
                .server_info
                .clone()
                .unwrap_or_else(|| panic!("{name} has no serverInfo: {}", describe(&server)));
            assert_eq!(info.name, "e2e-python", "{name}: the real process's name");
            assert_eq!(info.version.as_deref(), Some("1.0.0"), "{name}");
            let mut tools = status.tools.clone().unwrap_or_default().names;
            tools.sort();
            assert_eq!(tools, ["echo", "slow", "whoami"], "{name}'s tools");
            assert!(status.last_health_check.is_some(), "{name}: checked");
            if name != "remote" {
                let url = status.url.clone().unwrap_or_default();
                assert!(
                    url.starts_with(&format!("http://{name}.{ns}.svc")),
                    "{name} is reached by its Service's DNS name, not {url}"
                );
                let pods = self.pods_of(name).await;
                assert!(
                    pods.iter().any(pod_ready),
                    "{name}: no ready pod in the restricted namespace"
                );
            }
        }
        self.report
            .step("servers Ready: container, stdio and remote");
    }

    /// An MCPGateway with two replicas and a managed Redis: not Ready while
    /// its Redis cannot run (session-based clients would be refused), then a
    /// Python SDK client reaches it through its Service and calls a tool of
    /// each server.
    async fn a_gateway_with_two_replicas_federates_them(&mut self, installed: Instant) -> Session {
        let applied = Instant::now();
        self.apply(&format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {{name: {GATEWAY}}}
spec:
  replicas: 2
  serverSelector: {{matchLabels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
  redis: {{managed: true}}
"#
        ))
        .await;
        let gateways: Api<MCPGateway> = self.api();
        let ready_condition = async || {
            let gateway = gateways.get(GATEWAY).await.map_err(|e| e.to_string())?;
            let status = gateway.status.clone().unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .cloned()
                .ok_or("no Ready condition yet")?;
            Ok::<_, String>((status.ready_replicas, ready))
        };
        // The Redis image is not on the node yet: its pod cannot start.
        let waiting =
            within(
                DEADLINE,
                "both gateway pods ready, Redis not",
                async || match ready_condition().await? {
                    (Some(2), ready) if ready.reason != "NotAvailable" => Ok(ready),
                    other => Err(format!("{other:?}")),
                },
            )
            .await;
        assert_eq!(
            (waiting.status.as_str(), waiting.reason.as_str()),
            ("False", "RedisNotAvailable"),
            "serving pods without their Redis: {}",
            waiting.message
        );
        self.cluster.import_image(&archive("redis")).await;
        // Its pod backs off pulling; a new one starts with the image present.
        let pods: Api<Pod> = self.api();
        for pod in self.pods_of(&format!("{GATEWAY}-redis")).await {
            pods.delete(&pod.name_any(), &DeleteParams::default())
                .await
                .expect("restarting Redis's pod");
        }
        within(
            DEADLINE,
            "the gateway to be Ready with 2 replicas",
            async || match ready_condition().await? {
                (Some(2), ready) if ready.status == "True" => Ok(()),
                other => Err(format!("{other:?}")),
            },
        )
        .await;
        self.report.figure(
            "apply to Ready, MCPGateway (2 replicas, managed Redis imported meanwhile)",
            seconds(applied.elapsed()),
        );
        let redis: Api<Deployment> = self.api();
        let redis = redis
            .get(&format!("{GATEWAY}-redis"))
            .await
            .expect("the managed Redis's Deployment");
        assert_eq!(
            redis.status.and_then(|s| s.available_replicas),
            Some(1),
            "the gateway is Ready only with its Redis available"
        );

        let mut session = self.open_session().await;
        let expected = ["bridged_echo", "remote_echo", "web_echo"];
        within(
            DEADLINE,
            "the gateway to list every server's tools",
            async || {
                let names = session.tool_names().await;
                if expected.iter().all(|t| names.iter().any(|n| n == t)) {
                    Ok(())
                } else {
                    Err(format!("listed {names:?}"))
                }
            },
        )
        .await;
        for tool in expected {
            let answer = session
                .call(tool, json!({"text": format!("hello {tool}")}))
                .await
                .unwrap_or_else(|why| panic!("calling {tool}: {why}"));
            assert_eq!(answer, format!("hello {tool}"));
            if tool == expected[0] {
                self.report.figure(
                    "helm install to the first successful tool call",
                    seconds(installed.elapsed()),
                );
            }
        }
        self.report
            .step("gateway Ready; a tool of each server called through its Service");
        session
    }

    /// A Python SDK session through a forwarder into the gateway's
    /// ClusterIP, once kube-proxy routes the Service.
    async fn open_session(&self) -> Session {
        let port = self.gateway_port().await;
        let address = self
            .cluster
            .service_routes(&self.namespace, GATEWAY, port)
            .await;
        let forward = Forward::start(address).await;
        let url = forward.url("/mcp");
        within(
            DEADLINE,
            "a session through the gateway's Service",
            || async { Session::open(&url).await },
        )
        .await
    }

    /// The session continues when the gateway pod that began it is gone:
    /// both replicas are deleted one after the other (so whichever began
    /// it), and the same session's next call is answered.
    async fn a_session_survives_the_deletion_of_its_gateway_pod(&mut self, session: &mut Session) {
        let pods: Api<Pod> = self.api();
        let before: Vec<String> = self
            .pods_of(GATEWAY)
            .await
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(before.len(), 2, "two gateway pods: {before:?}");
        for victim in &before {
            pods.delete(victim, &DeleteParams::default())
                .await
                .expect("deleting a gateway pod");
            within(DEADLINE, "two ready gateway pods again", || async {
                let now = self.pods_of(GATEWAY).await;
                let ready: Vec<String> = now
                    .iter()
                    .filter(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
                    .map(|p| p.name_any())
                    .collect();
                if ready.len() == 2 && !ready.contains(victim) && now.len() == 2 {
                    Ok(())
                } else {
                    Err(format!(
                        "pods {:?}",
                        now.iter().map(|p| p.name_any()).collect::<Vec<_>>()
                    ))
                }
            })
            .await;
        }
        let answer = session
            .call("web_echo", json!({"text": "still here"}))
            .await
            .unwrap_or_else(|why| panic!("the session did not survive its gateway pods: {why}"));
        assert_eq!(answer, "still here");
        self.report
            .step("a session outlived both gateway pods (shared in Redis)");
    }

    /// `replicas: 0`: no pod until the gateway needs the server; a call
    /// through the gateway starts one and is answered; `idleTTL` after the
    /// last call the pod is gone, and the next call wakes it again, even
    /// when it takes longer than its idleTTL to start. Selecting it changes
    /// the gateway's config and Role, not its pods: the session begun before
    /// carries on with the same two pods.
    async fn a_cold_server_wakes_for_a_call_and_sleeps_again(&mut self, session: &mut Session) {
        let gateway_pods = self.gateway_pod_uids().await;
        let applied = Instant::now();
        self.apply(&format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: cold, labels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
spec:
  image: {PYTHON_IMAGE}
  tag: {TAG}
  replicas: 0
  idleTTL: {IDLE_TTL}
  healthCheck: {{interval: 5s}}
"#
        ))
        .await;
        let servers: Api<MCPServer> = self.api();
        within(DEADLINE, "cold to be Cold", || async {
            let server = servers.get("cold").await.map_err(|e| e.to_string())?;
            (state_of(&server) == Some(ServerState::Cold))
                .then_some(())
                .ok_or_else(|| describe(&server))
        })
        .await;
        self.assert_no_pod_of("cold").await;
        // The kubelet updates the pods' config volume in place; each gateway
        // pod reloads it.
        let port = self.gateway_port().await;
        within(DEADLINE, "both gateway pods to serve cold", async || {
            let mut waiting = Vec::new();
            for pod in self.pods_of(GATEWAY).await {
                let ready = get_json(SocketAddr::new(pod_ip(&pod), port), "/readyz").await?;
                if ready["servers"].get("cold").is_none() {
                    waiting.push(pod.name_any());
                }
            }
            waiting
                .is_empty()
                .then_some(())
                .ok_or_else(|| format!("not reloaded yet: {waiting:?}"))
        })
        .await;
        self.report.figure(
            "a cold server selected: both gateway pods reloaded their config, after",
            seconds(applied.elapsed()),
        );
        // Listing wakes a server the gateway has never listed, to learn its tools.
        let woken = Instant::now();
        within(DEADLINE, "the gateway to list cold's tools", async || {
            let names = session.tool_names().await;
            names
                .iter()
                .any(|n| n == "cold_whoami")
                .then_some(())
                .ok_or_else(|| format!("listed {names:?}"))
        })
        .await;
        let pod = session
            .call("cold_whoami", json!({}))
            .await
            .unwrap_or_else(|why| panic!("calling the woken server: {why}"));
        self.report.figure(
            "wake from zero for a first listing, to its tools' first answer",
            seconds(woken.elapsed()),
        );
        assert!(pod.starts_with("cold-"), "answered by a pod of cold: {pod}");

        within(
            DEADLINE,
            &format!("cold's pod to be gone {IDLE_TTL} after the last call"),
            || async {
                let pods = self.pods_of("cold").await;
                pods.is_empty()
                    .then_some(())
                    .ok_or_else(|| format!("{} pods", pods.len()))
            },
        )
        .await;
        self.report.step("cold went back to zero after its idleTTL");

        // Now a server slower to start than its idleTTL: the call still
        // wakes it and is answered (within its 2m wakeTimeout).
        let servers: Api<MCPServer> = self.api();
        servers
            .patch(
                "cold",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"env": [{"name": "STARTUP_DELAY", "value": SLOW_START}]}}),
                ),
            )
            .await
            .expect("slowing cold's start");
        let called = Instant::now();
        let pod = session
            .call("cold_whoami", json!({}))
            .await
            .unwrap_or_else(|why| panic!("calling the sleeping server: {why}"));
        self.report.figure(
            &format!("wake from zero: a tool call to a server with no pod that takes {SLOW_START}s to start (idleTTL {IDLE_TTL}), to its answer"),
            seconds(called.elapsed()),
        );
        assert!(pod.starts_with("cold-"), "answered by a pod of cold: {pod}");
        self.report.step("a call woke cold from zero");
        assert_eq!(
            self.gateway_pod_uids().await,
            gateway_pods,
            "selecting a cold server replaced the gateway's pods"
        );
        self.report
            .step("the gateway's pods were not replaced for the cold server");
    }

    /// The UIDs of the gateway's pods, sorted.
    async fn gateway_pod_uids(&self) -> Vec<String> {
        let mut uids: Vec<String> = self
            .pods_of(GATEWAY)
            .await
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        uids.sort();
        uids
    }

    /// A server's pod is killed while a call to it runs: the client gets an
    /// answer (a clear error, or the result of a retry), never a hang; the
    /// server goes Degraded and back to Ready, each an Event.
    async fn a_server_pod_killed_mid_call(&mut self, session: &mut Session) {
        let victim = self.pods_of("web").await[0].name_any();
        session
            .send(json!({"op": "call_tool", "name": "web_slow", "arguments": {"seconds": 10}}))
            .await;
        // Time for the call to reach the server.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pods: Api<Pod> = self.api();
        pods.delete(&victim, &DeleteParams::default().grace_period(0))
            .await
            .expect("killing web's pod");
        let answer = session
            .answer()
            .await
            .unwrap_or_else(|why| panic!("the call to the killed pod hung: {why}"));
        println!("e2e: the call whose server pod was killed got: {answer}");
        let text = answer["text"].as_str().unwrap_or_default();
        let error = answer
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or_default();
        assert!(
            answer["isError"] == json!(true) && text.contains("web")
                || !error.is_empty()
                || text.starts_with("web-"),
            "neither a clear error nor an answer: {answer}"
        );
        self.wait_for_events("web", &["Degraded", "Recovered"])
            .await;
        let servers: Api<MCPServer> = self.api();
        within(DEADLINE, "web to be Ready again", || async {
            let server = servers.get("web").await.map_err(|e| e.to_string())?;
            (state_of(&server) == Some(ServerState::Ready))
                .then_some(())
                .ok_or_else(|| describe(&server))
        })
        .await;
        let answer = session
            .call("web_echo", json!({"text": "back"}))
            .await
            .unwrap_or_else(|why| panic!("web after its recovery: {why}"));
        assert_eq!(answer, "back");
        self.report
            .step("a pod killed mid-call: an answer, Degraded, then Ready again");
    }

    /// `web` cut off from the other pods (the node refuses connections to
    /// its pod; the kubelet's probes, sent by the node, still pass, so the pod
    /// stays Ready): the operator's health checks open its circuit (status
    /// `circuit: open`, Ready condition CircuitOpen, state Degraded) and a
    /// gateway pod's calls open that pod's own (calls refused at once naming
    /// the breaker, `/readyz` says open). Reachable again, both close: status
    /// `circuit: closed` and Ready, the gateway pod's trial call answered and
    /// its `/readyz` closed.
    async fn a_cut_off_server_opens_its_circuits_and_closes_them(&mut self) {
        let servers: Api<MCPServer> = self.api();
        let gateways: Api<MCPGateway> = self.api();
        let config_hash = async || {
            let gateway = gateways.get(GATEWAY).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(gateway.status.and_then(|s| s.config_hash))
        };
        // One gateway pod, reached by its IP: its breaker is the one observed.
        let pod = self
            .pods_of(GATEWAY)
            .await
            .into_iter()
            .find(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
            .expect("a ready gateway pod");
        let gateway_pod = SocketAddr::new(pod_ip(&pod), self.gateway_port().await);
        let readiness = async || get_json(gateway_pod, "/readyz").await;
        let (hash_before, digest_before) = (
            config_hash().await.expect("the gateway's status"),
            readiness().await.expect("the gateway pod's /readyz")["configDigest"].clone(),
        );
        // Open after 2 failures, a trial 15 s later; Dead only after 30 failed checks.
        servers
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {
                    "healthCheck": {"interval": "3s", "timeout": "2s", "failureThreshold": 30},
                    "circuitBreaker": {"failureThreshold": 2, "resetTimeout": "15s"},
                }})),
            )
            .await
            .expect("setting web's circuit breaker");
        within(
            DEADLINE,
            "the gateway pod to reload a config with web's new breaker",
            async || {
                let hash = config_hash().await?;
                let digest = readiness().await?["configDigest"].clone();
                (hash != hash_before && digest != digest_before)
                    .then_some(())
                    .ok_or_else(|| format!("status {hash:?}, pod {digest}"))
            },
        )
        .await;
        let forward = Forward::start(gateway_pod).await;
        let url = forward.url("/mcp");
        let mut session = within(DEADLINE, "a session with one gateway pod", || async {
            Session::open(&url).await
        })
        .await;
        let answer = session
            .call("web_echo", json!({"text": "before"}))
            .await
            .unwrap_or_else(|why| panic!("web before the cut: {why}"));
        assert_eq!(answer, "before");

        let web = self
            .pods_of("web")
            .await
            .into_iter()
            .find(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
            .expect("a ready pod of web");
        let cut_at = Instant::now();
        let cut = self.cluster.cut_off(match pod_ip(&web) {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => panic!("the node's pods have IPv4 addresses, not {ip}"),
        });
        within(
            DEADLINE,
            "web's status to show its circuit open",
            || async {
                let server = servers.get("web").await.map_err(|e| e.to_string())?;
                let status = server.status.clone().unwrap_or_default();
                let open = status.circuit == Some(CircuitState::Open)
                    && state_of(&server) == Some(ServerState::Degraded)
                    && ready_reason(&server).as_deref() == Some("CircuitOpen");
                open.then_some(())
                    .ok_or_else(|| format!("circuit {:?}, {}", status.circuit, describe(&server)))
            },
        )
        .await;
        let status_opened = cut_at.elapsed();
        // The gateway pod's breaker learns from the calls sent through it.
        let calls_began = Instant::now();
        let mut failed = Vec::new();
        let (refusal, refused_in) = within(
            DEADLINE,
            "the gateway pod to refuse web's calls with its circuit open",
            async || {
                let called = Instant::now();
                match session.call("web_echo", json!({"text": "cut"})).await {
                    Ok(answer) => Err(format!("answered {answer:?} while cut off")),
                    Err(why) if why.contains("circuit breaker opened") => {
                        Ok((why, called.elapsed()))
                    }
                    Err(why) => {
                        failed.push(why.clone());
                        Err(why)
                    }
                }
            },
        )
        .await;
        let gateway_opened = calls_began.elapsed();
        println!(
            "e2e: cut off, the gateway pod's calls failed {failed:?}, then one was refused in {}: {refusal}",
            seconds(refused_in)
        );
        let ready = readiness().await.expect("the gateway pod's /readyz");
        assert_eq!(ready["servers"]["web"]["circuit"], "open", "{ready}");

        let restored_at = Instant::now();
        cut.restore().expect("letting connections reach web again");
        within(
            DEADLINE,
            "web's status to show its circuit closed",
            || async {
                let server = servers.get("web").await.map_err(|e| e.to_string())?;
                let status = server.status.clone().unwrap_or_default();
                let closed = status.circuit == Some(CircuitState::Closed)
                    && state_of(&server) == Some(ServerState::Ready);
                closed
                    .then_some(())
                    .ok_or_else(|| format!("circuit {:?}, {}", status.circuit, describe(&server)))
            },
        )
        .await;
        let status_closed = restored_at.elapsed();
        let answer = within(
            DEADLINE,
            "the gateway pod to let a trial call through and answer it",
            async || session.call("web_echo", json!({"text": "back"})).await,
        )
        .await;
        assert_eq!(answer, "back");
        let ready = readiness().await.expect("the gateway pod's /readyz");
        assert_eq!(ready["servers"]["web"]["circuit"], "closed", "{ready}");
        let gateway_closed = restored_at.elapsed();
        self.report.figure(
            "circuit of a server cut off (breaker: 2 failures, resetTimeout 15s; checks every 3s): open",
            format!(
                "in status {} after the cut; in the gateway pod after {} failed calls in {} (then a call refused in {})",
                seconds(status_opened),
                failed.len(),
                seconds(gateway_opened),
                seconds(refused_in)
            ),
        );
        self.report.figure(
            "circuit of the server reachable again: closed",
            format!(
                "in status after {}, in the gateway pod (its trial call answered) after {}",
                seconds(status_closed),
                seconds(gateway_closed)
            ),
        );
        self.report.step(
            "a server cut off: its circuit opened (status, gateway pod), then closed when it was back",
        );
    }

    /// The gateway Service's port, which its pods listen on too.
    async fn gateway_port(&self) -> u16 {
        let services: Api<Service> = self.api();
        let service = services.get(GATEWAY).await.expect("the gateway's Service");
        let port = service.spec.and_then(|s| s.ports).expect("ports")[0].port;
        u16::try_from(port).expect("a port number")
    }

    /// An image whose process exits at once: the server is Dead, and its
    /// Ready condition says why.
    async fn a_crash_looping_server_is_dead_with_the_reason(&mut self) {
        self.apply(&format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: crasher}}
spec:
  image: {PYTHON_IMAGE}
  tag: {TAG}
  args: [/srv/server.py, crash]
"#
        ))
        .await;
        let servers: Api<MCPServer> = self.api();
        let reason = within(DEADLINE, "crasher to be Dead", || async {
            let server = servers.get("crasher").await.map_err(|e| e.to_string())?;
            let ready = server
                .status
                .iter()
                .flat_map(|s| s.conditions.iter())
                .find(|c| c.type_ == "Ready")
                .map(|c| c.message.clone());
            match (state_of(&server), ready) {
                (Some(ServerState::Dead), Some(message)) => Ok(message),
                _ => Err(describe(&server)),
            }
        })
        .await;
        assert!(
            reason.contains("CrashLoopBackOff"),
            "the reason names the crash loop: {reason}"
        );
        servers
            .delete("crasher", &DeleteParams::default())
            .await
            .expect("deleting crasher");
        self.report.step(&format!("crasher is Dead: {reason}"));
    }

    /// A group of two servers; one member's tag changes while a client keeps
    /// calling the group's tool through the gateway.
    async fn a_rolling_update_under_calls(&mut self) {
        let member = |name: &str| {
            format!(
                r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: {name}, labels: {{e2e/group: pair}}}}
spec:
  image: {PYTHON_IMAGE}
  tag: {TAG}
  healthCheck: {{interval: 5s}}
---"#
            )
        };
        self.apply(&format!(
            r#"{}{}
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {{name: pair, labels: {{{GATEWAY_LABEL}: {GATEWAY}}}}}
spec:
  selector: {{matchLabels: {{e2e/group: pair}}}}
  strategy: RoundRobin
"#,
            member("pair-a"),
            member("pair-b")
        ))
        .await;
        let servers: Api<MCPServer> = self.api();
        for name in ["pair-a", "pair-b"] {
            within(DEADLINE, &format!("{name} to be Ready"), || async {
                let server = servers.get(name).await.map_err(|e| e.to_string())?;
                (state_of(&server) == Some(ServerState::Ready))
                    .then_some(())
                    .ok_or_else(|| describe(&server))
            })
            .await;
        }
        let mut caller = self.open_session().await;
        within(
            DEADLINE,
            "the gateway to list the group's tools",
            async || {
                let names = caller.tool_names().await;
                names
                    .iter()
                    .any(|n| n == "pair_whoami")
                    .then_some(())
                    .ok_or_else(|| format!("listed {names:?}"))
            },
        )
        .await;

        let (ok, failed, took) = self.roll_under_calls(caller, "pair-a", "pair_whoami").await;
        self.report.figure(
            "rolling update of one member of a group of 2 under calls",
            format!(
                "{} calls failed of {} in {}",
                failed.len(),
                ok + failed.len(),
                seconds(took)
            ),
        );
        assert!(ok > 0, "no call was answered during the rollout");
        assert!(
            failed.is_empty(),
            "calls failed during the rollout: {failed:?}"
        );

        // A single stdio server (one replica, no group): reported, not asserted.
        let caller = self.open_session().await;
        let (ok, failed, took) = self
            .roll_under_calls(caller, "bridged", "bridged_whoami")
            .await;
        self.report.figure(
            "rolling update of a single stdio server (1 replica) under calls",
            format!(
                "{} calls failed of {} in {}: {:?}",
                failed.len(),
                ok + failed.len(),
                seconds(took),
                failed.first()
            ),
        );
        self.report
            .step("rolling updates: a group member without a failed call; a single stdio server");
    }

    /// Changes `server`'s tag while `caller` calls `tool` in a loop, until
    /// every pod of the server runs the new tag and the server is Ready:
    /// the calls answered, the errors of those that failed, and how long it took.
    async fn roll_under_calls(
        &self,
        mut caller: Session,
        server: &str,
        tool: &str,
    ) -> (usize, Vec<String>, Duration) {
        let rolling = Arc::new(AtomicBool::new(true));
        let calls = tokio::spawn({
            let rolling = rolling.clone();
            let tool = tool.to_string();
            async move {
                let (mut ok, mut failed) = (0, Vec::new());
                while rolling.load(Ordering::Relaxed) {
                    match caller.call(&tool, json!({})).await {
                        Ok(_) => ok += 1,
                        Err(why) => failed.push(why),
                    }
                }
                (ok, failed)
            }
        });
        let started = Instant::now();
        let servers: Api<MCPServer> = self.api();
        servers
            .patch(
                server,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"tag": NEXT_TAG}})),
            )
            .await
            .expect("changing the server's tag");
        let deployments: Api<Deployment> = self.api();
        let next_image = format!("{PYTHON_IMAGE}:{NEXT_TAG}");
        within(
            DEADLINE,
            &format!("{server}'s pods to run the new tag"),
            || async {
                let pods = self.pods_of(server).await;
                let rolled = !pods.is_empty()
                    && pods.iter().all(|p| {
                        pod_ready(p)
                            && p.metadata.deletion_timestamp.is_none()
                            && p.spec.as_ref().is_some_and(|s| {
                                s.containers
                                    .iter()
                                    .any(|c| c.image.as_deref() == Some(&next_image))
                            })
                    });
                let deployment = deployments.get(server).await.map_err(|e| e.to_string())?;
                let status = deployment.status.unwrap_or_default();
                let done =
                    rolled && status.replicas == Some(1) && status.updated_replicas == Some(1);
                done.then_some(()).ok_or_else(|| format!("{status:?}"))
            },
        )
        .await;
        within(
            DEADLINE,
            &format!("{server} to be Ready on the new tag"),
            || async {
                let found = servers.get(server).await.map_err(|e| e.to_string())?;
                (state_of(&found) == Some(ServerState::Ready))
                    .then_some(())
                    .ok_or_else(|| describe(&found))
            },
        )
        .await;
        let took = started.elapsed();
        rolling.store(false, Ordering::Relaxed);
        let (ok, failed) = calls.await.expect("the calling task");
        (ok, failed, took)
    }

    /// Deleting the MCPServers, groups and the gateway removes what the
    /// operator made; uninstalling the release removes the operator. No pod,
    /// Service, ConfigMap or Redis is left in either namespace.
    async fn deleting_everything_leaves_nothing_behind(&mut self) {
        let servers: Api<MCPServer> = self.api();
        let gateways: Api<MCPGateway> = self.api();
        let groups: Api<hangar_api::MCPServerGroup> = self.api();
        let all = DeleteParams::default();
        servers
            .delete_collection(&all, &ListParams::default())
            .await
            .expect("deleting the servers");
        groups
            .delete_collection(&all, &ListParams::default())
            .await
            .expect("deleting the groups");
        gateways
            .delete(GATEWAY, &all)
            .await
            .expect("deleting the gateway");
        let deployments: Api<Deployment> = self.api();
        let services: Api<Service> = self.api();
        deployments
            .delete("backend", &all)
            .await
            .expect("deleting backend");
        services
            .delete("backend", &all)
            .await
            .expect("deleting backend");
        within(
            DEADLINE,
            "the servers and the gateway to be gone",
            || async {
                let left = servers
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let gateway = gateways.get_opt(GATEWAY).await.map_err(|e| e.to_string())?;
                (left.items.is_empty() && gateway.is_none())
                    .then_some(())
                    .ok_or_else(|| {
                        format!(
                            "servers {:?}, gateway {}",
                            left.items.iter().map(|s| s.name_any()).collect::<Vec<_>>(),
                            gateway.is_some()
                        )
                    })
            },
        )
        .await;
        self.assert_empty(&self.namespace.clone()).await;
        helm(
            self.cluster.plane().kubeconfig(),
            &[
                "uninstall",
                RELEASE,
                "--namespace",
                OPERATOR_NAMESPACE,
                "--wait",
                "--timeout",
                "3m",
            ],
        )
        .await
        .unwrap_or_else(|why| panic!("{why}"));
        self.assert_empty(OPERATOR_NAMESPACE).await;
        self.report
            .step("deleted the resources, then the release: nothing left behind");
    }

    /// Waits until `namespace` has no pod, Service, Deployment or ConfigMap
    /// (but the API server's own `kube-root-ca.crt`).
    async fn assert_empty(&self, namespace: &str) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let services: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        within(DEADLINE, &format!("{namespace} to be empty"), || async {
            let lp = ListParams::default();
            let e = |e: kube::Error| e.to_string();
            let mut left: Vec<String> = Vec::new();
            left.extend(
                pods.list(&lp)
                    .await
                    .map_err(e)?
                    .items
                    .iter()
                    .map(|o| format!("pod {}", o.name_any())),
            );
            left.extend(
                services
                    .list(&lp)
                    .await
                    .map_err(e)?
                    .items
                    .iter()
                    .map(|o| format!("service {}", o.name_any())),
            );
            left.extend(
                deployments
                    .list(&lp)
                    .await
                    .map_err(e)?
                    .items
                    .iter()
                    .map(|o| format!("deployment {}", o.name_any())),
            );
            left.extend(
                config_maps
                    .list(&lp)
                    .await
                    .map_err(e)?
                    .items
                    .iter()
                    .filter(|o| o.name_any() != "kube-root-ca.crt")
                    .map(|o| format!("configmap {}", o.name_any())),
            );
            left.is_empty().then_some(()).ok_or_else(|| left.join(", "))
        })
        .await;
    }

    /// The pods of the Deployment `name`, by its selector.
    async fn pods_of(&self, name: &str) -> Vec<Pod> {
        let deployments: Api<Deployment> = self.api();
        let Some(deployment) = deployments
            .get_opt(name)
            .await
            .expect("reading a Deployment")
        else {
            return Vec::new();
        };
        let selector = deployment
            .spec
            .and_then(|s| s.selector.match_labels)
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods: Api<Pod> = self.api();
        pods.list(&ListParams::default().labels(&selector))
            .await
            .expect("listing pods")
            .items
    }

    async fn assert_no_pod_of(&self, name: &str) {
        let deployments: Api<Deployment> = self.api();
        let deployment = deployments
            .get(name)
            .await
            .expect("the server's Deployment");
        assert_eq!(
            deployment.spec.and_then(|s| s.replicas),
            Some(0),
            "{name} is scaled to zero"
        );
        let pods = self.pods_of(name).await;
        assert!(
            pods.is_empty(),
            "{name} has pods: {:?}",
            pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
        );
    }

    /// Waits for Events of the MCPServer `name` with each of `reasons`.
    async fn wait_for_events(&self, name: &str, reasons: &[&str]) {
        let events: Api<Event> = self.api();
        within(
            DEADLINE,
            &format!("{name}'s events {reasons:?}"),
            || async {
                let list = events
                    .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
                    .await
                    .map_err(|e| e.to_string())?;
                let seen: Vec<String> =
                    list.items.iter().filter_map(|e| e.reason.clone()).collect();
                reasons
                    .iter()
                    .all(|r| seen.iter().any(|s| s == r))
                    .then_some(())
                    .ok_or_else(|| format!("seen {seen:?}"))
            },
        )
        .await;
    }
}

fn pod_ip(pod: &Pod) -> IpAddr {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("{} has no IP", pod.name_any()))
}

/// The reason of a server's Ready condition.
fn ready_reason(server: &MCPServer) -> Option<String> {
    let status = server.status.as_ref()?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some(ready.reason.clone())
}
