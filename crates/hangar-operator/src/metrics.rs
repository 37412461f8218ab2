//! Prometheus metrics of the operator (seed 000's names).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: Family<KindLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "mcp_operator_reconcile",
            "Reconciliations by kind and result",
            reconciles.clone(),
        );
        let durations = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "mcp_operator_reconcile_duration_seconds",
            "Time spent in one reconciliation",
            durations.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "mcp_operator_reconcile_errors",
            "Failed reconciliations by kind and reason",
            errors.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            reconciles,
            durations,
            errors,
        }
    }
}

impl Metrics {
    pub fn reconciled(
        &self,
        kind: &'static str,
        took: Duration,
        error_reason: Option<&'static str>,
    ) {
        let result = if error_reason.is_some() {
            "error"
        } else {
            "success"
        };
        self.reconciles
            .get_or_create(&ReconcileLabels { kind, result })
            .inc();
        self.durations
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
        if let Some(reason) = error_reason {
            self.errors
                .get_or_create(&ErrorLabels { kind, reason })
                .inc();
        }
    }

    /// Lets other parts of the operator register their metrics.
    pub fn register(&self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry.lock().expect("metrics registry lock"));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}
