//! Prometheus metrics of the operator: seed 000's reconcile metrics, seed 002's
//! operation counters, and whether this replica leads.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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
pub struct InFlightLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub kind: String,
    pub operation: &'static str,
    pub result: &'static str,
}

/// A write the operator made to an object it manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply that created the object (HTTP 201).
    Create,
    /// Server-side apply to an object that existed (HTTP 200); an apply that
    /// changes nothing is still one, as the API server answers it the same way.
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: Family<KindLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    operations: Family<OperationLabels, Counter>,
    in_flight: Family<InFlightLabels, Gauge>,
    in_flight_max: Family<InFlightLabels, Gauge>,
    leader: Gauge,
}

/// One reconcile running; counted in `mcp_operator_reconciles_in_flight` until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
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
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "mcp_operator_resource_operations",
            "Creates, updates and deletes of managed objects by kind, operation and result",
            operations.clone(),
        );
        let in_flight = Family::<InFlightLabels, Gauge>::default();
        registry.register(
            "mcp_operator_reconciles_in_flight",
            "Reconciles running now, by kind (at most --reconcile-concurrency)",
            in_flight.clone(),
        );
        let in_flight_max = Family::<InFlightLabels, Gauge>::default();
        registry.register(
            "mcp_operator_reconciles_in_flight_max",
            "The most reconciles of a kind that ran at once since the operator started",
            in_flight_max.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "mcp_operator_leader",
            "1 while this replica holds the leader lease and runs the controllers, else 0",
            leader.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            reconciles,
            durations,
            errors,
            operations,
            in_flight,
            in_flight_max,
            leader,
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

    /// Counts a reconcile of `kind` as running until the returned guard is dropped.
    pub fn reconcile_started(&self, kind: &str) -> InFlight {
        let labels = InFlightLabels {
            kind: kind.to_string(),
        };
        let gauge = self.in_flight.get_or_create(&labels).clone();
        let running = gauge.inc() + 1;
        self.in_flight_max
            .get_or_create(&labels)
            .inner()
            .fetch_max(running, std::sync::atomic::Ordering::Relaxed);
        InFlight(gauge)
    }

    /// Counts one write to a managed object of `kind`.
    pub fn operation(&self, kind: &str, operation: Operation, succeeded: bool) {
        let result = if succeeded { "success" } else { "error" };
        self.operations
            .get_or_create(&OperationLabels {
                kind: kind.to_string(),
                operation: operation.as_str(),
                result,
            })
            .inc();
    }

    /// Records whether this replica leads (runs the controllers).
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
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
