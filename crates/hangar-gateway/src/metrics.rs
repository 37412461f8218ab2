//! Prometheus metrics served on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodOutcome {
    method: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerKind {
    server: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolKind {
    tool: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

/// All gateway metrics, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<MethodOutcome, Counter>,
    latency: Family<MethodLabel, Histogram>,
    http_requests: Family<HttpLabels, Counter>,
    upstream_errors: Family<ServerKind, Counter>,
    backend_errors: Family<ToolKind, Counter>,
    upstream_up: Family<ServerLabel, Gauge>,
    catalog_items: Family<KindLabel, Gauge>,
    reloads: Family<OutcomeLabel, Counter>,
    rejected: Family<ReasonLabel, Counter>,
    redis_up: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hangar_gateway");
        let requests = Family::<MethodOutcome, Counter>::default();
        registry.register(
            "mcp_requests",
            "MCP requests handled, by method and outcome",
            requests.clone(),
        );
        let latency = Family::<MethodLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 18))) as fn() -> Histogram,
        );
        registry.register(
            "mcp_request_duration_seconds",
            "Time to answer an MCP request, by method",
            latency.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests to /mcp, by method and status",
            http_requests.clone(),
        );
        let upstream_errors = Family::<ServerKind, Counter>::default();
        registry.register(
            "upstream_errors",
            "Failed calls to upstream MCP servers, by server and kind (unavailable, timeout, transport, protocol)",
            upstream_errors.clone(),
        );
        let backend_errors = Family::<ToolKind, Counter>::default();
        registry.register(
            "backend_errors",
            "Failed calls of HTTP-backed tools, by tool and kind",
            backend_errors.clone(),
        );
        let upstream_up = Family::<ServerLabel, Gauge>::default();
        registry.register(
            "upstream_up",
            "1 when the upstream MCP server is connected",
            upstream_up.clone(),
        );
        let catalog_items = Family::<KindLabel, Gauge>::default();
        registry.register(
            "catalog_items",
            "Items served, by kind",
            catalog_items.clone(),
        );
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads, by outcome",
            reloads.clone(),
        );
        let rejected = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "mcp_rejected",
            "Requests to /mcp refused before reaching MCP, by reason (unauthenticated, auth_unavailable, forbidden, rate_limited, sessions_unavailable)",
            rejected.clone(),
        );
        let redis_up = Gauge::default();
        registry.register(
            "redis_up",
            "1 while the shared-state Redis answers (only with a redis section)",
            redis_up.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            http_requests,
            upstream_errors,
            backend_errors,
            upstream_up,
            catalog_items,
            reloads,
            rejected,
            redis_up,
        }
    }

    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn set_redis_up(&self, up: bool) {
        self.redis_up.set(i64::from(up));
    }

    pub fn observe_request(&self, method: &str, ok: bool, seconds: f64) {
        let outcome = if ok { "ok" } else { "error" };
        self.requests
            .get_or_create(&MethodOutcome {
                method: method.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabel {
                method: method.to_string(),
            })
            .observe(seconds);
    }

    pub fn observe_http(&self, method: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    pub fn upstream_error(&self, server: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&ServerKind {
                server: server.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn backend_error(&self, tool: &str, kind: &str) {
        self.backend_errors
            .get_or_create(&ToolKind {
                tool: tool.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    pub fn set_upstream_up(&self, server: &str, up: bool) {
        self.upstream_up
            .get_or_create(&ServerLabel {
                server: server.to_string(),
            })
            .set(i64::from(up));
    }

    pub fn forget_upstream(&self, server: &str) {
        self.upstream_up.remove(&ServerLabel {
            server: server.to_string(),
        });
    }

    pub fn set_catalog(&self, tools: usize, prompts: usize, resources: usize) {
        for (kind, count) in [
            ("tools", tools),
            ("prompts", prompts),
            ("resources", resources),
        ] {
            self.catalog_items
                .get_or_create(&KindLabel {
                    kind: kind.to_string(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    pub fn reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
