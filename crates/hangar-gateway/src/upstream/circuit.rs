//! The circuit breaker's say over each call: admission, and the outcome it learns.

use std::time::{Duration, Instant};

use hangar_circuit::{Rejected, State as CircuitState};
use hangar_config::DurationSpec;
use rmcp::model::ServerResult;

use super::{Failure, Upstream};

impl Upstream {
    pub(super) fn circuit_message(&self, rejected: Rejected) -> String {
        let name = self.name();
        if rejected.retry_after.is_zero() {
            return format!(
                "MCP server {name} is failing: its circuit breaker is letting one trial call through and it has not answered yet; try again shortly"
            );
        }
        let last = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let threshold = self.lock_breaker().settings().failure_threshold;
        // Whole seconds, rounded up: "in 0s" would read as "now".
        let wait = DurationSpec(Duration::from_secs(
            rejected.retry_after.as_secs_f64().ceil() as u64,
        ));
        format!(
            "MCP server {name} is failing: its circuit breaker opened after {threshold} consecutive failed calls (the last: {last}); the gateway refuses its calls for another {wait}, then lets one trial call through"
        )
    }

    /// Passes the circuit breaker, or fails fast while it is open.
    pub(super) fn admit(&self) -> Result<Permit<'_>, Failure> {
        let admitted = self.lock_breaker().try_acquire(Instant::now());
        match admitted {
            Ok(()) => Ok(Permit {
                upstream: self,
                settled: false,
            }),
            Err(rejected) => {
                self.metrics.upstream_error(self.name(), "circuit_open");
                crate::audit::note(|trail| trail.circuit_open = true);
                Err(Failure::Unavailable(self.circuit_message(rejected)))
            }
        }
    }
}

/// A call the circuit breaker let through; its outcome must be recorded.
/// Dropped unsettled (the caller went away), it frees a half-open trial slot.
pub(super) struct Permit<'a> {
    pub(super) upstream: &'a Upstream,
    pub(super) settled: bool,
}

impl Permit<'_> {
    pub(super) fn settle(self, result: &Result<ServerResult, Failure>) {
        match result {
            // An answer, even an error, shows the server works.
            Ok(_) | Err(Failure::Rpc(_)) => self.succeeded(),
            Err(failure @ Failure::Unavailable(_)) => self.failed(failure),
            Err(Failure::Gateway(_)) => {}
        }
    }

    fn succeeded(mut self) {
        self.settled = true;
        self.upstream.lock_breaker().record_success();
    }

    pub(super) fn failed(mut self, failure: &Failure) {
        self.settled = true;
        if let Failure::Unavailable(why) | Failure::Gateway(why) = failure {
            *self
                .upstream
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = why.clone();
        }
        let mut breaker = self.upstream.lock_breaker();
        let was_open = breaker.state(Instant::now()) != CircuitState::Closed;
        breaker.record_failure(Instant::now());
        if !was_open && breaker.state(Instant::now()) == CircuitState::Open {
            tracing::warn!(
                server = self.upstream.name(),
                failures = breaker.consecutive_failures(),
                reset_after = %DurationSpec(breaker.settings().reset_timeout),
                "circuit breaker opened: calls fail fast until a trial call succeeds"
            );
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.upstream.lock_breaker().release();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hangar_config::{CircuitBreakerSettings, ProtocolPreference, ServerSpec, Transport};
    use rmcp::ErrorData;

    use super::*;
    use crate::metrics::Metrics;
    use crate::upstream::UpstreamContext;

    /// An upstream whose process never starts: only its breaker matters here.
    fn upstream(threshold: u32) -> Arc<Upstream> {
        let spec = ServerSpec {
            name: "broken".into(),
            transport: Transport::Stdio,
            url: None,
            headers: vec![],
            auth: None,
            command: Some("/nonexistent/mcp-server".into()),
            args: vec![],
            env: vec![],
            cwd: None,
            prefix: None,
            timeout: None,
            connect_timeout: DurationSpec(Duration::from_secs(1)),
            protocol: ProtocolPreference::Auto,
            expose: true,
            circuit_breaker: CircuitBreakerSettings {
                enabled: true,
                failure_threshold: threshold,
                reset_timeout: DurationSpec(Duration::from_secs(60)),
            },
            scale_to_zero: None,
            client_sessions: 0,
        };
        Upstream::start(
            spec,
            String::new(),
            UpstreamContext {
                default_timeout: Duration::from_secs(1),
                metrics: Arc::new(Metrics::new()),
                http: reqwest::Client::new(),
                activity: None,
                discovery: None,
                on_change: Arc::new(|| {}),
                environment: hangar_config::Environment::Process,
                standalone_log: Arc::new(|_, _, _| {}),
            },
        )
    }

    fn unavailable() -> Result<ServerResult, Failure> {
        Err(Failure::Unavailable("the connection was lost".into()))
    }

    #[tokio::test]
    async fn failures_open_the_circuit_answers_reset_it_and_the_gateways_own_give_ups_do_not_count()
    {
        let upstream = upstream(2);
        upstream.admit().unwrap().settle(&unavailable());
        // A JSON-RPC error is an answer: the server works.
        upstream
            .admit()
            .unwrap()
            .settle(&Err(Failure::Rpc(ErrorData::invalid_params("no", None))));
        upstream.admit().unwrap().settle(&unavailable());
        // The gateway gave up (the client cancelled): the server is not to blame.
        upstream
            .admit()
            .unwrap()
            .settle(&Err(Failure::Gateway("cancelled".into())));
        assert_eq!(upstream.circuit(), CircuitState::Closed);
        upstream.admit().unwrap().settle(&unavailable());
        assert_eq!(upstream.circuit(), CircuitState::Open);
        let Err(Failure::Unavailable(why)) = upstream.admit() else {
            panic!("an open circuit fails fast")
        };
        assert!(
            why.contains("opened after 2 consecutive failed calls")
                && why.contains("the connection was lost"),
            "{why}"
        );
        upstream.shutdown();
    }
}
