//! A circuit breaker per MCP server: closed → open after `failure_threshold`
//! consecutive failures → half-open after `reset_timeout`, when one trial call
//! decides whether it closes again or reopens.
//!
//! Pure logic with the clock passed in, so the operator (health checks) and the
//! gateway (upstream calls) share one implementation and tests need no sleeps.

use std::time::{Duration, Instant};

/// How a breaker trips and recovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// A disabled breaker never opens.
    pub enabled: bool,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a trial call is let through.
    pub reset_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            reset_timeout: Duration::from_secs(30),
        }
    }
}

/// Where a breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow.
    Closed,
    /// Calls fail fast until the reset timeout has passed.
    Open,
    /// The reset timeout passed: one trial call may go through.
    HalfOpen,
}

/// A call the breaker refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// When a trial call will be allowed (zero while a trial is already in flight).
    pub retry_after: Duration,
}

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    settings: Settings,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            consecutive_failures: 0,
            opened_at: None,
            trial_in_flight: false,
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Changes the settings, keeping the failure count and an open circuit open.
    pub fn reconfigure(&mut self, settings: Settings) {
        self.settings = settings;
        if !settings.enabled {
            self.close();
        }
    }

    pub fn state(&self, now: Instant) -> State {
        match self.opened_at {
            None => State::Closed,
            Some(opened)
                if now.saturating_duration_since(opened) >= self.settings.reset_timeout =>
            {
                State::HalfOpen
            }
            Some(_) => State::Open,
        }
    }

    /// When the circuit last opened, while it is not closed.
    pub fn opened_at(&self) -> Option<Instant> {
        self.opened_at
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Asks to make a call. Half-open lets exactly one trial through at a time.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Rejected> {
        match self.state(now) {
            State::Closed => Ok(()),
            State::HalfOpen if !self.trial_in_flight => {
                self.trial_in_flight = true;
                Ok(())
            }
            State::HalfOpen => Err(Rejected {
                retry_after: Duration::ZERO,
            }),
            State::Open => {
                let opened = self.opened_at.unwrap_or(now);
                Err(Rejected {
                    retry_after: self.settings.reset_timeout.saturating_sub(now - opened),
                })
            }
        }
    }

    /// A call (or health check) succeeded: the circuit closes.
    pub fn record_success(&mut self) {
        self.close();
    }

    /// A call (or health check) failed.
    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if !self.settings.enabled {
            return;
        }
        let trial_failed = self.trial_in_flight;
        self.trial_in_flight = false;
        if trial_failed || self.consecutive_failures >= self.settings.failure_threshold {
            self.opened_at = Some(now);
        }
    }

    /// A call that was let through ended without an outcome about the server
    /// (e.g. the client cancelled it): a half-open trial slot is freed.
    pub fn release(&mut self) {
        self.trial_in_flight = false;
    }

    fn close(&mut self) {
        self.consecutive_failures = 0;
        self.opened_at = None;
        self.trial_in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, reset_secs: u64) -> CircuitBreaker {
        CircuitBreaker::new(Settings {
            enabled: true,
            failure_threshold: threshold,
            reset_timeout: Duration::from_secs(reset_secs),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker(3, 10);
        b.record_failure(t0);
        b.record_failure(t0);
        assert_eq!(b.state(t0), State::Closed);
        assert!(b.try_acquire(t0).is_ok());
        b.record_failure(t0);
        assert_eq!(b.state(t0), State::Open);
        let rejected = b.try_acquire(t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!(rejected.retry_after, Duration::from_secs(6));
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker(2, 10);
        b.record_failure(t0);
        b.record_success();
        b.record_failure(t0);
        assert_eq!(b.state(t0), State::Closed);
        assert_eq!(b.consecutive_failures(), 1);
    }

    #[test]
    fn half_open_allows_one_trial_that_decides() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut b = breaker(1, 10);
        b.record_failure(t0);
        assert_eq!(b.state(later), State::HalfOpen);
        assert!(b.try_acquire(later).is_ok(), "the trial call");
        assert_eq!(
            b.try_acquire(later).unwrap_err().retry_after,
            Duration::ZERO,
            "only one trial at a time"
        );
        b.record_failure(later);
        assert_eq!(
            b.state(later),
            State::Open,
            "a failed trial reopens for a full reset timeout"
        );
        assert_eq!(b.state(later + Duration::from_secs(9)), State::Open);

        let again = later + Duration::from_secs(10);
        assert!(b.try_acquire(again).is_ok());
        b.record_success();
        assert_eq!(b.state(again), State::Closed);
        assert!(b.try_acquire(again).is_ok());
    }

    #[test]
    fn a_released_trial_frees_the_slot() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        let mut b = breaker(1, 1);
        b.record_failure(t0);
        assert!(b.try_acquire(later).is_ok());
        b.release();
        assert!(b.try_acquire(later).is_ok());
    }

    #[test]
    fn a_disabled_breaker_never_opens_but_still_counts() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(Settings {
            enabled: false,
            ..Settings::default()
        });
        for _ in 0..100 {
            b.record_failure(t0);
        }
        assert_eq!(b.state(t0), State::Closed);
        assert_eq!(b.consecutive_failures(), 100);
        assert!(b.try_acquire(t0).is_ok());
    }

    #[test]
    fn disabling_an_open_breaker_closes_it() {
        let t0 = Instant::now();
        let mut b = breaker(1, 60);
        b.record_failure(t0);
        b.reconfigure(Settings {
            enabled: false,
            ..b.settings()
        });
        assert_eq!(b.state(t0), State::Closed);
    }
}
