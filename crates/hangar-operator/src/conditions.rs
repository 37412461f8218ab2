//! Conditions that keep their `lastTransitionTime` while their status holds.

use hangar_api::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// A condition as the reconciler wants it, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    /// `None` is Unknown.
    pub status: Option<bool>,
    pub reason: String,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status: Some(status),
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn unknown(
        type_: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status: None,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Turns desired conditions into API conditions for `generation`, keeping the
/// transition time of any condition whose status did not change.
pub fn merge(
    previous: &[Condition],
    desired: Vec<Desired>,
    generation: Option<i64>,
) -> Vec<Condition> {
    let now = Time(Timestamp::now());
    desired
        .into_iter()
        .map(|want| {
            let status = match want.status {
                Some(true) => "True",
                Some(false) => "False",
                None => "Unknown",
            }
            .to_string();
            let last_transition_time = previous
                .iter()
                .find(|old| old.type_ == want.type_ && old.status == status)
                .map(|old| old.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: want.type_.to_string(),
                status,
                reason: want.reason,
                // Messages quote servers and registries: bounded, so a long
                // answer cannot make the status too large to write.
                message: hangar_api::fit(&want.message, hangar_api::MAX_CONDITION_MESSAGE)
                    .into_owned(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let long_ago = Time("2020-01-01T00:00:00Z".parse().unwrap());
        let previous = vec![
            Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "Old".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: long_ago.clone(),
            },
            Condition {
                type_: "Available".into(),
                status: "False".into(),
                reason: "Old".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: long_ago.clone(),
            },
        ];
        let merged = merge(
            &previous,
            vec![
                Desired::new("Ready", true, "StillReady", "ok"),
                Desired::new("Available", true, "NowAvailable", "ok"),
            ],
            Some(2),
        );
        assert_eq!(
            merged[0].last_transition_time, long_ago,
            "Ready stayed True"
        );
        assert_eq!(merged[0].reason, "StillReady");
        assert_eq!(merged[0].observed_generation, Some(2));
        assert_ne!(
            merged[1].last_transition_time, long_ago,
            "Available flipped"
        );
    }
}
