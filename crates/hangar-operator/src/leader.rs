//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go does it.
//!
//! The holder renews the Lease every retry period. A standby takes it when the
//! holder has not renewed it for the lease duration, measured on the standby's
//! own clock from the moment it last saw the Lease change (so clock skew
//! between replicas does not matter), or at once when the holder released it.
//! A holder that cannot renew within the renew deadline stops leading; the
//! renew deadline is shorter than the lease duration, so it stops before
//! anyone else may start. Every write carries the resourceVersion it read, so
//! two replicas can never both win the same round.

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where the Lease is and how it is held.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's name in `holderIdentity`; unique per replica.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal.
    pub lease_duration: Duration,
    /// How long the holder keeps trying to renew before it stops leading.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// The order client-go requires: retry period < renew deadline < lease duration.
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("the leader election retry period must be greater than zero".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "the leader election renew deadline ({:?}) must be longer than the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "the leader election lease duration ({:?}) must be longer than the renew deadline ({:?}), \
                 so a leader that cannot renew stops before another replica may take over",
                self.lease_duration, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// This replica's part in the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Has not read the Lease yet, or not since it lost it.
    Candidate,
    /// Another replica holds the Lease; this one is ready to take over.
    Standby { holder: String },
    /// Holds the Lease and runs the controllers.
    Leader,
    /// Gave the Lease up on shutdown.
    Released,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Candidate => "candidate",
            Role::Standby { .. } => "standby",
            Role::Leader => "leader",
            Role::Released => "released",
        })
    }
}

/// What `/readyz` reports about the election.
#[derive(Clone, Debug)]
pub struct ElectionStatus {
    pub role: Role,
    /// The last time the API server answered a Lease read or write.
    pub last_contact: Option<Instant>,
}

/// Why a leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum LostLease {
    #[error("could not renew the lease within the renew deadline ({0:?})")]
    RenewDeadline(Duration),
    #[error("{0} holds the lease now")]
    TakenBy(String),
}

pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    status: watch::Sender<ElectionStatus>,
    /// The Lease's resourceVersion as last seen, and when it was first seen.
    observed: Mutex<Option<(String, Instant)>>,
}

/// The outcome of one attempt to acquire or renew.
enum Attempt {
    Holding,
    HeldBy(String),
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        let (status, _) = watch::channel(ElectionStatus {
            role: Role::Candidate,
            last_contact: None,
        });
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            status,
            observed: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Follows the election, e.g. for `/readyz`.
    pub fn status(&self) -> watch::Receiver<ElectionStatus> {
        self.status.subscribe()
    }

    /// Tries every retry period until this replica holds the Lease. Returns
    /// false when `stop` fires first.
    pub async fn acquire(&self, stop: &CancellationToken) -> bool {
        let mut last_holder = None;
        loop {
            // A frozen API server must not hold up the next attempt.
            let attempt =
                tokio::time::timeout(self.settings.renew_deadline, self.try_acquire_or_renew())
                    .await
                    .unwrap_or_else(|_| {
                        Err(kube::Error::Service(
                            "no answer within the renew deadline".into(),
                        ))
                    });
            match attempt {
                Ok(Attempt::Holding) => {
                    self.set_role(Role::Leader);
                    tracing::info!(lease = %self.lease(), identity = %self.settings.identity, "acquired the leader lease");
                    return true;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.lease(), %holder, "standing by: another replica leads");
                        last_holder = Some(holder.clone());
                    }
                    self.set_role(Role::Standby { holder });
                }
                Err(error) => {
                    tracing::warn!(lease = %self.lease(), %error, "cannot read or take the leader lease")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(self.settings.retry_period) => {}
            }
        }
    }

    /// Runs `work` while renewing the Lease every retry period. When the
    /// Lease is lost, `work` is dropped at once (cancelling whatever it was
    /// doing) so that this replica writes nothing after another may lead.
    pub async fn hold<F: Future>(&self, work: F) -> Result<F::Output, LostLease> {
        let LeaseSettings {
            renew_deadline,
            retry_period,
            ..
        } = self.settings;
        tokio::pin!(work);
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                output = &mut work => return Ok(output),
                _ = tokio::time::sleep(retry_period) => {}
            }
            let deadline = renewed + renew_deadline;
            let attempt = tokio::time::timeout_at(deadline, self.try_acquire_or_renew());
            tokio::select! {
                output = &mut work => return Ok(output),
                outcome = attempt => match outcome {
                    Ok(Ok(Attempt::Holding)) => renewed = Instant::now(),
                    Ok(Ok(Attempt::HeldBy(holder))) => {
                        self.set_role(Role::Standby { holder: holder.clone() });
                        return Err(LostLease::TakenBy(holder));
                    }
                    Ok(Err(error)) if Instant::now() < deadline => {
                        tracing::warn!(lease = %self.lease(), %error, "could not renew the leader lease; retrying");
                    }
                    Ok(Err(_)) | Err(_) => {
                        // Not ready until it has read the Lease again.
                        self.set_role(Role::Candidate);
                        return Err(LostLease::RenewDeadline(renew_deadline));
                    }
                },
            }
        }
    }

    /// Gives the Lease up (no holder) so that a standby takes over at its
    /// next attempt instead of waiting for the Lease to expire.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.take().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(&self.settings.identity) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        // What client-go writes on release: a lease that anyone may take.
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {}
            // Someone wrote it since we read it: then it is no longer ours to release.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error),
        }
        self.set_role(Role::Released);
        tracing::info!(lease = %self.lease(), "released the leader lease");
        Ok(())
    }

    async fn try_acquire_or_renew(&self) -> Result<Attempt, kube::Error> {
        let LeaseSettings {
            name,
            identity,
            lease_duration,
            ..
        } = &self.settings;
        let now = MicroTime(Timestamp::now());
        let duration_seconds = i32::try_from(lease_duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.contact(&created);
                    Ok(Attempt::Holding)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    self.touch();
                    Ok(Attempt::HeldBy("(another replica, just now)".into()))
                }
                Err(error) => Err(error),
            };
        };
        let first_seen = self.contact(&lease);
        let mut spec = lease.spec.take().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let valid_for = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(*lease_duration, Duration::from_secs);
        if let Some(holder) = &holder
            && holder != identity
            && first_seen.elapsed() < valid_for
        {
            return Ok(Attempt::HeldBy(holder.clone()));
        }
        if holder.as_deref() != Some(identity) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(identity.clone());
        spec.lease_duration_seconds = Some(duration_seconds);
        spec.renew_time = Some(now);
        lease.spec = Some(spec);
        // `lease` carries the resourceVersion we read: a concurrent writer gets 409.
        match self.api.replace(name, &PostParams::default(), &lease).await {
            Ok(updated) => {
                self.contact(&updated);
                Ok(Attempt::Holding)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.touch();
                Ok(Attempt::HeldBy(
                    holder.unwrap_or_else(|| "(another replica, just now)".into()),
                ))
            }
            Err(error) => Err(error),
        }
    }

    /// Notes an answer from the API server with this Lease in it; returns when
    /// this version of the Lease was first seen.
    fn contact(&self, lease: &Lease) -> Instant {
        self.touch();
        let version = lease.resource_version().unwrap_or_default();
        let mut observed = self.observed.lock().expect("lease observation lock");
        match &*observed {
            Some((seen, at)) if *seen == version => *at,
            _ => {
                let now = Instant::now();
                *observed = Some((version, now));
                now
            }
        }
    }

    /// Notes that the API server answered.
    fn touch(&self) {
        self.status
            .send_modify(|status| status.last_contact = Some(Instant::now()));
    }

    fn set_role(&self, role: Role) {
        self.status.send_if_modified(|status| {
            let changed = status.role != role;
            status.role = role;
            changed
        });
    }

    fn lease(&self) -> String {
        format!("{}/{}", self.settings.namespace, self.settings.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lease: u64, renew: u64, retry: u64) -> LeaseSettings {
        LeaseSettings {
            name: "hangar-operator".into(),
            namespace: "hangar-system".into(),
            identity: "a".into(),
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(settings(15, 10, 2).validate(), Ok(()));
    }

    #[test]
    fn a_renew_deadline_as_long_as_the_lease_is_refused() {
        let error = settings(10, 10, 2).validate().unwrap_err();
        assert!(
            error.contains("lease duration (10s) must be longer than the renew deadline (10s)"),
            "{error}"
        );
    }

    #[test]
    fn a_retry_period_as_long_as_the_renew_deadline_is_refused() {
        let error = settings(15, 2, 2).validate().unwrap_err();
        assert!(
            error.contains("renew deadline (2s) must be longer than the retry period (2s)"),
            "{error}"
        );
    }
}
