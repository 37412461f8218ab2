//! Registry metrics (seed 002): syncs, errors, duration and entries per MCPRegistry.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistryLabels {
    pub namespace: String,
    pub registry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    pub namespace: String,
    pub registry: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncErrorLabels {
    pub namespace: String,
    pub registry: String,
    pub reason: &'static str,
}

#[derive(Clone)]
pub struct RegistryMetrics {
    syncs: Family<SyncLabels, Counter>,
    errors: Family<SyncErrorLabels, Counter>,
    durations: Family<RegistryLabels, Histogram>,
    entries: Family<RegistryLabels, Gauge>,
}

impl RegistryMetrics {
    /// Creates the registry metrics and adds them to the operator's registry.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            syncs: Family::default(),
            errors: Family::default(),
            durations: Family::new_with_constructor(|| {
                Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0])
            }),
            entries: Family::default(),
        };
        metrics.register(|registry| {
            registry.register(
                "mcp_operator_registry_syncs",
                "Catalog syncs by MCPRegistry and result",
                this.syncs.clone(),
            );
            registry.register(
                "mcp_operator_registry_sync_errors",
                "Failed catalog syncs by MCPRegistry and reason",
                this.errors.clone(),
            );
            registry.register(
                "mcp_operator_registry_sync_duration_seconds",
                "Time one catalog sync took",
                this.durations.clone(),
            );
            registry.register(
                "mcp_operator_registry_entries",
                "Usable entries (server versions) in the synced catalog",
                this.entries.clone(),
            );
        });
        this
    }

    /// Records one sync: `Ok(entries)` or the error's reason.
    pub fn synced(
        &self,
        namespace: &str,
        registry: &str,
        took: Duration,
        outcome: Result<usize, &'static str>,
    ) {
        let labels = RegistryLabels {
            namespace: namespace.into(),
            registry: registry.into(),
        };
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let result = match outcome {
            Ok(entries) => {
                self.entries
                    .get_or_create(&labels)
                    .set(i64::try_from(entries).unwrap_or(i64::MAX));
                "success"
            }
            Err(reason) => {
                self.errors
                    .get_or_create(&SyncErrorLabels {
                        namespace: namespace.into(),
                        registry: registry.into(),
                        reason,
                    })
                    .inc();
                "error"
            }
        };
        self.syncs
            .get_or_create(&SyncLabels {
                namespace: namespace.into(),
                registry: registry.into(),
                result,
            })
            .inc();
    }
}
