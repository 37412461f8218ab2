//! What an MCPServer's status says, derived from what was applied and observed.

use hangar_api::{ServerMode, ServerState, condition};
use k8s_openapi::api::apps::v1::Deployment;

use crate::conditions::Desired;

/// What the Deployment reported about the workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// Replicas the Deployment wants (the spec, or the autoscaler's choice).
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
                .map(|c| (c.status.as_str() == "True", c.reason.clone()))
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
    fn rolled_out(&self) -> bool {
        self.observed_current
            && self.available_condition
            && self.updated >= self.desired
            && self.available >= self.desired
            && self.replicas == self.updated
    }
}

/// The state and conditions of a server, from its mode and observed workload.
pub fn derive(mode: ServerMode, workload: Option<&Workload>) -> (ServerState, Vec<Desired>) {
    match (mode, workload) {
        (ServerMode::Remote, _) => (
            ServerState::Initializing,
            vec![Desired::new(
                condition::READY,
                false,
                "AwaitingHealthCheck",
                "remote server: no workload to run; readiness comes from the MCP health check",
            )],
        ),
        (ServerMode::Container, None) => (
            ServerState::Initializing,
            vec![Desired::new(
                condition::READY,
                false,
                "WorkloadMissing",
                "the Deployment has not been created yet",
            )],
        ),
        (ServerMode::Container, Some(workload)) => container(workload),
    }
}

fn container(workload: &Workload) -> (ServerState, Vec<Desired>) {
    let counts = format!("{}/{} replicas ready", workload.ready, workload.desired);
    let available = Desired::new(
        condition::AVAILABLE,
        workload.available_condition,
        if workload.available_condition {
            "MinimumReplicasAvailable"
        } else {
            "MinimumReplicasUnavailable"
        },
        counts.clone(),
    );
    let progressing = if workload.progress_deadline_exceeded {
        Desired::new(
            condition::PROGRESSING,
            false,
            "ProgressDeadlineExceeded",
            "the rollout made no progress in time",
        )
    } else if workload.rolled_out() || workload.desired == 0 {
        Desired::new(
            condition::PROGRESSING,
            false,
            "RolloutComplete",
            counts.clone(),
        )
    } else {
        Desired::new(
            condition::PROGRESSING,
            true,
            "RollingOut",
            format!("{} updated, {counts}", workload.updated),
        )
    };
    let (state, ready) = if workload.desired == 0 {
        (
            ServerState::Cold,
            Desired::new(
                condition::READY,
                false,
                "ScaledToZero",
                "replicas is 0: the server starts on demand",
            ),
        )
    } else if workload.rolled_out() {
        (
            ServerState::Ready,
            Desired::new(condition::READY, true, "WorkloadAvailable", counts),
        )
    } else {
        (
            ServerState::Initializing,
            Desired::new(condition::READY, false, "WorkloadNotAvailable", counts),
        )
    };
    (state, vec![ready, available, progressing])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolled_out(desired: i32) -> Workload {
        Workload {
            desired,
            replicas: desired,
            ready: desired,
            available: desired,
            updated: desired,
            observed_current: true,
            available_condition: true,
            progress_deadline_exceeded: false,
        }
    }

    #[test]
    fn zero_replicas_is_cold() {
        let (state, conditions) = derive(
            ServerMode::Container,
            Some(&Workload {
                desired: 0,
                ..rolled_out(0)
            }),
        );
        assert_eq!(state, ServerState::Cold);
        assert_eq!(conditions[0].reason, "ScaledToZero");
    }

    #[test]
    fn available_and_rolled_out_is_ready() {
        let (state, conditions) = derive(ServerMode::Container, Some(&rolled_out(2)));
        assert_eq!(state, ServerState::Ready);
        assert!(
            conditions
                .iter()
                .all(|c| c.type_ != condition::PROGRESSING || !c.status)
        );
    }

    #[test]
    fn anything_short_of_rolled_out_is_initializing() {
        let cases = [
            Workload {
                observed_current: false,
                ..rolled_out(1)
            },
            Workload {
                available_condition: false,
                ..rolled_out(1)
            },
            Workload {
                available: 1,
                ready: 1,
                ..rolled_out(2)
            },
            Workload {
                updated: 1,
                replicas: 2,
                ..rolled_out(2)
            },
            Workload::default_for(1),
        ];
        for workload in cases {
            assert_eq!(
                derive(ServerMode::Container, Some(&workload)).0,
                ServerState::Initializing,
                "{workload:?}"
            );
        }
        assert_eq!(
            derive(ServerMode::Container, None).0,
            ServerState::Initializing
        );
    }

    impl Workload {
        fn default_for(desired: i32) -> Self {
            Workload {
                desired,
                ..Workload::default()
            }
        }
    }
}
