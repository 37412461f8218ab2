//! The MCPServer state machine: Cold → Initializing → Ready → Degraded → Dead.
//!
//! One explicit transition function: what was observed (desired replicas,
//! workload availability, health-check results, circuit state) is classified
//! into a [`Signal`], and [`next`] maps (current state, signal) to the next state.

use hangar_api::ServerState;
use hangar_circuit::State as CircuitState;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;

/// What the Deployment and its pods report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Replicas the Deployment wants (the spec, the autoscaler's choice, or a wake-up).
    pub desired: i32,
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
    pub updated: i32,
    /// The Deployment controller has seen the latest Deployment spec.
    pub observed_current: bool,
    /// The Deployment's `Available` condition is True.
    pub available_condition: bool,
    /// The rollout hit its progress deadline.
    pub progress_deadline_exceeded: bool,
}

impl Workload {
    pub fn observe(deployment: &Deployment) -> Self {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let condition = |type_: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == type_)
                .map(|c| (c.status == "True", c.reason.clone()))
        };
        Self {
            desired,
            replicas: status.replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            observed_current: status.observed_generation.is_some()
                && status.observed_generation == deployment.metadata.generation,
            available_condition: condition("Available").is_some_and(|(ok, _)| ok),
            progress_deadline_exceeded: condition("Progressing")
                .is_some_and(|(_, reason)| reason.as_deref() == Some("ProgressDeadlineExceeded")),
        }
    }

    /// Every desired replica runs the current template and is available.
    pub fn rolled_out(&self) -> bool {
        self.observed_current
            && self.available_condition
            && self.updated >= self.desired
            && self.available >= self.desired
            && self.replicas == self.updated
    }
}

/// Container states that mean the pods will not come up by themselves.
const FAILING_WAITING_REASONS: [&str; 6] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why the pods are failing, if they are: e.g. `pod tools-5d9 container mcp-server: CrashLoopBackOff`.
pub fn pods_failing(pods: &[Pod]) -> Option<String> {
    pods.iter().find_map(|pod| {
        let statuses = pod.status.as_ref()?;
        let all = statuses
            .init_container_statuses
            .iter()
            .flatten()
            .chain(statuses.container_statuses.iter().flatten());
        all.into_iter().find_map(|container| {
            let waiting = container.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            FAILING_WAITING_REASONS.contains(&reason).then(|| {
                let pod_name = pod.metadata.name.as_deref().unwrap_or("?");
                let detail = waiting
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                format!(
                    "pod {pod_name} container {}: {reason}{detail}",
                    container.name
                )
            })
        })
    })
}

/// How the workload is doing. Remote servers, which have no workload, are `Full`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadHealth {
    /// No replica is ready.
    NotRunning,
    /// Pods crash-loop or cannot start; the text says which and why.
    Failing(String),
    /// Some but not all desired replicas are ready.
    Partial,
    /// Every desired replica is ready.
    Full,
}

impl WorkloadHealth {
    pub fn classify(workload: &Workload, failing_pods: Option<String>) -> Self {
        if let Some(reason) = failing_pods {
            return WorkloadHealth::Failing(reason);
        }
        if workload.progress_deadline_exceeded {
            return WorkloadHealth::Failing(
                "the rollout made no progress within its deadline".into(),
            );
        }
        if workload.rolled_out() {
            WorkloadHealth::Full
        } else if workload.ready > 0 {
            WorkloadHealth::Partial
        } else {
            WorkloadHealth::NotRunning
        }
    }
}

/// What the health checks say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `healthCheck.enabled: false`: the workload alone decides.
    Disabled,
    /// No check has finished since the checks (re)started.
    NotYet,
    Passing,
    /// The latest check failed; `consecutive` in a row, Dead at `threshold`.
    Failing {
        consecutive: u32,
        threshold: u32,
        error: String,
    },
    /// No check can be sent as the spec is, e.g. a header's Secret does not
    /// allow its endpoint: `reason` (CamelCase) and `message` say why.
    CannotCheck {
        reason: &'static str,
        message: String,
    },
}

/// Everything the state machine looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// Replicas that should run now; 0 when scaled to zero. Remote servers: 1.
    pub desired_replicas: i32,
    pub workload: WorkloadHealth,
    pub probe: Probe,
    pub circuit: CircuitState,
}

/// The observations, reduced to what decides the next state (strongest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    ScaledToZero,
    WorkloadFailing,
    FailureThresholdReached,
    Starting,
    CircuitOpen,
    ProbeFailing,
    PartiallyReady,
    Healthy,
}

impl Signal {
    pub const ALL: [Signal; 8] = [
        Signal::ScaledToZero,
        Signal::WorkloadFailing,
        Signal::FailureThresholdReached,
        Signal::Starting,
        Signal::CircuitOpen,
        Signal::ProbeFailing,
        Signal::PartiallyReady,
        Signal::Healthy,
    ];

    pub fn classify(inputs: &Inputs) -> Signal {
        if inputs.desired_replicas == 0 {
            return Signal::ScaledToZero;
        }
        if matches!(inputs.workload, WorkloadHealth::Failing(_)) {
            return Signal::WorkloadFailing;
        }
        if let Probe::Failing {
            consecutive,
            threshold,
            ..
        } = inputs.probe
            && consecutive >= threshold
        {
            return Signal::FailureThresholdReached;
        }
        if inputs.workload == WorkloadHealth::NotRunning {
            return Signal::Starting;
        }
        if inputs.circuit != CircuitState::Closed {
            return Signal::CircuitOpen;
        }
        match inputs.probe {
            Probe::Failing { .. } | Probe::CannotCheck { .. } => Signal::ProbeFailing,
            Probe::NotYet => Signal::Starting,
            Probe::Disabled | Probe::Passing if inputs.workload == WorkloadHealth::Partial => {
                Signal::PartiallyReady
            }
            Probe::Disabled | Probe::Passing => Signal::Healthy,
        }
    }
}

/// The transition function. A new object (no state yet) starts as Initializing.
pub fn transition(current: Option<ServerState>, inputs: &Inputs) -> ServerState {
    next(
        current.unwrap_or(ServerState::Initializing),
        Signal::classify(inputs),
    )
}

/// The transition table.
pub fn next(current: ServerState, signal: Signal) -> ServerState {
    use ServerState::*;
    match (signal, current) {
        (Signal::ScaledToZero, _) => Cold,
        (Signal::WorkloadFailing | Signal::FailureThresholdReached, _) => Dead,
        (Signal::Healthy, _) => Ready,
        // Not serving yet: a server that never served is starting; one that served has lost its replicas.
        (Signal::Starting, Cold | Initializing) => Initializing,
        (Signal::Starting, Ready | Degraded) => Degraded,
        // Dead stays Dead until it serves again.
        (Signal::Starting, Dead) => Dead,
        (Signal::CircuitOpen | Signal::ProbeFailing, Cold | Initializing) => Initializing,
        (Signal::CircuitOpen | Signal::ProbeFailing, Ready | Degraded) => Degraded,
        (Signal::CircuitOpen | Signal::ProbeFailing, Dead) => Dead,
        // Serving with fewer replicas than desired: a rollout still coming up, or a loss.
        (Signal::PartiallyReady, Cold | Initializing) => Initializing,
        (Signal::PartiallyReady, Ready | Degraded | Dead) => Degraded,
    }
}

/// The reason of the Event for a state change. The event recorder folds events
/// of one reason into a series, so each kind of change has a reason of its own.
pub fn event_reason(from: Option<ServerState>, to: ServerState) -> &'static str {
    match (from, to) {
        (Some(ServerState::Degraded | ServerState::Dead), ServerState::Ready) => "Recovered",
        (_, ServerState::Cold) => "ScaledToZero",
        (_, state) => state.as_str(),
    }
}

/// The reason and message of the Ready condition for a signal.
pub fn explain(
    signal: Signal,
    inputs: &Inputs,
    workload: Option<&Workload>,
) -> (&'static str, String) {
    let replicas = || {
        workload
            .map(|w| format!("{}/{} replicas ready", w.ready, w.desired))
            .unwrap_or_default()
    };
    let failing = || match &inputs.probe {
        Probe::Failing {
            consecutive,
            threshold,
            error,
        } => format!(
            "{consecutive} of {threshold} allowed consecutive health checks failed: {error}"
        ),
        Probe::CannotCheck { message, .. } => format!("no health check can be sent: {message}"),
        _ => String::new(),
    };
    match signal {
        Signal::ScaledToZero => (
            "ScaledToZero",
            "replicas is 0: the server starts on the first request through a gateway".into(),
        ),
        Signal::WorkloadFailing => match &inputs.workload {
            WorkloadHealth::Failing(reason) => ("WorkloadFailing", reason.clone()),
            _ => ("WorkloadFailing", replicas()),
        },
        Signal::FailureThresholdReached => ("HealthCheckFailed", failing()),
        Signal::Starting if inputs.workload == WorkloadHealth::NotRunning => {
            ("Starting", replicas())
        }
        Signal::Starting => ("Starting", "waiting for the first MCP health check".into()),
        Signal::CircuitOpen => (
            "CircuitOpen",
            "the circuit breaker is open: calls fail fast until a trial check passes".into(),
        ),
        Signal::ProbeFailing => ("HealthCheckFailing", failing()),
        Signal::PartiallyReady => ("ReplicasUnavailable", replicas()),
        Signal::Healthy => (
            "Serving",
            workload
                .map(|_| replicas())
                .unwrap_or_else(|| "the remote server answers MCP".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServerState::*;

    /// Every (state, signal) pair, and where it leads.
    const TABLE: [(ServerState, Signal, ServerState); 40] = [
        (Cold, Signal::ScaledToZero, Cold),
        (Cold, Signal::WorkloadFailing, Dead),
        (Cold, Signal::FailureThresholdReached, Dead),
        (Cold, Signal::Starting, Initializing),
        (Cold, Signal::CircuitOpen, Initializing),
        (Cold, Signal::ProbeFailing, Initializing),
        (Cold, Signal::PartiallyReady, Initializing),
        (Cold, Signal::Healthy, Ready),
        (Initializing, Signal::ScaledToZero, Cold),
        (Initializing, Signal::WorkloadFailing, Dead),
        (Initializing, Signal::FailureThresholdReached, Dead),
        (Initializing, Signal::Starting, Initializing),
        (Initializing, Signal::CircuitOpen, Initializing),
        (Initializing, Signal::ProbeFailing, Initializing),
        (Initializing, Signal::PartiallyReady, Initializing),
        (Initializing, Signal::Healthy, Ready),
        (Ready, Signal::ScaledToZero, Cold),
        (Ready, Signal::WorkloadFailing, Dead),
        (Ready, Signal::FailureThresholdReached, Dead),
        (Ready, Signal::Starting, Degraded),
        (Ready, Signal::CircuitOpen, Degraded),
        (Ready, Signal::ProbeFailing, Degraded),
        (Ready, Signal::PartiallyReady, Degraded),
        (Ready, Signal::Healthy, Ready),
        (Degraded, Signal::ScaledToZero, Cold),
        (Degraded, Signal::WorkloadFailing, Dead),
        (Degraded, Signal::FailureThresholdReached, Dead),
        (Degraded, Signal::Starting, Degraded),
        (Degraded, Signal::CircuitOpen, Degraded),
        (Degraded, Signal::ProbeFailing, Degraded),
        (Degraded, Signal::PartiallyReady, Degraded),
        (Degraded, Signal::Healthy, Ready),
        (Dead, Signal::ScaledToZero, Cold),
        (Dead, Signal::WorkloadFailing, Dead),
        (Dead, Signal::FailureThresholdReached, Dead),
        (Dead, Signal::Starting, Dead),
        (Dead, Signal::CircuitOpen, Dead),
        (Dead, Signal::ProbeFailing, Dead),
        (Dead, Signal::PartiallyReady, Degraded),
        (Dead, Signal::Healthy, Ready),
    ];

    #[test]
    fn the_table_covers_every_state_and_signal() {
        for state in ServerState::ALL {
            for signal in Signal::ALL {
                let rows = TABLE
                    .iter()
                    .filter(|(s, g, _)| *s == state && *g == signal)
                    .count();
                assert_eq!(rows, 1, "({state:?}, {signal:?}) must have exactly one row");
            }
        }
    }

    #[test]
    fn transitions_follow_the_table() {
        for (state, signal, expected) in TABLE {
            assert_eq!(next(state, signal), expected, "{state:?} + {signal:?}");
        }
    }

    fn inputs(workload: WorkloadHealth, probe: Probe, circuit: CircuitState) -> Inputs {
        Inputs {
            desired_replicas: 1,
            workload,
            probe,
            circuit,
        }
    }

    fn failing(consecutive: u32) -> Probe {
        Probe::Failing {
            consecutive,
            threshold: 3,
            error: "connection refused".into(),
        }
    }

    #[test]
    fn observations_classify_strongest_first() {
        use CircuitState::{Closed, HalfOpen, Open};
        use WorkloadHealth::{Full, NotRunning, Partial};
        let crash = || WorkloadHealth::Failing("CrashLoopBackOff".into());
        let cases = [
            (
                Inputs {
                    desired_replicas: 0,
                    ..inputs(crash(), failing(9), Open)
                },
                Signal::ScaledToZero,
            ),
            (inputs(crash(), failing(9), Open), Signal::WorkloadFailing),
            (
                inputs(Full, failing(3), Open),
                Signal::FailureThresholdReached,
            ),
            (inputs(NotRunning, failing(1), Open), Signal::Starting),
            (inputs(Full, failing(1), Open), Signal::CircuitOpen),
            (inputs(Full, Probe::Passing, HalfOpen), Signal::CircuitOpen),
            (inputs(Full, failing(2), Closed), Signal::ProbeFailing),
            (inputs(Full, Probe::NotYet, Closed), Signal::Starting),
            (
                inputs(Partial, Probe::Passing, Closed),
                Signal::PartiallyReady,
            ),
            (
                inputs(Partial, Probe::Disabled, Closed),
                Signal::PartiallyReady,
            ),
            (inputs(Full, Probe::Passing, Closed), Signal::Healthy),
            (inputs(Full, Probe::Disabled, Closed), Signal::Healthy),
        ];
        for (inputs, expected) in cases {
            assert_eq!(Signal::classify(&inputs), expected, "{inputs:?}");
        }
    }

    #[test]
    fn a_server_that_stops_answering_degrades_then_dies_and_recovers() {
        use WorkloadHealth::Full;
        let mut state = transition(None, &inputs(Full, Probe::Passing, CircuitState::Closed));
        let mut seen = vec![state];
        for probe in [failing(1), failing(2), failing(3), Probe::Passing] {
            state = transition(Some(state), &inputs(Full, probe, CircuitState::Closed));
            seen.push(state);
        }
        assert_eq!(seen, [Ready, Degraded, Degraded, Dead, Ready]);
    }

    #[test]
    fn failing_pods_are_named() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "tools-5d9"},
            "status": {"containerStatuses": [{
                "name": "mcp-server", "image": "x", "imageID": "", "ready": false, "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}
            }]}
        }))
        .unwrap();
        assert_eq!(
            pods_failing(&[pod]).as_deref(),
            Some(
                "pod tools-5d9 container mcp-server: CrashLoopBackOff: back-off 5m0s restarting failed container"
            )
        );
    }
}
