//! MCP health checks: every tracked server is checked on its own schedule by a
//! real MCP exchange; results stay in memory and each material change triggers
//! a reconcile of the server, which is the only writer of its status.
//!
//! Each server has its own task and timeout, and a semaphore bounds how many
//! checks run at once: a server that hangs holds one slot for at most its
//! timeout and delays no other server's check.

pub mod probe;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hangar_api::MCPServer;
use hangar_circuit::{CircuitBreaker, Settings as BreakerSettings, State as CircuitState};
use hangar_mcp_client::TokenClient;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Semaphore, mpsc};

pub use probe::{ProbeError, ProbeReport, ProbeTarget};

use crate::server::metrics::ServerMetrics;

/// How one server is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub target: ProbeTarget,
    pub interval: Duration,
    pub breaker: BreakerSettings,
}

/// What the checks of one server found so far.
#[derive(Clone, Debug)]
pub struct HealthRecord {
    /// The outcome of the latest check since tracking (re)started; `None` before the first.
    pub latest: Option<Result<ProbeReport, ProbeError>>,
    /// The latest passing check ever, for serverInfo and tools in status.
    pub last_report: Option<ProbeReport>,
    pub last_check: Option<SystemTime>,
    pub consecutive_failures: u32,
    pub breaker: CircuitBreaker,
    /// Wall-clock time the circuit opened, for status.
    pub circuit_opened_at: Option<SystemTime>,
}

impl HealthRecord {
    fn new(settings: BreakerSettings) -> Self {
        Self {
            latest: None,
            last_report: None,
            last_check: None,
            consecutive_failures: 0,
            breaker: CircuitBreaker::new(settings),
            circuit_opened_at: None,
        }
    }

    pub fn circuit(&self) -> CircuitState {
        self.breaker.state(Instant::now())
    }

    /// What the reconciler must react to (not, say, a latency change).
    fn material(&self) -> Material {
        let latest = self.latest.as_ref().map(|outcome| {
            outcome
                .as_ref()
                .map(|r| {
                    (
                        r.server_name.clone(),
                        r.server_version.clone(),
                        r.protocol_version.clone(),
                        r.tools.clone(),
                    )
                })
                .map_err(ToString::to_string)
        });
        (latest, self.consecutive_failures, self.circuit())
    }
}

type Key = ObjectRef<MCPServer>;

/// The parts of a record that change the server's status.
type Material = (
    Option<Result<(String, Option<String>, String, Vec<String>), String>>,
    u32,
    CircuitState,
);

struct Tracked {
    schedule: Schedule,
    task: tokio::task::AbortHandle,
}

struct Shared {
    slots: Semaphore,
    http: reqwest::Client,
    records: Mutex<HashMap<Key, HealthRecord>>,
    changed: mpsc::UnboundedSender<Key>,
    metrics: Arc<ServerMetrics>,
}

/// Runs the checks. Cheap to clone.
#[derive(Clone)]
pub struct HealthMonitor {
    shared: Arc<Shared>,
    tracked: Arc<Mutex<HashMap<Key, Tracked>>>,
}

impl HealthMonitor {
    /// A monitor running at most `max_concurrent` checks at once, and the stream
    /// of servers whose health changed (to feed the controller).
    pub fn new(
        max_concurrent: usize,
        metrics: Arc<ServerMetrics>,
    ) -> (Self, mpsc::UnboundedReceiver<Key>) {
        let (changed, receiver) = mpsc::unbounded_channel();
        let http = hangar_mcp_client::http_client(reqwest::Client::builder);
        let shared = Arc::new(Shared {
            slots: Semaphore::new(max_concurrent),
            http,
            records: Mutex::default(),
            changed,
            metrics,
        });
        (
            Self {
                shared,
                tracked: Arc::default(),
            },
            receiver,
        )
    }

    /// Checks `key` on `schedule` from now on. Calling it again with the same
    /// schedule changes nothing; a new schedule restarts the checks.
    pub fn track(&self, key: Key, schedule: Schedule) {
        let mut tracked = self.tracked.lock().expect("health tracking lock");
        if tracked.get(&key).is_some_and(|t| t.schedule == schedule) {
            return;
        }
        if let Some(old) = tracked.remove(&key) {
            old.task.abort();
        }
        {
            let mut records = self.shared.records.lock().expect("health records lock");
            let record = records
                .entry(key.clone())
                .or_insert_with(|| HealthRecord::new(schedule.breaker));
            record.breaker.reconfigure(schedule.breaker);
            // A restart (new schedule, woken from zero) needs a fresh check before it counts as passing.
            record.latest = None;
        }
        let task = tokio::spawn(check_loop(
            self.shared.clone(),
            key.clone(),
            schedule.clone(),
        ))
        .abort_handle();
        tracked.insert(key, Tracked { schedule, task });
    }

    /// Stops checking `key` but remembers what was found (e.g. while scaled to zero).
    pub fn pause(&self, key: &Key) {
        if let Some(old) = self
            .tracked
            .lock()
            .expect("health tracking lock")
            .remove(key)
        {
            old.task.abort();
        }
    }

    /// Stops checking `key` and forgets it (the server was deleted).
    pub fn forget(&self, key: &Key) {
        self.pause(key);
        self.shared
            .records
            .lock()
            .expect("health records lock")
            .remove(key);
        self.shared
            .metrics
            .forget(&key.namespace.clone().unwrap_or_default(), &key.name);
    }

    /// What the checks found so far.
    pub fn record(&self, key: &Key) -> Option<HealthRecord> {
        self.shared
            .records
            .lock()
            .expect("health records lock")
            .get(key)
            .cloned()
    }
}

/// Longest a passing server's `lastHealthCheck` in status may lag behind.
const STATUS_REFRESH: Duration = Duration::from_secs(60);

async fn check_loop(shared: Arc<Shared>, key: Key, schedule: Schedule) {
    let namespace = key.namespace.clone().unwrap_or_default();
    let token = schedule
        .target
        .token
        .clone()
        .map(|endpoint| Arc::new(TokenClient::new(shared.http.clone(), endpoint)));
    let mut last_notified = Instant::now();
    loop {
        // An open circuit is not checked until its reset timeout has passed;
        // then the check is the half-open trial.
        let wait = {
            let mut records = shared.records.lock().expect("health records lock");
            let record = records
                .entry(key.clone())
                .or_insert_with(|| HealthRecord::new(schedule.breaker));
            record
                .breaker
                .try_acquire(Instant::now())
                .err()
                .map(|rejected| rejected.retry_after)
        };
        if let Some(retry_after) = wait {
            tokio::time::sleep(retry_after.max(Duration::from_millis(50))).await;
            // The circuit just turned half-open: let status say so.
            let _ = shared.changed.send(key.clone());
            continue;
        }
        let outcome = {
            let _slot = shared
                .slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            probe::probe(&shared.http, &schedule.target, token.as_ref()).await
        };
        let changed = {
            let mut records = shared.records.lock().expect("health records lock");
            let record = records
                .entry(key.clone())
                .or_insert_with(|| HealthRecord::new(schedule.breaker));
            let before = record.material();
            let now = Instant::now();
            match &outcome {
                Ok(report) => {
                    record.consecutive_failures = 0;
                    record.breaker.record_success();
                    record.circuit_opened_at = None;
                    record.last_report = Some(report.clone());
                    shared.metrics.probe_passed(
                        &namespace,
                        &key.name,
                        report.latency,
                        report.tools.len(),
                    );
                }
                Err(error) => {
                    record.consecutive_failures += 1;
                    let was_open = record.breaker.opened_at();
                    record.breaker.record_failure(now);
                    if record.breaker.opened_at() != was_open {
                        record.circuit_opened_at = Some(SystemTime::now());
                    }
                    tracing::info!(server = %key.name, %namespace, failures = record.consecutive_failures, %error, "health check failed");
                    shared.metrics.probe_failed(&namespace, &key.name);
                }
            }
            record.latest = Some(outcome);
            record.last_check = Some(SystemTime::now());
            before != record.material()
        };
        // Every material change reaches status at once; otherwise status is
        // refreshed now and then, not on every check, to spare the API server.
        if changed || last_notified.elapsed() >= STATUS_REFRESH {
            last_notified = Instant::now();
            let _ = shared.changed.send(key.clone());
        }
        tokio::time::sleep(schedule.interval).await;
    }
}
