//! Prometheus metrics served on `/metrics`.

use std::collections::HashSet;
use std::sync::Mutex;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcome {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupOutcome {
    group: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabel {
    group: String,
}

/// Most tools with series of their own; later ones count as `other`.
pub const TOOL_LABELS: usize = 500;
/// Most caller groups with series of their own; later ones count as `other`.
pub const GROUP_LABELS: usize = 100;

/// Bounds a label's values: the first `most` names seen keep their own
/// value, later ones share `other`, so series cannot grow without end.
struct LabelCap {
    most: usize,
    seen: Mutex<HashSet<String>>,
}

impl LabelCap {
    fn new(most: usize) -> Self {
        Self {
            most,
            seen: Mutex::default(),
        }
    }

    fn label(&self, name: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(name) {
            return name.to_string();
        }
        if seen.len() < self.most {
            seen.insert(name.to_string());
            return name.to_string();
        }
        "other".into()
    }
}

/// Per-tool and per-caller-group series of tool calls.
struct ToolCalls {
    calls: Family<ToolOutcome, Counter>,
    latency: Family<ToolLabel, Histogram>,
    group_calls: Family<GroupOutcome, Counter>,
    group_latency: Family<GroupLabel, Histogram>,
    tools: LabelCap,
    groups: LabelCap,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
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
    tool_calls: ToolCalls,
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
            latency_histogram as fn() -> Histogram,
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
        let tool_calls = ToolCalls::register(&mut registry);
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
            tool_calls,
        }
    }

    /// One `tools/call`, under the tool's name (`unknown` for a name the
    /// catalog does not have, so callers cannot mint series) and once under
    /// each group of its caller (`none` for a caller without groups).
    /// `seconds` is `None` for a call refused before it ran (rate limits),
    /// which counts but stays out of the latency histograms.
    pub fn observe_tool_call(
        &self,
        tool: Option<&str>,
        groups: &[String],
        outcome: &str,
        seconds: Option<f64>,
    ) {
        let calls = &self.tool_calls;
        let tool = tool.map_or_else(|| "unknown".to_string(), |t| calls.tools.label(t));
        calls
            .calls
            .get_or_create(&ToolOutcome {
                tool: tool.clone(),
                outcome: outcome.to_string(),
            })
            .inc();
        if let Some(seconds) = seconds {
            calls
                .latency
                .get_or_create(&ToolLabel { tool })
                .observe(seconds);
        }
        let none = [String::from("none")];
        let groups = if groups.is_empty() { &none[..] } else { groups };
        // A caller in two groups named alike past the cap counts once as `other`.
        let labels: HashSet<String> = groups.iter().map(|g| calls.groups.label(g)).collect();
        for group in labels {
            calls
                .group_calls
                .get_or_create(&GroupOutcome {
                    group: group.clone(),
                    outcome: outcome.to_string(),
                })
                .inc();
            if let Some(seconds) = seconds {
                calls
                    .group_latency
                    .get_or_create(&GroupLabel { group })
                    .observe(seconds);
            }
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

impl ToolCalls {
    fn register(registry: &mut Registry) -> Self {
        let calls = Family::<ToolOutcome, Counter>::default();
        registry.register(
            "tool_calls",
            "tools/call requests by tool and outcome (ok, tool_error, rpc_error, denied, rate_limited, circuit_open); \
             past 500 tools, `other`; names not in the catalog, `unknown`",
            calls.clone(),
        );
        let latency = Family::<ToolLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "tool_call_duration_seconds",
            "Time to answer a tools/call, by tool",
            latency.clone(),
        );
        let group_calls = Family::<GroupOutcome, Counter>::default();
        registry.register(
            "caller_group_tool_calls",
            "tools/call requests by each group of the caller and outcome; `none` for callers without groups, \
             past 100 groups `other`",
            group_calls.clone(),
        );
        let group_latency = Family::<GroupLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "caller_group_tool_call_duration_seconds",
            "Time to answer a tools/call, by each group of the caller",
            group_latency.clone(),
        );
        Self {
            calls,
            latency,
            group_calls,
            group_latency,
            tools: LabelCap::new(TOOL_LABELS),
            groups: LabelCap::new(GROUP_LABELS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_past_the_cap_share_other_and_names_seen_keep_theirs() {
        let cap = LabelCap::new(2);
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("b"), "b");
        assert_eq!(cap.label("c"), "other");
        assert_eq!(cap.label("a"), "a");
        assert_eq!(cap.label("d"), "other");
    }

    #[test]
    fn a_tool_call_counts_once_per_tool_and_once_per_caller_group() {
        let metrics = Metrics::new();
        metrics.observe_tool_call(
            Some("search"),
            &["ops".into(), "dev".into()],
            "ok",
            Some(0.01),
        );
        metrics.observe_tool_call(None, &[], "rpc_error", Some(0.01));
        metrics.observe_tool_call(Some("search"), &[], "rate_limited", None);
        for tool in 0..TOOL_LABELS + 5 {
            metrics.observe_tool_call(Some(&format!("t{tool}")), &[], "ok", Some(0.01));
        }
        let text = metrics.render();
        for line in [
            r#"hangar_gateway_tool_calls_total{tool="search",outcome="ok"} 1"#,
            r#"hangar_gateway_tool_calls_total{tool="unknown",outcome="rpc_error"} 1"#,
            r#"hangar_gateway_caller_group_tool_calls_total{group="ops",outcome="ok"} 1"#,
            r#"hangar_gateway_caller_group_tool_calls_total{group="dev",outcome="ok"} 1"#,
            r#"hangar_gateway_caller_group_tool_calls_total{group="none",outcome="ok"} 505"#,
            r#"hangar_gateway_caller_group_tool_calls_total{group="none",outcome="rpc_error"} 1"#,
            // search and t0..t498 took the 500 labels.
            r#"hangar_gateway_tool_calls_total{tool="other",outcome="ok"} 6"#,
            r#"hangar_gateway_tool_calls_total{tool="search",outcome="rate_limited"} 1"#,
            // The refused call is not timed.
            r#"hangar_gateway_tool_call_duration_seconds_count{tool="search"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains(r#"tool="t499""#));
    }
}
