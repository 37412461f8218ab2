//! Every example in `examples/kubernetes` applied as written (server-side,
//! strict field validation, as `kubectl apply --server-side` would) on the
//! real single-node cluster, with the operator installed by the chart, and
//! each reaching what its header says it reaches.
//!
//! What an example needs from outside the cluster is supplied by a stand-in
//! under the name the example uses, never by changing the example:
//! - the public images `node:22-alpine` and `ghcr.io/astral-sh/uv:…` are
//!   images `scripts/image.sh` builds (the test peers' Node.js 22 with npm; uv
//!   from PyPI with a Python interpreter) and imports under those names; the
//!   packages the examples run (`npx -y …`, `uvx …`) come from the npm
//!   registry and PyPI inside the pods, as in a cluster with egress;
//! - the `ticketing` Service gateway.yaml's tool calls is a small HTTP
//!   service of ours (`tests/images/python/ticketing.py`);
//! - the zones server-group-ha.yaml pins its members to: the one node is in
//!   zone-a, so member time-b stays Pending and the group is Ready with one of
//!   two members healthy, as its health policy allows.
//!
//! What needs a real external service is checked for telling the truth about
//! it: remote-server.yaml's GitHub endpoint (unreachable here, and its token a
//! placeholder) and server-with-secrets.yaml's image from Docker Hub
//! (unreachable here) leave their servers not Ready, saying why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hangar_api::{MCPDiscoverySource, MCPGateway, MCPServer, MCPServerGroup, ServerState};
use hangar_e2e::cluster::{
    TAG, archive, describe, install_chart, print_cluster_on_failure, state_of,
};
use hangar_e2e::{Forward, Report, Session, apply, repo_root, seconds, within};
use hangar_testenv::Cluster;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Upper bound on a server becoming Ready: its pod starts, npx or uvx fetches
/// the package from its registry, the operator's health check passes. Only
/// reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(300);
/// The token in gateway.yaml's Secret `gateway-tokens`.
const PLACEHOLDER_TOKEN: &str = "replace-with-a-long-random-token";

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
    import_images_and_stand_ins(cluster).await;
    report.step("images imported (hangar, redis, python; node and uv stand-ins)");
    let client = cluster.plane().client();
    let restricted = [("pod-security.kubernetes.io/enforce", "restricted")];
    let standalone = cluster.plane().namespace_with_labels(&restricted).await;
    let team = cluster.plane().namespace_with_labels(&restricted).await;
    let discovery = cluster.plane().namespace_with_labels(&restricted).await;
    print_cluster_on_failure(
        cluster.plane().kubeconfig(),
        &[&standalone, &team, &discovery],
    );
    put_the_node_in_zone_a(&client).await;
    install_chart(cluster, &mut report, DEADLINE).await;
    let mut examples = Examples {
        cluster,
        client,
        report,
    };
    examples
        .standalone_servers_and_the_curated_gateway(&standalone)
        .await;
    examples.the_team_gateway_and_what_it_federates(&team).await;
    examples.discovery_from_a_configmap(&discovery).await;
    examples.report.summary();
}

async fn import_images_and_stand_ins(cluster: &Cluster) {
    for name in ["hangar", "python", "redis", "node", "uv"] {
        cluster.import_image(&archive(name)).await;
    }
    for (stand_in, used_as) in [
        (
            "docker.io/library/node:e2e",
            "docker.io/library/node:22-alpine",
        ),
        (
            "ghcr.io/astral-sh/uv:e2e",
            "ghcr.io/astral-sh/uv:python3.12-alpine",
        ),
        // What the operator runs a PyPI catalog entry in (registry-server.yaml).
        (
            "ghcr.io/astral-sh/uv:e2e",
            "ghcr.io/astral-sh/uv:python3.12-bookworm-slim",
        ),
    ] {
        cluster.tag_image(stand_in, used_as).await;
    }
}

/// server-group-ha.yaml pins time-a to zone-a and time-b to zone-b.
async fn put_the_node_in_zone_a(client: &Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    for node in nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
    {
        let patch = json!({"metadata": {"labels": {"topology.kubernetes.io/zone": "zone-a"}}});
        nodes
            .patch(
                &node.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .expect("labelling the node");
    }
}

struct Examples {
    cluster: &'static Cluster,
    client: Client,
    report: Report,
}

impl Examples {
    async fn apply_examples(&self, namespace: &str, files: &[&str]) -> Instant {
        for file in files {
            let path = repo_root().join("examples/kubernetes").join(file);
            let yaml = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            apply(&self.client, namespace, &yaml).await;
        }
        Instant::now()
    }

    /// Waits until each of `names` is Ready; the time each took from `applied`.
    async fn servers_ready(
        &mut self,
        namespace: &str,
        names: &[&str],
        applied: Instant,
    ) -> BTreeMap<String, MCPServer> {
        let servers: Api<MCPServer> = Api::namespaced(self.client.clone(), namespace);
        let mut ready = BTreeMap::new();
        within(DEADLINE, &format!("{names:?} to be Ready"), async || {
            let mut waiting = Vec::new();
            for name in names {
                if ready.contains_key(*name) {
                    continue;
                }
                let server = servers.get(name).await.map_err(|e| e.to_string())?;
                if state_of(&server) == Some(ServerState::Ready) {
                    self.report.figure(
                        &format!("apply to Ready, example server {name}"),
                        seconds(applied.elapsed()),
                    );
                    ready.insert(name.to_string(), server);
                } else {
                    waiting.push(format!("{name}: {}", describe(&server)));
                }
            }
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(waiting.join("; "))
            }
        })
        .await;
        ready
    }

    /// A server that cannot become Ready here stays so, and its status says
    /// why in words containing `cause`.
    async fn not_ready_saying(&self, namespace: &str, name: &str, cause: &str) -> String {
        let servers: Api<MCPServer> = Api::namespaced(self.client.clone(), namespace);
        within(
            DEADLINE,
            &format!("{name}'s status to name {cause:?}"),
            async || {
                let server = servers.get(name).await.map_err(|e| e.to_string())?;
                let told = describe(&server);
                if state_of(&server) != Some(ServerState::Ready) && told.contains(cause) {
                    Ok(told)
                } else {
                    Err(told)
                }
            },
        )
        .await
    }

    async fn gateway_ready(&self, namespace: &str, name: &str) -> MCPGateway {
        let gateways: Api<MCPGateway> = Api::namespaced(self.client.clone(), namespace);
        within(
            DEADLINE,
            &format!("gateway {name} to be Ready"),
            async || {
                let gateway = gateways.get(name).await.map_err(|e| e.to_string())?;
                let status = gateway.status.clone().unwrap_or_default();
                match status.conditions.iter().find(|c| c.type_ == "Ready") {
                    Some(ready) if ready.status == "True" => Ok(gateway),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
    }

    /// A Python SDK session through a forwarder into the gateway's ClusterIP.
    async fn session(&self, namespace: &str, gateway: &str, token: Option<&str>) -> Session {
        let services: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let service = services.get(gateway).await.expect("the gateway's Service");
        let port = service.spec.and_then(|s| s.ports).expect("ports")[0].port;
        let address = self
            .cluster
            .service_routes(namespace, gateway, port as u16)
            .await;
        let url = Forward::start(address).await.url("/mcp");
        within(
            DEADLINE,
            "a session through the gateway's Service",
            || async { Session::open_with_token(&url, token).await },
        )
        .await
    }

    /// basic-server.yaml (the reference server over Streamable HTTP),
    /// curated-gateway.yaml in front of it, registry-server.yaml (a server
    /// from a catalog entry: uvx in the uv image) and server-with-secrets.yaml.
    async fn standalone_servers_and_the_curated_gateway(&mut self, namespace: &str) {
        let applied = self
            .apply_examples(
                namespace,
                &[
                    "basic-server.yaml",
                    "curated-gateway.yaml",
                    "registry-server.yaml",
                    "server-with-secrets.yaml",
                ],
            )
            .await;
        let ready = self
            .servers_ready(namespace, &["everything", "time"], applied)
            .await;
        let everything = ready["everything"].status.clone().unwrap_or_default();
        assert!(
            everything.tools.is_some_and(|t| t.count > 10),
            "the reference server lists its tools: {}",
            describe(&ready["everything"])
        );
        let time = ready["time"].status.clone().unwrap_or_default();
        assert_eq!(
            time.image.as_deref(),
            Some("ghcr.io/astral-sh/uv"),
            "the catalog entry runs in the uv image"
        );
        let time_tools = time.tools.map(|t| t.names).unwrap_or_default();
        assert!(
            time_tools.iter().any(|t| t == "get_current_time"),
            "the real mcp-server-time answered: {time_tools:?}"
        );
        let pulling = self
            .not_ready_saying(namespace, "postgres", "crystaldba/postgres-mcp")
            .await;
        println!("examples: server-with-secrets.yaml without Docker Hub: {pulling}");

        self.gateway_ready(namespace, "curated").await;
        // Unknown until the gateway's reconcile has seen everything's tools.
        let gateways: Api<MCPGateway> = Api::namespaced(self.client.clone(), namespace);
        within(
            DEADLINE,
            "Curated=True: every override of curated-gateway.yaml names a served tool",
            async || {
                let gateway = gateways.get("curated").await.map_err(|e| e.to_string())?;
                let conditions = gateway.status.unwrap_or_default().conditions;
                match conditions.iter().find(|c| c.type_ == "Curated") {
                    Some(curated) if curated.status == "True" => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
        let mut session = self.session(namespace, "curated", None).await;
        // The gateway's pod serves the server once its config (a ConfigMap
        // volume, synced by the kubelet) names it and it has listed its tools.
        let names = within(
            DEADLINE,
            "the curated gateway to list its tools",
            async || {
                let names = session.tool_names().await;
                match ["shout", "everything_get-sum"]
                    .iter()
                    .find(|t| !names.iter().any(|n| n == *t))
                {
                    None => Ok(names),
                    Some(missing) => Err(format!("no {missing} in {names:?}")),
                }
            },
        )
        .await;
        for hidden in ["everything_echo", "everything_get-env"] {
            assert!(!names.iter().any(|n| n == hidden), "{hidden} in {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("toggle") || n.contains("trigger-")),
            "denied tools listed: {names:?}"
        );
        let sum = session
            .call("everything_get-sum", json!({"a": 2}))
            .await
            .expect("get-sum with b fixed by the gateway");
        assert!(sum.contains("42"), "2 + the fixed 40: {sum}");
        let shout = session.call("shout", json!({})).await.expect("shout");
        assert!(shout.contains("hello"), "the default message: {shout}");
        self.report.step(
            "basic, registry and curated examples: Ready, curated as written; postgres tells why not",
        );
    }

    /// gateway.yaml with the servers it federates: stdio-server.yaml (npx
    /// behind hangar bridge), server-group-ha.yaml, scale-to-zero.yaml and
    /// remote-server.yaml; a client with the Secret's token calls the
    /// declared tool (the ticketing stand-in answers), a group member and the
    /// cold server (woken by the gateway's listing, which learns its tools).
    async fn the_team_gateway_and_what_it_federates(&mut self, namespace: &str) {
        self.ticketing_stand_in(namespace).await;
        let applied = self
            .apply_examples(
                namespace,
                &[
                    "stdio-server.yaml",
                    "server-group-ha.yaml",
                    "scale-to-zero.yaml",
                    "remote-server.yaml",
                    "gateway.yaml",
                ],
            )
            .await;
        self.servers_ready(namespace, &["memory", "time-a"], applied)
            .await;
        let groups: Api<MCPServerGroup> = Api::namespaced(self.client.clone(), namespace);
        let group = within(
            DEADLINE,
            "group time Ready with 1 of 2 healthy",
            async || {
                let group = groups.get("time").await.map_err(|e| e.to_string())?;
                let status = group.status.clone().unwrap_or_default();
                let ready = status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready && status.members == 2 && status.healthy_members == 1 {
                    Ok(status)
                } else {
                    Err(format!("{status:?}"))
                }
            },
        )
        .await;
        println!("examples: group time: {group:?}");
        let servers: Api<MCPServer> = Api::namespaced(self.client.clone(), namespace);
        let time_b = servers.get("time-b").await.expect("time-b");
        let selector = time_b
            .status
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_else(|| panic!("time-b has no pod selector: {}", describe(&time_b)));
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pending = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .expect("time-b's pods")
            .items;
        assert!(
            !pending.is_empty()
                && pending.iter().all(|p| {
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending")
                }),
            "time-b is pinned to zone-b, which no node is in"
        );
        let fetch = servers.get("fetch").await.expect("fetch");
        assert_eq!(
            state_of(&fetch),
            Some(ServerState::Cold),
            "{}",
            describe(&fetch)
        );
        let github = self
            .not_ready_saying(namespace, "github", "api.githubcopilot.com")
            .await;
        println!("examples: remote-server.yaml without GitHub: {github}");

        self.gateway_ready(namespace, "public").await;
        let mut session = self
            .session(namespace, "public", Some(PLACEHOLDER_TOKEN))
            .await;
        // The group's tools come with its first listing by the gateway; the
        // cold server's, once the listing woke it to learn them.
        let woken = Instant::now();
        let expected = [
            "create_ticket",
            "memory_create_entities",
            "time_get_current_time",
            "fetch_fetch",
        ];
        within(
            DEADLINE,
            "the gateway to list every example's tools",
            async || {
                let names = session.tool_names().await;
                match expected.iter().find(|t| !names.iter().any(|n| n == *t)) {
                    None => Ok(()),
                    Some(missing) => Err(format!("no {missing} in {names:?}")),
                }
            },
        )
        .await;
        self.report.figure(
            "first listing to the cold fetch server's tools (woken, uvx)",
            seconds(woken.elapsed()),
        );
        let ticket = session
            .call(
                "create_ticket",
                json!({"title": "Disk full", "body": "on node 1", "priority": "high"}),
            )
            .await
            .expect("create_ticket through the ticketing stand-in");
        let ticket: Value = serde_json::from_str(&ticket).unwrap_or(json!(ticket));
        assert_eq!(ticket["id"], "T-1", "the stand-in's answer: {ticket}");
        let now = session
            .call("time_get_current_time", json!({"timezone": "UTC"}))
            .await
            .expect("a time group member");
        assert!(now.contains("UTC"), "{now}");
        // This machine reaches the internet through a proxy whose address is
        // not public, which mcp-server-fetch refuses to fetch from: its own
        // refusal, as a tool error, shows that the call reached the woken
        // server and its answer came back (a gateway failure reads otherwise).
        let fetched = session
            .call("fetch_fetch", json!({"url": "https://registry.npmjs.org/"}))
            .await;
        assert!(
            match &fetched {
                Ok(text) => !text.is_empty(),
                Err(error) => error.starts_with("tool error: Error executing tool fetch"),
            },
            "the fetch server, woken from zero, answers: {fetched:?}"
        );
        let fetch = servers.get("fetch").await.expect("fetch");
        assert_eq!(
            state_of(&fetch),
            Some(ServerState::Ready),
            "{}",
            describe(&fetch)
        );
        self.report.step(
            "gateway example: token, declared tool, stdio, group (one zone), cold server woken; GitHub tells why not",
        );
    }

    async fn ticketing_stand_in(&self, namespace: &str) {
        apply(
            &self.client,
            namespace,
            &format!(
                r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: ticketing}}
spec:
  selector: {{matchLabels: {{app: ticketing}}}}
  template:
    metadata: {{labels: {{app: ticketing}}}}
    spec:
      containers:
        - name: ticketing
          image: hangar.local/mcp-python:{TAG}
          imagePullPolicy: Never
          command: [python, /srv/ticketing.py]
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
metadata: {{name: ticketing}}
spec:
  selector: {{app: ticketing}}
  ports: [{{port: 8080, targetPort: 8080}}]
"#
            ),
        )
        .await;
        self.cluster
            .service_routes(namespace, "ticketing", 8080)
            .await;
    }

    /// discovery-source.yaml: the ConfigMap source makes an MCPServer per
    /// entry; its `everything` entry (npx behind the bridge) becomes Ready,
    /// `weather` points at a Service nobody runs here and says so.
    async fn discovery_from_a_configmap(&mut self, namespace: &str) {
        let applied = self
            .apply_examples(namespace, &["discovery-source.yaml"])
            .await;
        let sources: Api<MCPDiscoverySource> = Api::namespaced(self.client.clone(), namespace);
        let found = within(
            DEADLINE,
            "the catalog source to find 2 servers",
            async || {
                let source = sources.get("catalog").await.map_err(|e| e.to_string())?;
                let status = source.status.clone().unwrap_or_default();
                if status.discovered == 2 {
                    Ok(status.servers)
                } else {
                    Err(format!("{status:?}"))
                }
            },
        )
        .await;
        assert_eq!(found.len(), 2, "{found:?}");
        self.servers_ready(namespace, &["everything"], applied)
            .await;
        let weather = self
            .not_ready_saying(namespace, "weather", "weather.forecasts.svc")
            .await;
        println!("examples: discovery's weather entry: {weather}");
        self.report
            .step("discovery example: both entries became MCPServers; everything Ready");
    }
}
