//! Per-server metrics with seed 000's names.

use std::time::Duration;

use hangar_api::ServerState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub namespace: String,
    pub name: String,
    pub state: &'static str,
}

pub struct ServerMetrics {
    state: Family<StateLabels, Gauge>,
    tools: Family<ServerLabels, Gauge>,
    failures: Family<ServerLabels, Counter>,
    probe_seconds: Family<ServerLabels, Histogram>,
}

impl ServerMetrics {
    /// Creates the metrics and registers them with the operator's registry.
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            state: Family::default(),
            tools: Family::default(),
            failures: Family::default(),
            probe_seconds: Family::new_with_constructor(|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }),
        };
        metrics.register(|registry| {
            registry.register(
                "mcp_operator_provider_state",
                "1 for the state each MCPServer is in, 0 for the others",
                this.state.clone(),
            );
            registry.register(
                "mcp_operator_provider_tools_count",
                "Tools each MCPServer lists",
                this.tools.clone(),
            );
            registry.register(
                "mcp_operator_provider_health_check_failures",
                "Failed MCP health checks per MCPServer",
                this.failures.clone(),
            );
            registry.register(
                "mcp_operator_health_check_duration_seconds",
                "Time a passing MCP health check took",
                this.probe_seconds.clone(),
            );
        });
        this
    }

    pub fn state(&self, namespace: &str, name: &str, current: ServerState) {
        for state in ServerState::ALL {
            let labels = StateLabels {
                namespace: namespace.into(),
                name: name.into(),
                state: state.as_str(),
            };
            self.state
                .get_or_create(&labels)
                .set(i64::from(state == current));
        }
    }

    pub fn probe_passed(&self, namespace: &str, name: &str, latency: Duration, tools: usize) {
        let labels = ServerLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.probe_seconds
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        self.tools
            .get_or_create(&labels)
            .set(i64::try_from(tools).unwrap_or(i64::MAX));
        // Exists (at zero) from the first check on, so dashboards see the series.
        let _ = self.failures.get_or_create(&labels);
    }

    pub fn probe_failed(&self, namespace: &str, name: &str) {
        self.failures
            .get_or_create(&ServerLabels {
                namespace: namespace.into(),
                name: name.into(),
            })
            .inc();
    }

    /// Drops every series of a deleted server.
    pub fn forget(&self, namespace: &str, name: &str) {
        let labels = ServerLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.tools.remove(&labels);
        self.failures.remove(&labels);
        self.probe_seconds.remove(&labels);
        for state in ServerState::ALL {
            self.state.remove(&StateLabels {
                namespace: namespace.into(),
                name: name.into(),
                state: state.as_str(),
            });
        }
    }
}
