//! Connections to upstream MCP servers: connecting (stdio child, Streamable
//! HTTP, legacy SSE), listing everything they offer, following their
//! `list_changed` notifications, reconnecting with backoff, and forwarding
//! calls together with the progress, log and server-to-client traffic that
//! belongs to each call.
//!
//! Every call passes the server's circuit breaker. A scale-to-zero server
//! (`scaleToZero`) is connected only while calls need it: the first call
//! wakes it (reporting activity to whatever runs it) and waits for it to
//! answer; `idleTTL` after the last call the gateway disconnects.
//!
//! - [`state`]: what an upstream is and offers, and why a call failed.
//! - `call`: forwarding one request (admission, waking, the result).
//! - `circuit`: the breaker's permit for each call.
//! - `demand`: scale to zero (waking, activity reports, going idle).
//! - `relay`: the gateway's client side: progress, logs and server-to-client requests back to callers.
//! - `ledger`: keeps relayed notifications ahead of the result they precede.
//! - `link`: one session with the server: the calls in flight on it, and whose it is.
//! - `own_sessions`: sessions of their own for session-based clients (`clientSessions`).
//! - `subscriptions`: resource subscriptions shared by client sessions.
//! - `supervise`: the connection's life (connect, follow, reconnect with backoff).
//! - `listing`: listing everything the upstream offers.
//! - `transports`: the stdio child, Streamable HTTP and legacy SSE.

// Sampling, roots, logging and resources/subscribe are deprecated by SEP-2577 but remain
// part of the session-based revisions this gateway serves and forwards.
#![expect(deprecated)]

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use hangar_circuit::{CircuitBreaker, Rejected, State as CircuitState};
use hangar_config::{Environment, ServerSpec};
use rmcp::model::{Implementation, LoggingMessageNotificationParam, ServerCapabilities};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::activity::ActivitySink;
use crate::metrics::Metrics;
use crate::outbound::Credentials;
use crate::shared::discovery::DiscoveryCache;

mod call;
mod circuit;
mod demand;
mod ledger;
mod link;
mod listing;
mod own_sessions;
mod relay;
pub mod state;
mod stdio;
mod subscriptions;
mod supervise;
mod transports;

use demand::Demand;
pub(crate) use relay::level_rank;
pub use state::{
    AskedInput, Availability, Downstream, Failure, Listing, SessionClient, Status, Subscriber,
};
use state::{Followers, State};

/// What an upstream works with besides its own spec.
pub struct UpstreamContext {
    /// Per-request timeout when the spec sets none.
    pub default_timeout: Duration,
    pub metrics: Arc<Metrics>,
    pub http: reqwest::Client,
    /// Starts and keeps running scale-to-zero servers (see [`crate::activity`]).
    pub activity: Option<Arc<dyn ActivitySink>>,
    /// Lists shared with other replicas, when there is Redis.
    pub discovery: Option<Arc<DiscoveryCache>>,
    /// Runs whenever the upstream's listing or readiness changes.
    pub on_change: Arc<dyn Fn() + Send + Sync>,
    /// Where `valueFromEnv` headers and child variables are read.
    pub environment: Environment,
    /// Takes the server's log messages that belong to no call.
    pub standalone_log: StandaloneLog,
}

/// Where an upstream's log messages that belong to no call go (server name,
/// message, the client whose own session it came on, if any).
pub type StandaloneLog =
    Arc<dyn Fn(&str, LoggingMessageNotificationParam, Option<&SessionClient>) + Send + Sync>;

/// One upstream MCP server and its connection supervisor.
pub struct Upstream {
    /// This upstream, for the sessions it opens for clients.
    me: Weak<Upstream>,
    spec: ServerSpec,
    prefix: String,
    timeout: Duration,
    state: RwLock<State>,
    /// The gateway's own session with the server, which serves every client
    /// without one of its own.
    shared_link: Arc<link::Link>,
    own_sessions: own_sessions::OwnSessions,
    followers: Mutex<Followers>,
    stderr: Mutex<VecDeque<String>>,
    /// The first stdout line of the current stdio child that was not JSON.
    stdout_non_json: stdio::NonJson,
    stop: CancellationToken,
    first_attempt: tokio::sync::watch::Sender<bool>,
    /// Bumped on every status change, for calls waiting for a server to wake.
    status_changes: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    breaker: Mutex<CircuitBreaker>,
    /// Why the last failed call failed, for the open-circuit message.
    last_failure: Mutex<String>,
    /// Present for scale-to-zero servers.
    demand: Option<Demand>,
    /// Lists shared with other replicas, when there is Redis.
    discovery: Option<Arc<DiscoveryCache>>,
    environment: Environment,
    /// Tokens and identity for the server (`auth`), when it has any.
    credentials: Option<Arc<Credentials>>,
    standalone_log: StandaloneLog,
}

impl Upstream {
    /// Creates the upstream and starts connecting.
    pub fn start(spec: ServerSpec, prefix: String, context: UpstreamContext) -> Arc<Self> {
        let UpstreamContext {
            default_timeout,
            metrics,
            http,
            activity,
            discovery,
            on_change,
            environment,
            standalone_log,
        } = context;
        let demand = spec
            .scale_to_zero
            .clone()
            .map(|settings| Demand::new(settings, activity));
        let credentials = spec.auth.as_ref().map(|auth| {
            Arc::new(Credentials::new(
                format!("MCP server {}", spec.name),
                auth,
                http.clone(),
                &environment,
            ))
        });
        let upstream = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            own_sessions: own_sessions::OwnSessions::new(spec.client_sessions),
            shared_link: Arc::new(link::Link::shared()),
            credentials,
            standalone_log,
            timeout: spec.timeout.map_or(default_timeout, |t| t.0),
            breaker: Mutex::new(CircuitBreaker::new(spec.circuit_breaker.breaker())),
            last_failure: Mutex::new(String::new()),
            demand,
            status_changes: watch::Sender::new(0),
            spec,
            prefix,
            state: RwLock::new(State {
                status: Status::Starting,
                peer: None,
                modern: false,
                capabilities: ServerCapabilities::default(),
                instructions: None,
                listing: None,
            }),
            followers: Mutex::new(Followers::default()),
            stderr: Mutex::new(VecDeque::new()),
            stdout_non_json: stdio::NonJson::default(),
            stop: CancellationToken::new(),
            first_attempt: tokio::sync::watch::Sender::new(false),
            metrics,
            http,
            discovery,
            environment,
        });
        tokio::spawn(supervise::supervise(upstream.clone(), on_change));
        if upstream
            .demand
            .as_ref()
            .is_some_and(|demand| demand.sink.is_some())
        {
            tokio::spawn(demand::report_activity(upstream.clone()));
        }
        upstream
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
    pub fn spec(&self) -> &ServerSpec {
        &self.spec
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn status(&self) -> Status {
        self.read().status.clone()
    }
    /// The last listing, kept while the server is down so its names stay stable.
    pub fn listing(&self) -> Option<Arc<Listing>> {
        self.read().listing.clone()
    }
    /// What the server said about itself, once connected: identity, capabilities, instructions.
    pub fn identity(&self) -> Option<(Option<Implementation>, ServerCapabilities, Option<String>)> {
        let state = self.read();
        match &state.status {
            Status::Ready { server, .. } => Some((
                server.clone(),
                state.capabilities.clone(),
                state.instructions.clone(),
            )),
            _ => None,
        }
    }
    /// How long a call may take (`timeout`, else the gateway's default).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    /// Whether the link uses the stateless 2026-07-28 lifecycle (the server
    /// asks for input with `InputRequiredResult`, not with requests).
    pub fn speaks_stateless(&self) -> bool {
        self.read().modern
    }
    pub fn supports_subscribe(&self) -> bool {
        self.read()
            .capabilities
            .resources
            .as_ref()
            .and_then(|r| r.subscribe)
            .unwrap_or(false)
    }
    pub fn supports_completions(&self) -> bool {
        self.read().capabilities.completions.is_some()
    }

    /// Whether a call to this server starts it when it is not running.
    pub fn wakes_on_call(&self) -> bool {
        self.demand.is_some()
    }

    /// Activity reports sent for this scale-to-zero server.
    pub fn activity_reports(&self) -> u64 {
        self.demand
            .as_ref()
            .map_or(0, |d| d.reports.load(Ordering::Relaxed))
    }

    /// Where the circuit breaker stands.
    pub fn circuit(&self) -> CircuitState {
        self.lock_breaker().state(Instant::now())
    }

    /// Whether a call could go to this server now.
    pub fn availability(&self) -> Availability {
        let rejected = {
            let breaker = self.lock_breaker();
            let now = Instant::now();
            match (breaker.state(now), breaker.opened_at()) {
                (CircuitState::Open, Some(opened)) => Some(Rejected {
                    retry_after: breaker
                        .settings()
                        .reset_timeout
                        .saturating_sub(now - opened),
                }),
                _ => None,
            }
        };
        if let Some(rejected) = rejected {
            return Availability::Unavailable(self.circuit_message(rejected));
        }
        match self.status() {
            Status::Ready { .. } => Availability::Ready,
            _ if self.demand.is_some() => Availability::Wakeable,
            _ => Availability::Unavailable(self.unavailable_reason()),
        }
    }

    /// Resolves once the first connection attempt has finished, either way.
    pub async fn first_attempt_done(&self) {
        let mut done = self.first_attempt.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }
    pub fn is_settled(&self) -> bool {
        *self.first_attempt.borrow()
    }

    /// Stops once calls in flight finish (or after `grace`), then disconnects.
    pub fn retire(self: &Arc<Self>, grace: Duration) {
        let upstream = self.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + grace;
            while upstream.in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            upstream.stop.cancel();
        });
    }

    /// Stops now.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    fn in_flight(&self) -> usize {
        self.shared_link.in_flight() + self.own_sessions.in_flight()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_followers(&self) -> std::sync::MutexGuard<'_, Followers> {
        self.followers.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that sees every status change.
    pub fn status_changes(&self) -> watch::Receiver<u64> {
        self.status_changes.subscribe()
    }

    fn set_status(&self, state: &mut State, status: Status) {
        state.status = status;
        self.status_changes.send_modify(|version| *version += 1);
    }

    /// Why the server cannot take calls now, in words for the caller.
    pub fn unavailable_reason(&self) -> String {
        let name = self.name();
        match &self.read().status {
            Status::Down {
                error,
                since,
                next_try,
            } => format!(
                "MCP server {name} is unavailable ({error}, for {}s); the gateway tries again in {}s",
                since.elapsed().as_secs(),
                next_try.saturating_duration_since(Instant::now()).as_secs()
            ),
            Status::Starting => format!("MCP server {name} is still starting"),
            Status::Idle { .. } => format!("MCP server {name} is scaled to zero"),
            Status::Stopped => format!("MCP server {name} was removed from the gateway config"),
            Status::Ready { .. } => format!("MCP server {name} is reconnecting"),
        }
    }

    fn unavailable(&self) -> Failure {
        self.metrics.upstream_error(self.name(), "unavailable");
        Failure::Unavailable(self.unavailable_reason())
    }
}
