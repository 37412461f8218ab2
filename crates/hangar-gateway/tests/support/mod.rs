//! Shared test parts: an in-process gateway on a free port, the fixture
//! upstream, an HTTP backend for declared tools, and small client helpers.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support code"
)]

pub mod catalog;
pub mod fixture;
pub mod peers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};
use hangar_config::GatewayConfig;
use hangar_gateway::Gateway;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

/// Logs to the test output when `HANGAR_TEST_LOG` is set (e.g. `debug`).
pub fn init_logs() {
    if let Ok(filter) = std::env::var("HANGAR_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// Something served on a local port until dropped.
pub struct Served {
    pub addr: SocketAddr,
    cancel: CancellationToken,
    /// For servers on their own runtime: stopping it drops every task and connection.
    isolated: Option<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    /// Stops serving now; an isolated server dies like a crashed process.
    pub fn stop(&self) {
        self.cancel.cancel();
        if let Some(stop) = &self.isolated
            && let Some(stop) = stop.lock().unwrap().take()
        {
            let _ = stop.send(());
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves on a runtime of its own, so that `stop` cuts open connections too.
pub fn serve_isolated(make: impl FnOnce() -> Router + Send + 'static) -> Served {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let server = axum::serve(listener, make());
            tokio::select! {
                _ = server => {}
                _ = stop_rx => {}
            }
        });
        // Dropping the runtime here drops every connection task with it.
    });
    let addr = addr_rx.recv().expect("the isolated server starts");
    Served {
        addr,
        cancel: CancellationToken::new(),
        isolated: Some(std::sync::Mutex::new(Some(stop_tx))),
    }
}

pub async fn serve(router: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // With the peer's address, as `hangar_gateway::http::serve` gives it.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = server => {}
            _ = stop.cancelled() => {}
        }
    });
    Served {
        addr,
        cancel,
        isolated: None,
    }
}

/// The fixture upstream over Streamable HTTP at `/mcp`.
pub async fn fixture(name: &'static str) -> (Served, Arc<fixture::FixtureState>) {
    fixture_with(name, Arc::default()).await
}

pub async fn fixture_with(
    name: &'static str,
    state: Arc<fixture::FixtureState>,
) -> (Served, Arc<fixture::FixtureState>) {
    let factory_state = state.clone();
    let served = serve_isolated(move || {
        let service = StreamableHttpService::new(
            move || Ok(fixture::Fixture::new(factory_state.clone(), name)),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().disable_allowed_hosts(),
        );
        Router::new().route_service("/mcp", service)
    });
    (served, state)
}

/// An HTTP service standing in for the backends of declared tools.
pub async fn backend() -> Served {
    use axum::extract::{Query, RawQuery};
    use axum::http::{HeaderMap, StatusCode};
    let router = Router::new()
        .route(
            "/echo",
            post(
                |headers: HeaderMap, body: axum::Json<serde_json::Value>| async move {
                    let key = headers
                        .get("x-api-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    axum::Json(serde_json::json!({"received": body.0, "apiKey": key}))
                },
            ),
        )
        .route(
            "/query",
            get(
                |Query(q): Query<std::collections::BTreeMap<String, String>>,
                 RawQuery(raw): RawQuery| async move {
                    axum::Json(serde_json::json!({"query": q, "raw": raw}))
                },
            ),
        )
        .route("/text", any(|| async { "plain words" }))
        .route(
            "/array",
            post(|| async { axum::Json(serde_json::json!([1, 2, 3])) }),
        )
        .route(
            "/fail",
            any(|| async { (StatusCode::BAD_GATEWAY, "database is down") }),
        )
        .route(
            "/hang",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route(
            "/doc",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/markdown")],
                    "# Fetched\nover HTTP",
                )
            }),
        );
    serve(router).await
}

/// A gateway running in this process.
pub struct TestGateway {
    pub gateway: Gateway,
    pub served: Served,
}

impl TestGateway {
    pub async fn start(yaml: &str) -> Self {
        Self::start_in(yaml, hangar_config::Environment::Process).await
    }

    /// A gateway whose config reads its `valueFromEnv` names from `environment`.
    pub async fn start_in(yaml: &str, environment: hangar_config::Environment) -> Self {
        init_logs();
        let config = GatewayConfig::parse(yaml, "test config").unwrap_or_else(|e| panic!("{e}"));
        let gateway = Gateway::start_with(
            config,
            Arc::new(hangar_gateway::metrics::Metrics::new()),
            None,
            environment,
        )
        .unwrap();
        gateway.settled().await;
        let cancel = CancellationToken::new();
        let router = hangar_gateway::http::router(gateway.clone(), cancel.clone());
        let served = serve(router).await;
        Self { gateway, served }
    }

    pub fn mcp(&self) -> String {
        self.served.url("/mcp")
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.gateway.shutdown();
    }
}

/// A gateway served by `hangar_gateway::http::serve`, as `hangar gateway` does.
pub async fn served_gateway(yaml: &str) -> (Gateway, SocketAddr, CancellationToken) {
    init_logs();
    let config = GatewayConfig::parse(yaml, "test config").unwrap();
    let gateway =
        Gateway::start(config, Arc::new(hangar_gateway::metrics::Metrics::new())).unwrap();
    gateway.settled().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(hangar_gateway::http::serve(
        gateway.clone(),
        listener,
        cancel.clone(),
        Duration::from_secs(1),
    ));
    (gateway, addr, cancel)
}

/// The header line of a gateway config.
pub const HEAD: &str = "apiVersion: gateway.mcp-hangar.io/v1alpha1\nkind: GatewayConfig\n";

pub type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A session-based (initialize) rmcp client.
pub async fn session_client(url: &str) -> Client {
    use rmcp::ServiceExt;
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
    ().serve(transport)
        .await
        .expect("initialize through the gateway")
}

/// A stateless (2026-07-28 discover) rmcp client.
pub async fn stateless_client(url: &str) -> Client {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_string());
    ().serve_with_lifecycle(
        transport,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .expect("discover through the gateway")
}

pub fn args(value: serde_json::Value) -> rmcp::model::JsonObject {
    value.as_object().expect("arguments are an object").clone()
}

/// The text of a tool result's first content block.
pub fn first_text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Waits until `check` holds, polling; panics with `what` after `limit`.
pub async fn eventually<F: Fn() -> bool>(what: &str, limit: Duration, check: F) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records the list_changed notifications a client hears.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<std::sync::Mutex<Vec<&'static str>>>);

impl rmcp::ClientHandler for Recorder {
    async fn on_tool_list_changed(&self, _: rmcp::service::NotificationContext<rmcp::RoleClient>) {
        self.0.lock().unwrap().push("tools");
    }
    async fn on_prompt_list_changed(
        &self,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.lock().unwrap().push("prompts");
    }
    async fn on_resource_list_changed(
        &self,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.0.lock().unwrap().push("resources");
    }
}
