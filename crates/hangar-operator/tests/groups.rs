//! MCPServerGroup status with real members: three `member.py` servers
//! (official Python SDK) as remote-mode MCPServers, probed by the MCPServer
//! controller's real MCP health checks, counted by the MCPServerGroup
//! controller, against a real kube-apiserver.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;

use hangar_api::{MCPGateway, MCPServer, MCPServerGroup, crds};
use hangar_config::GatewayConfig;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, group, server};
use hangar_testenv::eventually;
use hangar_testenv::tools::{Tool, locate};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn operator() -> (Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace().await;
    let client = plane.client();
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::default()),
        BuildSettings {
            hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
            ..BuildSettings::default()
        },
    ));
    let (c, n) = (ctx.clone(), ns.clone());
    tokio::spawn(async move { server::run(c, Some(&n), std::future::pending()).await });
    let (c, n) = (ctx.clone(), ns.clone());
    tokio::spawn(async move { group::run(c, Some(&n), std::future::pending()).await });
    let (c, n) = (ctx, ns.clone());
    tokio::spawn(async move { gateway::run(c, Some(&n), std::future::pending()).await });
    (client, ns)
}

/// `member.py NAME PORT` from the gateway's tests: a Python SDK MCP server.
async fn member(name: &str, port: u16) -> Child {
    let child = Command::new(locate(Tool::Python))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../hangar-gateway/tests/servers/member.py"
        ))
        .arg(name)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start member.py");
    eventually("the member to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
    child
}

fn from_yaml<K: serde::de::DeserializeOwned>(yaml: &str) -> K {
    serde_json::from_value(serde_saphyr::from_str(yaml).unwrap()).unwrap()
}

/// (members, healthy members, Ready condition status, unhealthy member names).
async fn group_state(groups: &Api<MCPServerGroup>) -> Option<(i32, i32, String, Vec<String>)> {
    let status = groups.get("search").await.unwrap().status?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    let unhealthy = status
        .member_statuses
        .iter()
        .filter(|m| !m.healthy)
        .map(|m| m.name.clone())
        .collect();
    Some((
        status.members,
        status.healthy_members,
        ready.status.clone(),
        unhealthy,
    ))
}

async fn wait_for(groups: &Api<MCPServerGroup>, expected: (i32, i32, &str, &[&str])) {
    let (members, healthy, ready, unhealthy) = expected;
    eventually(
        &format!("{healthy}/{members} healthy, Ready={ready}, down: {unhealthy:?}"),
        || async {
            let state = group_state(groups).await?;
            (state.0 == members && state.1 == healthy && state.2 == ready && state.3 == unhealthy)
                .then_some(())
        },
    )
    .await;
    println!("group: {healthy}/{members} healthy, Ready={ready}, down: {unhealthy:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_status_follows_members_going_down_and_up() {
    let (client, ns) = operator().await;
    let ports = [free_port(), free_port(), free_port()];
    let mut members = Vec::new();
    for (name, port) in ["a", "b", "c"].into_iter().zip(ports) {
        members.push(Some(member(name, port).await));
        let server: MCPServer = from_yaml(&format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}, labels: {{pool: search}}}}\nspec: {{mode: remote, endpoint: 'http://127.0.0.1:{port}/mcp', healthCheck: {{interval: 1s, timeout: 1s, failureThreshold: 2}}}}"
        ));
        Api::<MCPServer>::namespaced(client.clone(), &ns)
            .create(&PostParams::default(), &server)
            .await
            .unwrap();
    }
    let group: MCPServerGroup = from_yaml(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServerGroup\nmetadata: {name: search}\nspec: {selector: {matchLabels: {pool: search}}, strategy: Failover, healthPolicy: {minHealthyPercentage: 60}}",
    );
    let groups: Api<MCPServerGroup> = Api::namespaced(client.clone(), &ns);
    groups.create(&PostParams::default(), &group).await.unwrap();

    wait_for(&groups, (3, 3, "True", &[])).await;
    members[0] = None;
    wait_for(&groups, (3, 2, "True", &["a"])).await;
    members[1] = None;
    wait_for(&groups, (3, 1, "False", &["a", "b"])).await;
    members[0] = Some(member("a", ports[0]).await);
    wait_for(&groups, (3, 2, "True", &["b"])).await;
}

async fn remote_member(client: &Client, ns: &str, name: &str, port: u16) {
    let server: MCPServer = from_yaml(&format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}, labels: {{pool: search}}}}\nspec: {{mode: remote, endpoint: 'http://127.0.0.1:{port}/mcp', healthCheck: {{interval: 1s, timeout: 1s}}}}"
    ));
    Api::<MCPServer>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &server)
        .await
        .unwrap();
}

/// The group in gateway `edge`'s compiled config: members, and whether any is exposed on its own.
async fn served_group(config_maps: &Api<ConfigMap>) -> Option<(Vec<String>, bool)> {
    let mut config_map = config_maps.get_opt("edge-config").await.unwrap()?;
    let text = config_map.data.as_mut()?.remove("gateway.yaml")?;
    let config = GatewayConfig::parse(&text, "ConfigMap").unwrap();
    let group = config.groups.first()?;
    Some((
        group.members.clone(),
        config.servers.iter().any(|s| s.expose),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_serving_a_group_follows_its_members() {
    let (client, ns) = operator().await;
    let ports = [free_port(), free_port(), free_port()];
    let _a = member("a", ports[0]).await;
    let _b = member("b", ports[1]).await;
    let _c = member("c", ports[2]).await;
    remote_member(&client, &ns, "a", ports[0]).await;
    remote_member(&client, &ns, "b", ports[1]).await;
    // The gateway selects the group, not its members.
    let group: MCPServerGroup = from_yaml(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServerGroup\nmetadata: {name: search, labels: {edge: serve}}\nspec: {selector: {matchLabels: {pool: search}}, strategy: LeastConnections}",
    );
    Api::<MCPServerGroup>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &group)
        .await
        .unwrap();
    let gateway: MCPGateway = from_yaml(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge}\nspec: {replicas: 1, serverSelector: {matchLabels: {edge: serve}}}",
    );
    let gateways: Api<MCPGateway> = Api::namespaced(client.clone(), &ns);
    gateways
        .create(&PostParams::default(), &gateway)
        .await
        .unwrap();

    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let members = |expected: &'static [&'static str]| {
        let config_maps = config_maps.clone();
        async move {
            eventually(&format!("group members {expected:?}"), || async {
                let (members, exposed) = served_group(&config_maps).await?;
                assert!(!exposed, "members are served through the group only");
                (members == expected).then_some(())
            })
            .await
        }
    };
    members(&["a", "b"]).await;
    // Status counts the group's tools once: member.py offers four.
    eventually("the gateway status to count the group's tools", || async {
        let status = gateways.get("edge").await.unwrap().status?;
        (status.groups == 1 && status.tools == 4).then_some(())
    })
    .await;

    // A server that starts matching the group joins it; one that stops, leaves.
    remote_member(&client, &ns, "c", ports[2]).await;
    members(&["a", "b", "c"]).await;
    Api::<MCPServer>::namespaced(client.clone(), &ns)
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"pool": "retired"}}})),
        )
        .await
        .unwrap();
    members(&["a", "c"]).await;
}
