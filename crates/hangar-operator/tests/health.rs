//! MCP health checks, the state machine and the circuit breaker, against a real
//! kube-apiserver and real MCP servers (the reference `server-everything` and a
//! server on the official Python SDK) running locally as remote-mode MCPServers.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use hangar_api::{CircuitState, MCPServer, ServerState, crds};
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::{self, build::BuildSettings};
use hangar_testenv::eventually;
use hangar_testenv::tools::{Tool, locate, node_command};
use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(60);

async fn operator() -> (Client, String, Arc<Metrics>) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace().await;
    let client = plane.client();
    let metrics = Arc::new(Metrics::default());
    let settings = BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
        ..BuildSettings::default()
    };
    let ctx = Arc::new(Context::new(client.clone(), metrics.clone(), settings));
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    (client, ns, metrics)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real MCP server process on a local port.
struct LocalServer {
    port: u16,
    kind: Kind,
    child: Option<Child>,
}

#[derive(Clone, Copy)]
enum Kind {
    /// `@modelcontextprotocol/server-everything streamableHttp` (TypeScript SDK).
    Everything,
    /// `@modelcontextprotocol/server-everything sse`: the 2024-11-05 HTTP+SSE transport.
    EverythingSse,
    /// `tests/servers/weather.py` (Python SDK).
    Weather,
}

impl LocalServer {
    async fn start(kind: Kind) -> Self {
        let mut server = LocalServer {
            port: free_port(),
            kind,
            child: None,
        };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        let path = if matches!(self.kind, Kind::EverythingSse) {
            "sse"
        } else {
            "mcp"
        };
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    async fn restart(&mut self) {
        let mut command = match self.kind {
            Kind::Everything => {
                let mut command = Command::from(node_command("mcp-server-everything"));
                command
                    .arg("streamableHttp")
                    .env("PORT", self.port.to_string());
                command
            }
            Kind::EverythingSse => {
                let mut command = Command::from(node_command("mcp-server-everything"));
                command.arg("sse").env("PORT", self.port.to_string());
                command
            }
            Kind::Weather => {
                let mut command = Command::new(locate(Tool::Python));
                command
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/servers/weather.py"
                    ))
                    .arg(self.port.to_string());
                command
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        eventually("the MCP server to listen", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await;
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

async fn remote_server(
    client: &Client,
    ns: &str,
    name: &str,
    url: &str,
    extra: &str,
) -> Api<MCPServer> {
    let yaml = format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\nspec: {{mode: remote, endpoint: '{url}', {extra}}}"
    );
    let server: MCPServer = serde_json::from_value(serde_saphyr::from_str(&yaml).unwrap()).unwrap();
    let api: Api<MCPServer> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &server).await.unwrap();
    api
}

async fn wait_for_state(api: &Api<MCPServer>, name: &str, state: ServerState) -> MCPServer {
    eventually(&format!("{name} to be {state}"), || async {
        let server = api.get(name).await.unwrap();
        (server.status.as_ref()?.state == Some(state)).then_some(server)
    })
    .await
}

/// Reasons of the state-change events of `name`, oldest first.
async fn state_events(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut list: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.action.as_deref() == Some("StateChanged")
                && e.involved_object.name.as_deref() == Some(name)
        })
        .collect();
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    list.into_iter().filter_map(|e| e.reason).collect()
}

#[tokio::test]
async fn status_shows_the_real_tools_and_server_info() {
    let (client, ns, metrics) = operator().await;
    let everything = LocalServer::start(Kind::Everything).await;
    let weather = LocalServer::start(Kind::Weather).await;
    let checks = "healthCheck: {interval: 2s, timeout: 2s}";
    let api = remote_server(&client, &ns, "everything", &everything.url(), checks).await;
    remote_server(&client, &ns, "weather", &weather.url(), checks).await;

    let weather_status = wait_for_state(&api, "weather", ServerState::Ready)
        .await
        .status
        .unwrap();
    let tools = weather_status.tools.unwrap();
    assert_eq!(tools.count, 2);
    assert_eq!(sorted(tools.names), ["alerts", "forecast"]);
    let info = weather_status.server_info.unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_deref()),
        ("weather-py", Some("1.2.3"))
    );
    assert!(info.protocol_version.is_some());
    assert_eq!(weather_status.circuit, Some(CircuitState::Closed));
    assert!(weather_status.last_health_check.is_some());

    let everything_status = wait_for_state(&api, "everything", ServerState::Ready)
        .await
        .status
        .unwrap();
    let tools = everything_status.tools.unwrap();
    assert!(
        tools.names.iter().any(|t| t == "echo"),
        "server-everything lists echo: {:?}",
        tools.names
    );
    assert_eq!(tools.count as usize, tools.names.len());
    assert!(
        everything_status
            .server_info
            .unwrap()
            .name
            .contains("everything")
    );
    let healthy = everything_status
        .conditions
        .iter()
        .find(|c| c.type_ == "Healthy")
        .unwrap();
    assert_eq!(healthy.status, "True");

    // What `kubectl get mcpservers` prints: the server-side Table.
    let request = http::Request::get(format!(
        "/apis/mcp-hangar.io/v1alpha1/namespaces/{ns}/mcpservers"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: Value = client.request(request).await.unwrap();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let (state_column, tools_column) = (
        columns.iter().position(|c| *c == "State").unwrap(),
        columns.iter().position(|c| *c == "Tools").unwrap(),
    );
    let weather_row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "weather")
        .unwrap();
    assert_eq!(weather_row["cells"][state_column], "Ready");
    assert_eq!(weather_row["cells"][tools_column], 2);

    let exposition = metrics.encode();
    for name in [
        "mcp_operator_provider_state",
        "mcp_operator_provider_tools_count",
        "mcp_operator_health_check_duration_seconds",
    ] {
        assert!(exposition.contains(name), "{name} missing from /metrics");
    }
    assert!(
        exposition.contains(&format!(
            "mcp_operator_provider_tools_count{{namespace=\"{ns}\",name=\"weather\"}} 2"
        )),
        "{exposition}"
    );
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test]
async fn a_stopped_server_degrades_dies_and_recovers() {
    let (client, ns, metrics) = operator().await;
    let mut weather = LocalServer::start(Kind::Weather).await;
    let api = remote_server(&client, &ns, "weather", &weather.url(), "healthCheck: {interval: 1s, timeout: 1s, failureThreshold: 3}, circuitBreaker: {enabled: false}").await;
    wait_for_state(&api, "weather", ServerState::Ready).await;

    weather.stop().await;
    let degraded = wait_for_state(&api, "weather", ServerState::Degraded).await;
    let ready = degraded
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "HealthCheckFailing")
    );
    let dead = wait_for_state(&api, "weather", ServerState::Dead)
        .await
        .status
        .unwrap();
    assert!(dead.consecutive_failures >= 3);
    assert!(dead.tools.is_some(), "the last known tools stay in status");

    weather.restart().await;
    let recovered = wait_for_state(&api, "weather", ServerState::Ready)
        .await
        .status
        .unwrap();
    assert_eq!(recovered.consecutive_failures, 0);

    let reasons = eventually("the Recovered event", || async {
        let reasons = state_events(&client, &ns, "weather").await;
        reasons.iter().any(|r| r == "Recovered").then_some(reasons)
    })
    .await;
    let sequence: Vec<&str> = reasons
        .iter()
        .map(String::as_str)
        .filter(|r| *r != "Initializing")
        .collect();
    // A server's first state gets no Event: Ready has one only when the
    // server was Initializing first, which depends on how fast it answered.
    let after_ready = sequence.strip_prefix(&["Ready"]).unwrap_or(&sequence);
    assert_eq!(
        after_ready,
        ["Degraded", "Dead", "Recovered"],
        "state events: {reasons:?}"
    );
    let failures = format!(
        "mcp_operator_provider_health_check_failures_total{{namespace=\"{ns}\",name=\"weather\"}}"
    );
    let line = metrics
        .encode()
        .lines()
        .find(|l| l.starts_with(&failures))
        .map(str::to_string)
        .unwrap();
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
}

#[tokio::test]
async fn the_circuit_opens_after_its_threshold_and_closes_on_a_good_trial() {
    let (client, ns, _) = operator().await;
    let mut everything = LocalServer::start(Kind::Everything).await;
    let spec = "healthCheck: {interval: 1s, timeout: 1s, failureThreshold: 10}, circuitBreaker: {failureThreshold: 2, resetTimeout: 3s}";
    let api = remote_server(&client, &ns, "everything", &everything.url(), spec).await;
    wait_for_state(&api, "everything", ServerState::Ready).await;

    everything.stop().await;
    let open = eventually("the circuit to open", || async {
        let status = api.get("everything").await.unwrap().status?;
        (status.circuit == Some(CircuitState::Open)).then_some(status)
    })
    .await;
    assert!(
        open.consecutive_failures >= 2 && open.consecutive_failures < 10,
        "opened at the breaker's threshold, before Dead"
    );
    assert!(open.circuit_opened_at.is_some());
    assert_eq!(open.state, Some(ServerState::Degraded));
    let reason = open
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .reason
        .clone();
    assert_eq!(reason, "CircuitOpen");

    // While open, nothing is checked until the reset timeout: the count stands still.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = api.get("everything").await.unwrap().status.unwrap();
    assert_eq!(
        still.consecutive_failures, open.consecutive_failures,
        "no checks while the circuit is open"
    );

    everything.restart().await;
    let closed = eventually("the circuit to close after a good trial", || async {
        let status = api.get("everything").await.unwrap().status?;
        (status.circuit == Some(CircuitState::Closed) && status.state == Some(ServerState::Ready))
            .then_some(status)
    })
    .await;
    assert!(closed.circuit_opened_at.is_none());
}

#[tokio::test]
async fn a_hanging_server_delays_no_other() {
    let (client, ns, _) = operator().await;
    // Accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_url = format!("http://{}/mcp", hang.local_addr().unwrap());
    let api = remote_server(
        &client,
        &ns,
        "hang",
        &hang_url,
        "healthCheck: {interval: 60s, timeout: 60s}",
    )
    .await;
    let (held, _) = tokio::time::timeout(DEADLINE, hang.accept())
        .await
        .expect("the hanging server was never checked")
        .unwrap();

    // Its check is now stuck for a minute. Another server must not wait for it.
    let weather = LocalServer::start(Kind::Weather).await;
    remote_server(
        &client,
        &ns,
        "weather",
        &weather.url(),
        "healthCheck: {interval: 2s, timeout: 2s}",
    )
    .await;
    wait_for_state(&api, "weather", ServerState::Ready).await;
    let hanging = api.get("hang").await.unwrap();
    assert_eq!(
        hanging.status.unwrap().state,
        Some(ServerState::Initializing),
        "the hanging check has not finished"
    );
    drop(held);
}

#[tokio::test]
async fn a_legacy_sse_server_is_checked_over_sse() {
    let (client, ns, _) = operator().await;
    let everything = LocalServer::start(Kind::EverythingSse).await;
    let api = remote_server(
        &client,
        &ns,
        "legacy",
        &everything.url(),
        "transport: sse, healthCheck: {interval: 2s, timeout: 2s}",
    )
    .await;
    let status = wait_for_state(&api, "legacy", ServerState::Ready)
        .await
        .status
        .unwrap();
    let tools = status.tools.unwrap();
    assert!(tools.names.iter().any(|t| t == "echo"), "{:?}", tools.names);
    assert_eq!(
        status
            .server_info
            .unwrap()
            .protocol_version
            .as_deref()
            .map(|v| v < "2026"),
        Some(true),
        "an initialize-era version"
    );
}

/// The message of `name`'s Ready condition once it contains `expected`.
async fn ready_message_with(api: &Api<MCPServer>, name: &str, expected: &str) -> String {
    eventually(
        &format!("{name}'s Ready condition to say `{expected}`"),
        || async {
            let server = api.get(name).await.unwrap();
            let ready = server
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.status == "False" && ready.message.contains(expected)).then_some(ready.message)
        },
    )
    .await
}

/// A server that takes only tokens for its own audience (`protected.py`) is
/// checked with a token for its `spec.auth` client from a real authorization
/// server (`oidc-provider`), as gateways call it; without credentials, or with
/// a wrong client secret, its status says who refused what.
#[tokio::test]
async fn a_server_behind_oauth_is_checked_with_a_token_of_its_client() {
    use hangar_api::ALLOWED_DESTINATIONS_ANNOTATION;
    use hangar_testenv::openid::{OpenIdProvider, ProtectedServer};
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    let (client, ns, _) = operator().await;
    let scratch = tempfile::tempdir().unwrap();
    let provider = OpenIdProvider::start(
        free_port(),
        &scratch.path().join("keys.json"),
        false,
        json!({
            "clients": [{"client_id": "hangar-gateway", "client_secret": "s3cret-4c1d", "scope": "upstream.call"}],
            "resources": [{"prefix": "https://upstream.example", "audience": "upstream-api", "scope": "upstream.call", "ttl": 600}],
        }),
    )
    .await;
    let issuer = provider.issuer();
    let protected = ProtectedServer::start(free_port(), &issuer, "upstream-api", &[]).await;
    let token_url = format!("{issuer}/token");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for (name, value) in [("oauth-client", "s3cret-4c1d"), ("wrong-client", "not-it")] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": {ALLOWED_DESTINATIONS_ANNOTATION: &token_url}},
            "stringData": {"secret": value},
        }))
        .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let auth = |secret: &str| {
        format!(
            "healthCheck: {{interval: 2s, timeout: 2s}}, auth: {{oauth2ClientCredentials: {{tokenUrl: '{token_url}', clientId: hangar-gateway, clientSecret: {{name: {secret}, key: secret}}, resource: 'https://upstream.example/mcp'}}}}"
        )
    };
    let url = protected.mcp_url();
    let api = remote_server(&client, &ns, "protected", &url, &auth("oauth-client")).await;
    remote_server(
        &client,
        &ns,
        "anonymous",
        &url,
        "healthCheck: {interval: 2s, timeout: 2s}",
    )
    .await;
    remote_server(&client, &ns, "misconfigured", &url, &auth("wrong-client")).await;

    let ready = wait_for_state(&api, "protected", ServerState::Ready)
        .await
        .status
        .unwrap();
    assert_eq!(ready.tools.unwrap().names, ["whoami"]);
    let anonymous = ready_message_with(
        &api,
        "anonymous",
        "MCP server anonymous refused the gateway's request (HTTP 401",
    )
    .await;
    assert!(
        anonymous.contains(&format!("naming the authorization server(s) {issuer}")),
        "{anonymous}"
    );
    let misconfigured = ready_message_with(
        &api,
        "misconfigured",
        "refused the client credentials request (HTTP 401: invalid_client",
    )
    .await;
    assert!(!misconfigured.contains("not-it"), "{misconfigured}");
}
