//! MCPServerGroup status with real members: three `member.py` servers
//! (official Python SDK) as remote-mode MCPServers, probed by the MCPServer
//! controller's real MCP health checks, counted by the MCPServerGroup
//! controller, against a real kube-apiserver.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;

use hangar_api::{MCPServer, MCPServerGroup, crds};
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{group, server};
use hangar_testenv::eventually;
use hangar_testenv::tools::{Tool, locate};
use kube::Client;
use kube::api::{Api, PostParams};
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
        },
    ));
    let (c, n) = (ctx.clone(), ns.clone());
    tokio::spawn(async move { server::run(c, Some(&n), std::future::pending()).await });
    let (c, n) = (ctx, ns.clone());
    tokio::spawn(async move { group::run(c, Some(&n), std::future::pending()).await });
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
