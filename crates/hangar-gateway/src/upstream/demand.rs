//! Scale to zero: a server connected only while calls need it. The first
//! call wakes it (reporting activity to whatever runs it) and waits for it to
//! answer; `idleTTL` after the last call the gateway disconnects.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hangar_config::ScaleToZero;
use tokio::sync::Notify;

use super::{Failure, Status, Upstream};
use crate::activity::ActivitySink;

/// When a scale-to-zero server is needed, and who starts it.
pub(super) struct Demand {
    pub(super) settings: ScaleToZero,
    pub(super) sink: Option<Arc<dyn ActivitySink>>,
    /// The last call (or listing) that needed the server.
    pub(super) last_call: Mutex<Option<Instant>>,
    /// Since when the server is being woken, until it answers: a server
    /// slower to start than its `idleTTL` must not be given up (by this
    /// gateway or, through its activity Lease, by the operator) before it
    /// answered, as long as its wake timeout allows.
    pub(super) waking_since: Mutex<Option<Instant>>,
    /// Wakes the supervisor out of idleness.
    pub(super) wanted: Notify,
    /// Wakes the activity reporter.
    pub(super) report: Notify,
    /// The last activity report's error, for wake timeouts.
    pub(super) report_error: Mutex<Option<String>>,
    /// Activity reports sent so far.
    pub(super) reports: AtomicU64,
}

impl Demand {
    pub(super) fn last_call(&self) -> Option<Instant> {
        *self.last_call.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Until when the calls so far keep the server connected.
    pub(super) fn awake_until(&self) -> Option<Instant> {
        self.last_call().map(|at| at + self.settings.idle_ttl.0)
    }
    pub(super) fn wanted_now(&self) -> bool {
        self.waking()
            || self
                .awake_until()
                .is_some_and(|until| until > Instant::now())
    }
    /// A wake is under way and within the wake timeout.
    pub(super) fn waking(&self) -> bool {
        self.waking_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|since| since.elapsed() < self.settings.wake_timeout.0)
    }
    /// The server answered: a wake under way is over, and `idleTTL` counts
    /// from now, not from the call that began it.
    pub(super) fn answered(&self) {
        let woken = self
            .waking_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // The activity reporter covers the new last call on its next round.
        if woken.is_some() {
            *self.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }
}

impl Demand {
    pub(super) fn new(settings: ScaleToZero, sink: Option<Arc<dyn ActivitySink>>) -> Self {
        Self {
            settings,
            sink,
            last_call: Mutex::new(None),
            waking_since: Mutex::new(None),
            wanted: Notify::new(),
            report: Notify::new(),
            report_error: Mutex::new(None),
            reports: AtomicU64::new(0),
        }
    }
}

impl Upstream {
    /// Notes that a caller needs the server: a scale-to-zero server is woken
    /// (its activity reported, the supervisor connecting) and kept awake
    /// until `idleTTL` after the last such call. Returns at once.
    pub fn needed(&self) {
        let Some(demand) = &self.demand else {
            return;
        };
        let now = Instant::now();
        *demand.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        if !matches!(self.read().status, Status::Ready { .. }) {
            let mut waking = demand
                .waking_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // A wake that timed out begins again.
            if !waking.is_some_and(|since| since.elapsed() < demand.settings.wake_timeout.0) {
                *waking = Some(now);
            }
            drop(waking);
            demand.wanted.notify_one();
        }
        if demand.sink.is_some() {
            demand.report.notify_one();
        }
    }

    /// Wakes a scale-to-zero server that has never been listed, so that its
    /// tools become known (announced with `list_changed` once it answers).
    pub fn discover(&self) {
        if self.demand.is_some() && self.read().listing.is_none() {
            self.needed();
        }
    }

    /// Makes sure a scale-to-zero server is connected, waking it and waiting
    /// for it up to its wake timeout.
    pub(super) async fn wake(&self) -> Result<(), Failure> {
        let Some(demand) = &self.demand else {
            return Ok(());
        };
        self.needed();
        let mut changes = self.status_changes.subscribe();
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + demand.settings.wake_timeout.0;
        loop {
            if matches!(self.read().status, Status::Ready { .. }) {
                let waited = started.elapsed();
                if waited > Duration::from_millis(10) {
                    tracing::info!(
                        server = self.name(),
                        ms = waited.as_millis() as u64,
                        "woken server answers"
                    );
                }
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(self.unavailable()),
                Err(_) => return Err(self.wake_timed_out(demand).await),
            }
        }
    }

    async fn wake_timed_out(&self, demand: &Demand) -> Failure {
        self.metrics.upstream_error(self.name(), "wake_timeout");
        let mut message = format!(
            "MCP server {} did not answer within its wake timeout of {}",
            self.name(),
            demand.settings.wake_timeout
        );
        if let Status::Down { error, .. } = &self.read().status {
            message.push_str(&format!(" (the last attempt: {error})"));
        }
        if let Some(error) = demand
            .report_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            message.push_str(&format!("; {error}"));
        }
        if let Some(sink) = &demand.sink
            && let Some(explained) = sink.explain(&self.spec).await
        {
            message.push_str(&format!("; {explained}"));
        }
        Failure::Unavailable(message)
    }
}

/// A scale-to-zero server without calls for its `idleTTL`: disconnected (its
/// names stay listed), and whatever runs it told it may stop.
pub(super) async fn go_idle(upstream: &Upstream, on_change: &Arc<dyn Fn() + Send + Sync>) {
    let was_running = {
        let mut state = upstream.write();
        let was_running = !matches!(state.status, Status::Idle { .. } | Status::Starting);
        if !matches!(state.status, Status::Idle { .. }) {
            upstream.set_status(
                &mut state,
                Status::Idle {
                    since: Instant::now(),
                },
            );
        }
        state.peer = None;
        was_running
    };
    upstream.close_own_sessions();
    upstream.metrics.set_upstream_up(upstream.name(), false);
    // After a probe found it running, nothing was started for this gateway.
    let called = upstream
        .demand
        .as_ref()
        .is_some_and(|d| d.last_call().is_some());
    if was_running && called {
        tracing::info!(
            server = upstream.name(),
            "scale-to-zero server idle; disconnected"
        );
        if let Some(sink) = upstream.demand.as_ref().and_then(|d| d.sink.as_ref()) {
            sink.idle(&upstream.spec).await;
        }
    }
    if !upstream.first_attempt.send_replace(true) {
        on_change();
    }
}

/// Reports a scale-to-zero server's activity: at once when a call needs it
/// after a quiet spell, then at most once per activity interval while calls
/// keep coming, and once more after a burst so the last call is covered.
pub(super) async fn report_activity(upstream: Arc<Upstream>) {
    let Some(demand) = &upstream.demand else {
        return;
    };
    let Some(sink) = &demand.sink else {
        return;
    };
    let interval = demand.settings.activity_interval();
    let mut last_report: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = upstream.stop.cancelled() => return,
            _ = demand.report.notified() => {}
        }
        // Reports follow calls; a call already covered by a report needs none.
        while upstream.in_flight() > 0
            || demand.waking()
            || demand
                .last_call()
                .is_some_and(|call| last_report.is_none_or(|report| call >= report))
        {
            last_report = Some(Instant::now());
            let outcome = sink.report(&upstream.spec).await;
            demand.reports.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = &outcome {
                tracing::warn!(server = upstream.name(), %error, "cannot report activity");
            }
            *demand
                .report_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = outcome.err();
            tokio::select! {
                _ = upstream.stop.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// Resolves when a scale-to-zero server's last call ended `idleTTL` ago.
pub(super) async fn idle_deadline(upstream: &Upstream) {
    let Some(demand) = &upstream.demand else {
        return std::future::pending().await;
    };
    loop {
        match demand.awake_until() {
            Some(until) if until > Instant::now() => tokio::time::sleep_until(until.into()).await,
            // A call longer than idleTTL still needs the server.
            _ if upstream.in_flight() > 0 => tokio::time::sleep(Duration::from_secs(1)).await,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use hangar_config::DurationSpec;

    use super::*;

    fn demand(idle_ttl: Duration) -> Demand {
        Demand::new(
            ScaleToZero {
                idle_ttl: DurationSpec(idle_ttl),
                wake_timeout: DurationSpec(Duration::from_secs(5)),
                mcp_server: None,
                activity_lease: None,
            },
            None,
        )
    }

    #[test]
    fn a_server_is_wanted_from_a_call_until_idle_ttl_after_it() {
        let idle = demand(Duration::from_secs(60));
        assert_eq!(idle.awake_until(), None);
        assert!(!idle.wanted_now(), "nobody has called");
        let called = Instant::now();
        *idle.last_call.lock().unwrap() = Some(called);
        assert_eq!(idle.awake_until(), Some(called + Duration::from_secs(60)));
        assert!(idle.wanted_now());
        let long_ago = Instant::now().checked_sub(Duration::from_secs(61));
        if let Some(long_ago) = long_ago {
            *idle.last_call.lock().unwrap() = Some(long_ago);
            assert!(!idle.wanted_now(), "idleTTL has passed since the last call");
        }
    }

    #[test]
    fn a_server_being_woken_is_wanted_until_it_answers_or_its_wake_timeout() {
        // idleTTL 1 s, wake timeout 5 s: a server taking 3 s to start.
        let slow = demand(Duration::from_secs(1));
        let (Some(called), Some(timed_out)) = (
            Instant::now().checked_sub(Duration::from_secs(3)),
            Instant::now().checked_sub(Duration::from_secs(6)),
        ) else {
            return;
        };
        *slow.last_call.lock().unwrap() = Some(called);
        *slow.waking_since.lock().unwrap() = Some(called);
        assert!(slow.waking());
        assert!(slow.wanted_now(), "still starting, within the wake timeout");
        slow.answered();
        assert!(!slow.waking());
        assert!(slow.wanted_now(), "idleTTL counts from the answer");
        assert!(slow.last_call().is_some_and(|at| at > called));

        *slow.last_call.lock().unwrap() = Some(timed_out);
        *slow.waking_since.lock().unwrap() = Some(timed_out);
        assert!(!slow.wanted_now(), "the wake timed out");
    }
}
