//! An upstream MCP server for the shared-state and security tests: `tick`
//! reports progress slowly (to break a stream in the middle), `grow` adds a
//! tool and announces it, `echo` answers at once. It counts `tools/list`
//! calls and records the `Authorization` header of every request it gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext, SubscriptionSink};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::json;

#[derive(Default)]
pub struct UpstreamState {
    /// `tools/list` requests answered.
    pub lists: AtomicUsize,
    /// `Authorization` header values seen (empty string: none).
    pub authorization: Mutex<Vec<String>>,
    grown: Mutex<Vec<String>>,
    listeners: Mutex<Vec<SubscriptionSink>>,
    sessions: Mutex<Vec<rmcp::Peer<RoleServer>>>,
}

impl UpstreamState {
    pub fn lists(&self) -> usize {
        self.lists.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Ticker {
    state: Arc<UpstreamState>,
}

fn record(state: &UpstreamState, context: &RequestContext<RoleServer>) {
    let value = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.headers.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.authorization.lock().unwrap().push(value);
}

impl ServerHandler for Ticker {
    fn get_info(&self) -> ServerConfig {
        let capabilities: ServerCapabilities =
            serde_json::from_value(json!({"tools": {"listChanged": true}})).unwrap();
        ServerConfig::new(capabilities).with_server_info(Implementation::new("ticker", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        record(&self.state, &context);
        self.state.lists.fetch_add(1, Ordering::SeqCst);
        let object =
            |properties: serde_json::Value| json!({"type": "object", "properties": properties});
        let mut tools = vec![
            json!({"name": "tick", "description": "Reports progress `count` times, `ms` apart",
                   "inputSchema": object(json!({"count": {"type": "integer"}, "ms": {"type": "integer"}}))}),
            json!({"name": "echo", "description": "Echoes its text",
                   "inputSchema": object(json!({"text": {"type": "string"}}))}),
            json!({"name": "grow", "description": "Adds a tool", "inputSchema": object(json!({}))}),
            json!({"name": "admin_reset", "description": "For administrators", "inputSchema": object(json!({}))}),
        ];
        for name in self.state.grown.lock().unwrap().iter() {
            tools.push(json!({"name": name, "inputSchema": object(json!({}))}));
        }
        Ok(ListToolsResult::with_all_items(
            tools
                .into_iter()
                .map(|t| serde_json::from_value(t).unwrap())
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        record(&self.state, &context);
        let args = params.arguments.clone().unwrap_or_default();
        let text = match params.name.as_ref() {
            "tick" => {
                let count = args.get("count").and_then(|v| v.as_u64()).unwrap_or(3);
                let ms = args.get("ms").and_then(|v| v.as_u64()).unwrap_or(100);
                let token = context.meta.get_progress_token();
                for i in 1..=count {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    if let Some(token) = &token {
                        let _ = context
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(token.clone(), i as f64)
                                    .with_total(count as f64),
                            )
                            .await;
                    }
                }
                format!("ticked {count}")
            }
            "echo" => args
                .get("text")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            "admin_reset" => "reset".to_string(),
            "grow" => {
                let name = {
                    let mut grown = self.state.grown.lock().unwrap();
                    let name = format!("grown_{}", grown.len() + 1);
                    grown.push(name.clone());
                    name
                };
                let listeners: Vec<SubscriptionSink> = self.state.listeners.lock().unwrap().clone();
                for sink in listeners {
                    let _ = sink.notify_tool_list_changed().await;
                }
                let sessions: Vec<rmcp::Peer<RoleServer>> =
                    self.state.sessions.lock().unwrap().clone();
                for peer in sessions {
                    let _ = peer.notify_tool_list_changed().await;
                }
                format!("added {name}")
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other}"),
                    None,
                ));
            }
        };
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(text),
        ])))
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        self.state.sessions.lock().unwrap().push(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.state
            .listeners
            .lock()
            .unwrap()
            .push(context.sink().clone());
        context.cancelled().await;
        Ok(())
    }
}

/// The upstream, served over Streamable HTTP at `/mcp`.
pub async fn start() -> (crate::support::Served, Arc<UpstreamState>) {
    let state = Arc::new(UpstreamState::default());
    let factory_state = state.clone();
    let served = crate::support::serve_isolated(move || {
        let service = StreamableHttpService::new(
            move || {
                Ok(Ticker {
                    state: factory_state.clone(),
                })
            },
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().disable_allowed_hosts(),
        );
        Router::new().route_service("/mcp", service)
    });
    (served, state)
}
