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

// Sampling, roots, logging and resources/subscribe are deprecated by SEP-2577 but remain
// part of the session-based revisions this gateway serves and forwards.
#![expect(deprecated)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hangar_circuit::{CircuitBreaker, Rejected, State as CircuitState};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest,
    CompleteRequest, CompleteRequestParams, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, GetPromptRequest,
    GetPromptRequestParams, Implementation, ListRootsRequest, ListRootsResult, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken, Prompt,
    ProtocolVersion, ReadResourceRequest, ReadResourceRequestParams, RequestId, RequestMetaObject,
    Resource, ResourceTemplate, ResourceUpdatedNotificationParam, ServerCapabilities,
    ServerNotification, ServerRequest, ServerResult, SubscribeRequest, SubscribeRequestParams,
    SubscriptionFilter, Tool, UnsubscribeRequest, UnsubscribeRequestParams,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, Peer, PeerRequestOptions,
    RequestContext, RoleClient, RoleServer, RunningService, ServiceError,
};
use rmcp::{ClientHandler, ErrorData};
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::activity::ActivitySink;
use crate::declared::header_map;
use crate::metrics::Metrics;
use crate::relay::Counted;
use crate::shared::discovery::DiscoveryCache;
use hangar_config::{DurationSpec, ProtocolPreference, ScaleToZero, ServerSpec, Transport};
use hangar_mcp_client::{Lifecycles, SseClientTransport, error_chain, streamable_http};

/// Everything an upstream offers, as last listed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

/// Connection state, for `/readyz` and errors.
#[derive(Debug, Clone)]
pub enum Status {
    /// The first connection attempt is still running.
    Starting,
    Ready {
        protocol: String,
        server: Option<Implementation>,
        since: Instant,
    },
    Down {
        error: String,
        since: Instant,
    },
    /// Scaled to zero: not connected until a call needs it.
    Idle {
        since: Instant,
    },
    Stopped,
}

struct State {
    status: Status,
    peer: Option<Peer<RoleClient>>,
    /// True when the link uses the stateless 2026-07-28 lifecycle.
    modern: bool,
    capabilities: ServerCapabilities,
    instructions: Option<String>,
    listing: Option<Arc<Listing>>,
}

/// The client call an upstream request is made for: where its progress, logs
/// and server-to-client requests go.
pub struct Downstream {
    pub peer: Peer<RoleServer>,
    pub request_id: RequestId,
    pub progress_token: Option<ProgressToken>,
    /// The client uses the session-based revisions (it can receive server requests).
    pub legacy: bool,
    /// Least severe log level the client wants for this call; `None` means no logs.
    pub log_level: Option<LoggingLevel>,
    pub capabilities: ClientCapabilities,
    /// Client `_meta` entries to pass on (protocol keys and the progress token removed).
    pub meta: RequestMetaObject,
    pub cancel: CancellationToken,
}

/// Why a forwarded request did not produce a result.
#[derive(Debug)]
pub enum Failure {
    /// The upstream answered with a JSON-RPC error; pass it on unchanged.
    Rpc(ErrorData),
    /// The upstream could not be asked or did not answer (down, circuit open,
    /// no answer in time, connection lost, did not wake); another member of
    /// a group may take the call. The text says why.
    Unavailable(String),
    /// The gateway gave up on the call for its own reasons (the client
    /// cancelled it, too many input rounds); the text says why.
    Gateway(String),
}

impl Failure {
    pub fn into_error(self) -> ErrorData {
        match self {
            Failure::Rpc(error) => error,
            Failure::Unavailable(message) | Failure::Gateway(message) => {
                ErrorData::internal_error(message, None)
            }
        }
    }
}

/// Whether an upstream can take a call now, for choosing among group members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Scaled to zero or starting on demand: a call wakes it and waits.
    Wakeable,
    /// Down or its circuit is open; the text says why.
    Unavailable(String),
}

#[derive(Default)]
struct Routes {
    by_request: HashMap<RequestId, Arc<Downstream>>,
    by_progress: HashMap<ProgressToken, Arc<Downstream>>,
    subscribers: HashMap<String, Vec<(u64, Peer<RoleServer>)>>,
    /// Stateless upstreams: the listen stream relaying updates of each followed URI.
    resource_listens: HashMap<String, tokio::task::AbortHandle>,
}

/// One upstream MCP server and its connection supervisor.
pub struct Upstream {
    spec: ServerSpec,
    prefix: String,
    timeout: Duration,
    state: RwLock<State>,
    routes: Mutex<Routes>,
    stderr: Mutex<VecDeque<String>>,
    stop: CancellationToken,
    first_attempt: tokio::sync::watch::Sender<bool>,
    /// Bumped on every status change, for calls waiting for a server to wake.
    status_changes: watch::Sender<u64>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    /// Progress and log notifications received from the server and relayed to clients.
    relays: Arc<crate::relay::RelayLedger>,
    breaker: Mutex<CircuitBreaker>,
    /// Why the last failed call failed, for the open-circuit message.
    last_failure: Mutex<String>,
    /// Present for scale-to-zero servers.
    demand: Option<Demand>,
    /// Lists shared with other replicas, when there is Redis.
    discovery: Option<Arc<DiscoveryCache>>,
}

/// When a scale-to-zero server is needed, and who starts it.
struct Demand {
    settings: ScaleToZero,
    sink: Option<Arc<dyn ActivitySink>>,
    /// The last call (or listing) that needed the server.
    last_call: Mutex<Option<Instant>>,
    /// Wakes the supervisor out of idleness.
    wanted: Notify,
    /// Wakes the activity reporter.
    report: Notify,
    /// The last activity report's error, for wake timeouts.
    report_error: Mutex<Option<String>>,
    /// Activity reports sent so far.
    reports: AtomicU64,
}

impl Demand {
    fn last_call(&self) -> Option<Instant> {
        *self.last_call.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Until when the calls so far keep the server connected.
    fn awake_until(&self) -> Option<Instant> {
        self.last_call().map(|at| at + self.settings.idle_ttl.0)
    }
    fn wanted_now(&self) -> bool {
        self.awake_until()
            .is_some_and(|until| until > Instant::now())
    }
}

const STDERR_LINES: usize = 20;
/// Longest a result waits for its progress notifications to be relayed.
const PROGRESS_RELAY_LIMIT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// While a woken server starts, reconnect at least this often: the call is waiting.
const WAKING_BACKOFF: Duration = Duration::from_secs(1);
/// A probe of a scale-to-zero server (which may well be stopped) gives up sooner.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Upstream {
    /// Creates the upstream and starts connecting; `on_change` runs whenever its listing changes.
    /// `activity` starts and keeps running scale-to-zero servers (see [`crate::activity`]).
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a separate collaborator the supervisor needs"
    )]
    pub fn start(
        spec: ServerSpec,
        prefix: String,
        default_timeout: Duration,
        metrics: Arc<Metrics>,
        http: reqwest::Client,
        activity: Option<Arc<dyn ActivitySink>>,
        discovery: Option<Arc<DiscoveryCache>>,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<Self> {
        let demand = spec.scale_to_zero.clone().map(|settings| Demand {
            settings,
            sink: activity,
            last_call: Mutex::new(None),
            wanted: Notify::new(),
            report: Notify::new(),
            report_error: Mutex::new(None),
            reports: AtomicU64::new(0),
        });
        let upstream = Arc::new(Self {
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
            routes: Mutex::new(Routes::default()),
            stderr: Mutex::new(VecDeque::new()),
            stop: CancellationToken::new(),
            first_attempt: tokio::sync::watch::Sender::new(false),
            metrics,
            http,
            relays: Arc::default(),
            discovery,
        });
        tokio::spawn(supervise(upstream.clone(), on_change));
        if upstream
            .demand
            .as_ref()
            .is_some_and(|demand| demand.sink.is_some())
        {
            tokio::spawn(report_activity(upstream.clone()));
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

    /// Notes that a caller needs the server: a scale-to-zero server is woken
    /// (its activity reported, the supervisor connecting) and kept awake
    /// until `idleTTL` after the last such call. Returns at once.
    pub fn needed(&self) {
        let Some(demand) = &self.demand else {
            return;
        };
        *demand.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if !matches!(self.read().status, Status::Ready { .. }) {
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
        self.lock_routes().by_request.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_status(&self, state: &mut State, status: Status) {
        state.status = status;
        self.status_changes.send_modify(|version| *version += 1);
    }

    /// Why the server cannot take calls now, in words for the caller.
    pub fn unavailable_reason(&self) -> String {
        let name = self.name();
        match &self.read().status {
            Status::Down { error, since } => format!(
                "MCP server {name} is unavailable ({error}, for {}s); the gateway keeps reconnecting",
                since.elapsed().as_secs()
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

    fn circuit_message(&self, rejected: Rejected) -> String {
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
    fn admit(&self) -> Result<Permit<'_>, Failure> {
        let admitted = self.lock_breaker().try_acquire(Instant::now());
        match admitted {
            Ok(()) => Ok(Permit {
                upstream: self,
                settled: false,
            }),
            Err(rejected) => {
                self.metrics.upstream_error(self.name(), "circuit_open");
                Err(Failure::Unavailable(self.circuit_message(rejected)))
            }
        }
    }

    /// Makes sure a scale-to-zero server is connected, waking it and waiting
    /// for it up to its wake timeout.
    async fn wake(&self) -> Result<(), Failure> {
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

    /// Forwards one request through the circuit breaker, waking a
    /// scale-to-zero server first, and waits for its result.
    async fn request(
        &self,
        request: ClientRequest,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        let permit = self.admit()?;
        if let Err(failure) = self.wake().await {
            permit.failed(&failure);
            return Err(failure);
        }
        if !matches!(self.read().status, Status::Ready { .. }) {
            // Known to be down: nothing was sent, so the breaker learns nothing.
            return Err(self.unavailable());
        }
        let result = self.send(request, downstream).await;
        permit.settle(&result);
        if let Some(demand) = &self.demand {
            // idleTTL counts from the end of the last call.
            *demand.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        result
    }

    /// Sends one request and waits for its result, relaying progress and
    /// logs to the client while it runs.
    async fn send(
        &self,
        request: ClientRequest,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        let (peer, modern) = {
            let state = self.read();
            match (&state.status, &state.peer) {
                (Status::Ready { .. }, Some(peer)) => (peer.clone(), state.modern),
                _ => {
                    drop(state);
                    return Err(self.unavailable());
                }
            }
        };
        let mut meta = downstream.meta.clone();
        if modern {
            // The stateless revision carries the client's context per request;
            // pass the real client's, not the gateway's, so capability checks hold.
            meta.set_client_capabilities(downstream.capabilities.clone());
            if let Some(level) = downstream.log_level {
                meta.set_log_level(level);
            }
        }
        let mut options = PeerRequestOptions::with_timeout(self.timeout);
        options.meta = Some(meta);
        let downstream = Arc::new(downstream);
        let handle = match peer.send_request_with_option(request, options).await {
            Ok(handle) => handle,
            Err(error) => return Err(self.transport_failure(error)),
        };
        let request_id = handle.id.clone();
        {
            let mut routes = self.lock_routes();
            routes
                .by_request
                .insert(request_id.clone(), downstream.clone());
            routes
                .by_progress
                .insert(handle.progress_token.clone(), downstream.clone());
        }
        let progress_token = handle.progress_token.clone();
        let _cleanup = RouteGuard {
            upstream: self,
            request_id: request_id.clone(),
            progress_token: progress_token.clone(),
        };
        tokio::select! {
            result = handle.await_response() => {
                // Progress the server sent before its result reaches the client first.
                self.relays.settled(&progress_token, PROGRESS_RELAY_LIMIT).await;
                result.map(mark_complete).map_err(|e| self.transport_failure(e))
            }
            _ = downstream.cancel.cancelled() => {
                let _ = peer.notify_cancelled(rmcp::model::CancelledNotificationParam::new(
                    Some(request_id),
                    Some("the client cancelled the request".into()),
                )).await;
                Err(Failure::Gateway("the client cancelled the request".into()))
            }
        }
    }

    fn transport_failure(&self, error: ServiceError) -> Failure {
        match error {
            ServiceError::McpError(error) => Failure::Rpc(error),
            ServiceError::Timeout { timeout } => {
                self.metrics.upstream_error(self.name(), "timeout");
                Failure::Unavailable(format!(
                    "MCP server {} did not answer within {}",
                    self.name(),
                    hangar_config::DurationSpec(timeout)
                ))
            }
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                self.metrics.upstream_error(self.name(), "transport");
                Failure::Unavailable(format!(
                    "the connection to MCP server {} was lost during the call{}",
                    self.name(),
                    self.stderr_hint()
                ))
            }
            other => {
                self.metrics.upstream_error(self.name(), "protocol");
                Failure::Unavailable(format!("MCP server {} failed: {other}", self.name()))
            }
        }
    }

    fn stderr_hint(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        match lines.back() {
            Some(last) => format!(" (its last output: {last})"),
            None => String::new(),
        }
    }

    pub async fn call_tool(
        &self,
        mut params: CallToolRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn get_prompt(
        &self,
        mut params: GetPromptRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::GetPromptRequest(GetPromptRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn read_resource(
        &self,
        mut params: ReadResourceRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params)),
            downstream,
        )
        .await
    }

    pub async fn complete(
        &self,
        mut params: CompleteRequestParams,
        downstream: Downstream,
    ) -> Result<ServerResult, Failure> {
        params.meta = None;
        self.request(
            ClientRequest::CompleteRequest(CompleteRequest::new(params)),
            downstream,
        )
        .await
    }

    /// Subscribes a client session to a resource; the first subscriber subscribes upstream.
    pub async fn subscribe(
        self: &Arc<Self>,
        uri: String,
        session: u64,
        peer: Peer<RoleServer>,
    ) -> Result<(), Failure> {
        let first = {
            let mut routes = self.lock_routes();
            let subscribers = routes.subscribers.entry(uri.clone()).or_default();
            let first = subscribers.is_empty();
            subscribers.retain(|(id, _)| *id != session);
            subscribers.push((session, peer));
            first
        };
        if first && let Err(failure) = self.subscribe_upstream(&uri).await {
            self.drop_subscriber(&uri, session);
            return Err(failure);
        }
        Ok(())
    }

    /// Removes a client session's subscription; the last one unsubscribes upstream.
    pub async fn unsubscribe(&self, uri: String, session: u64) -> Result<(), Failure> {
        if !self.drop_subscriber(&uri, session) {
            return Ok(());
        }
        let listen = self.lock_routes().resource_listens.remove(&uri);
        if let Some(listen) = listen {
            // Dropping the subscription cancels it upstream.
            listen.abort();
            return Ok(());
        }
        let peer = self.ready_peer()?;
        let request = ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(
            UnsubscribeRequestParams::new(uri),
        ));
        peer.send_request_with_option(request, PeerRequestOptions::with_timeout(self.timeout))
            .await
            .map_err(|e| self.transport_failure(e))?
            .await_response()
            .await
            .map(drop)
            .map_err(|e| self.transport_failure(e))
    }

    fn ready_peer(&self) -> Result<Peer<RoleClient>, Failure> {
        let state = self.read();
        match (&state.status, &state.peer) {
            (Status::Ready { .. }, Some(peer)) => Ok(peer.clone()),
            _ => {
                drop(state);
                Err(self.unavailable())
            }
        }
    }

    /// Asks the upstream for updates of `uri`: `resources/subscribe` on the
    /// session-based revisions, a `subscriptions/listen` stream on the stateless one.
    async fn subscribe_upstream(self: &Arc<Self>, uri: &str) -> Result<(), Failure> {
        let peer = self.ready_peer()?;
        if !self.read().modern {
            let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
                SubscribeRequestParams::new(uri.to_string()),
            ));
            return peer
                .send_request_with_option(request, PeerRequestOptions::with_timeout(self.timeout))
                .await
                .map_err(|e| self.transport_failure(e))?
                .await_response()
                .await
                .map(drop)
                .map_err(|e| self.transport_failure(e));
        }
        let filter = SubscriptionFilter::builder()
            .resource_subscription(uri.to_string())
            .build();
        let mut subscription = tokio::time::timeout(self.timeout, peer.listen(filter))
            .await
            .map_err(|_| {
                self.transport_failure(ServiceError::Timeout {
                    timeout: self.timeout,
                })
            })?
            .map_err(|e| self.transport_failure(e))?;
        let upstream = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            while let Ok(Some(notification)) = subscription.next().await {
                let (Some(upstream), ServerNotification::ResourceUpdatedNotification(update)) =
                    (upstream.upgrade(), notification)
                else {
                    continue;
                };
                upstream.notify_subscribers(update.params).await;
            }
        });
        if let Some(previous) = self
            .lock_routes()
            .resource_listens
            .insert(uri.to_string(), task.abort_handle())
        {
            previous.abort();
        }
        Ok(())
    }

    /// After a reconnect, asks again for updates of every resource clients follow.
    async fn resubscribe(self: &Arc<Self>) {
        let uris: Vec<String> = self.lock_routes().subscribers.keys().cloned().collect();
        for uri in uris {
            if let Err(e) = self.subscribe_upstream(&uri).await {
                tracing::warn!(server = self.name(), uri, error = ?e, "cannot renew a resource subscription");
            }
        }
    }

    async fn notify_subscribers(&self, params: ResourceUpdatedNotificationParam) {
        let subscribers: Vec<Peer<RoleServer>> = self
            .lock_routes()
            .subscribers
            .get(&params.uri)
            .map(|s| s.iter().map(|(_, peer)| peer.clone()).collect())
            .unwrap_or_default();
        for peer in subscribers {
            let _ = peer.notify_resource_updated(params.clone()).await;
        }
    }

    /// Returns true when nobody is subscribed to `uri` any more.
    fn drop_subscriber(&self, uri: &str, session: u64) -> bool {
        let mut routes = self.lock_routes();
        let Some(subscribers) = routes.subscribers.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|(id, peer)| *id != session && !peer.is_transport_closed());
        let empty = subscribers.is_empty();
        if empty {
            routes.subscribers.remove(uri);
        }
        empty
    }

    /// The client call a server-to-client request belongs to.
    fn downstream_for(&self, origin: Option<&InboundStreamOrigin>) -> Option<Arc<Downstream>> {
        let routes = self.lock_routes();
        match origin {
            Some(InboundStreamOrigin::OutboundRequest(id)) => routes.by_request.get(id).cloned(),
            // Without stream association (stdio), only an unambiguous call can own it.
            _ if routes.by_request.len() == 1 => routes.by_request.values().next().cloned(),
            _ => None,
        }
    }

    async fn relay_request(
        &self,
        request: ServerRequest,
        origin: Option<&InboundStreamOrigin>,
    ) -> Result<rmcp::model::ClientResult, ErrorData> {
        let Some(downstream) = self.downstream_for(origin) else {
            return Err(ErrorData::invalid_request(
                "the gateway cannot tell which client call this request belongs to",
                None,
            ));
        };
        if !downstream.legacy {
            return Err(ErrorData::invalid_request(
                "the client uses the stateless 2026-07-28 protocol, which has no server-to-client requests",
                None,
            ));
        }
        let mut request = request;
        tag_origin(&mut request, &downstream.request_id);
        downstream
            .peer
            .send_request(request)
            .await
            .map_err(|e| match e {
                ServiceError::McpError(error) => error,
                other => ErrorData::internal_error(
                    format!("relaying to the client failed: {other}"),
                    None,
                ),
            })
    }
}

/// Results from servers on the session-based revisions carry no `resultType`;
/// stateless clients require it (the SDK strips it again for session clients).
fn mark_complete(mut result: ServerResult) -> ServerResult {
    let result_type = match &mut result {
        ServerResult::CallToolResult(r) => &mut r.result_type,
        ServerResult::GetPromptResult(r) => &mut r.result_type,
        ServerResult::ReadResourceResult(r) => &mut r.result_type,
        ServerResult::CompleteResult(r) => &mut r.result_type,
        _ => return result,
    };
    result_type.get_or_insert(rmcp::model::ResultType::COMPLETE);
    result
}

fn tag_origin(request: &mut ServerRequest, origin: &RequestId) {
    // Lets the client's session put the request on the SSE stream of the call it belongs to.
    let marker = OriginatingRequestId(origin.clone());
    match request {
        ServerRequest::CreateMessageRequest(r) => {
            r.extensions.insert(marker);
        }
        ServerRequest::ElicitRequest(r) => {
            r.extensions.insert(marker);
        }
        ServerRequest::ListRootsRequest(r) => {
            r.extensions.insert(marker);
        }
        _ => {}
    }
}

/// A call the circuit breaker let through; its outcome must be recorded.
/// Dropped unsettled (the caller went away), it frees a half-open trial slot.
struct Permit<'a> {
    upstream: &'a Upstream,
    settled: bool,
}

impl Permit<'_> {
    fn settle(self, result: &Result<ServerResult, Failure>) {
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

    fn failed(mut self, failure: &Failure) {
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

struct RouteGuard<'a> {
    upstream: &'a Upstream,
    request_id: RequestId,
    progress_token: ProgressToken,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        let mut routes = self.upstream.lock_routes();
        routes.by_request.remove(&self.request_id);
        routes.by_progress.remove(&self.progress_token);
        self.upstream.relays.forget(&self.progress_token);
    }
}

/// Events from an upstream connection to its supervisor.
enum Event {
    ListChanged,
}

/// The gateway's client side of one upstream connection.
struct UpstreamClient {
    upstream: Arc<Upstream>,
    events: mpsc::UnboundedSender<Event>,
    info: ClientConfig,
}

fn level_rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl UpstreamClient {
    /// Passes a log message on to the one client call it can belong to.
    async fn relay_log(&self, params: LoggingMessageNotificationParam) {
        tracing::debug!(server = self.upstream.name(), level = ?params.level, data = %params.data, "upstream log message");
        // Log notifications carry no request id; relay only when the owning call is unambiguous.
        let downstream = {
            let routes = self.upstream.lock_routes();
            if routes.by_request.len() == 1 {
                routes.by_request.values().next().cloned()
            } else {
                None
            }
        };
        if let Some(downstream) = downstream
            && downstream
                .log_level
                .is_some_and(|min| level_rank(params.level) >= level_rank(min))
        {
            let _ = downstream.peer.notify_logging_message(params).await;
        }
    }

    /// Passes a progress notification on to the client call it belongs to.
    async fn relay_progress(&self, params: ProgressNotificationParam) {
        let downstream = self
            .upstream
            .lock_routes()
            .by_progress
            .get(&params.progress_token)
            .cloned();
        if let Some(downstream) = downstream
            && let Some(token) = downstream.progress_token.clone()
        {
            let mut params = params;
            params.progress_token = token;
            let _ = downstream.peer.notify_progress(params).await;
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self
            .upstream
            .relay_request(request, context.extensions.get())
            .await?
        {
            rmcp::model::ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(ErrorData::internal_error(
                "the client answered sampling with another result type",
                None,
            )),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self
            .upstream
            .relay_request(request, context.extensions.get())
            .await?
        {
            rmcp::model::ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(ErrorData::internal_error(
                "the client answered elicitation with another result type",
                None,
            )),
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self
            .upstream
            .relay_request(request, context.extensions.get())
            .await
        {
            Ok(rmcp::model::ClientResult::ListRootsResult(result)) => Ok(result),
            Ok(_) => Err(ErrorData::internal_error(
                "the client answered roots/list with another result type",
                None,
            )),
            // Roots are optional context: an upstream asking outside a call gets none.
            Err(_) => Ok(ListRootsResult::default()),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let upstream_token = params.progress_token.clone();
        self.relay_progress(params).await;
        self.upstream.relays.relayed(&upstream_token);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.relay_log(params).await;
        self.upstream.relays.relayed_log();
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.upstream.notify_subscribers(params).await;
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send(Event::ListChanged);
    }
    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send(Event::ListChanged);
    }
    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.events.send(Event::ListChanged);
    }
}

fn client_info() -> ClientConfig {
    let capabilities: ClientCapabilities = serde_json::from_value(serde_json::json!({
        "sampling": {},
        "elicitation": {},
        "roots": {}
    }))
    .expect("static capabilities");
    let mut info = ClientConfig::new(
        capabilities,
        Implementation::new("hangar-gateway", env!("CARGO_PKG_VERSION")),
    );
    info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
    info
}

type Client = RunningService<RoleClient, UpstreamClient>;

async fn supervise(upstream: Arc<Upstream>, on_change: Arc<dyn Fn() + Send + Sync>) {
    let mut backoff = INITIAL_BACKOFF;
    // A scale-to-zero server is probed once without waking it: if it runs
    // already, its tools are known from the start. Probing a stdio server
    // would start it, so those wait for their first call.
    let mut probing = upstream.demand.is_some() && upstream.spec.transport != Transport::Stdio;
    // A woken server refuses connections until it has started: expected, not worth a warning.
    let mut starting = false;
    loop {
        if let Some(demand) = &upstream.demand
            && !probing
            && !demand.wanted_now()
        {
            go_idle(&upstream, &on_change).await;
            tokio::select! {
                _ = upstream.stop.cancelled() => break,
                _ = demand.wanted.notified() => {}
            }
            backoff = INITIAL_BACKOFF;
            starting = true;
            continue;
        }
        let connect_timeout = if probing {
            upstream.spec.connect_timeout.0.min(PROBE_TIMEOUT)
        } else {
            upstream.spec.connect_timeout.0
        };
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let attempt = tokio::select! {
            _ = upstream.stop.cancelled() => break,
            attempt = tokio::time::timeout(connect_timeout, connect(&upstream, events_tx)) => attempt,
        };
        let failure = match attempt {
            Ok(Ok(client)) => match refresh(&upstream, client.peer(), Lists::Cached).await {
                Ok(changed) => {
                    backoff = INITIAL_BACKOFF;
                    starting = false;
                    connected(&upstream);
                    if changed {
                        on_change();
                    }
                    upstream.resubscribe().await;
                    match follow(&upstream, client, &mut events, &on_change).await {
                        Ended::Stopped => break,
                        Ended::Idle => {
                            probing = false;
                            continue;
                        }
                        Ended::Closed(reason) => reason,
                    }
                }
                Err(why) => {
                    let _ = client.cancel().await;
                    format!("listing its tools, prompts and resources failed: {why}")
                }
            },
            Ok(Err(why)) => why,
            Err(_) => format!(
                "no answer within the connect timeout of {}{}",
                DurationSpec(connect_timeout),
                upstream.stderr_hint()
            ),
        };
        if std::mem::take(&mut probing) {
            tracing::debug!(server = upstream.name(), error = %failure, "scale-to-zero server not running");
            continue;
        }
        if starting {
            tracing::debug!(server = upstream.name(), error = %failure, "woken server not answering yet");
        }
        mark_down(&upstream, failure, !starting, &on_change);
        // A call waiting for a woken server should not wait out a long backoff.
        let waking = upstream.demand.as_ref().is_some_and(Demand::wanted_now);
        let pause = if waking {
            backoff.min(WAKING_BACKOFF)
        } else {
            backoff
        };
        tokio::select! {
            _ = upstream.stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    {
        let mut state = upstream.write();
        upstream.set_status(&mut state, Status::Stopped);
        state.peer = None;
    }
    upstream.metrics.forget_upstream(upstream.name());
    upstream.first_attempt.send_replace(true);
}

fn connected(upstream: &Upstream) {
    upstream.metrics.set_upstream_up(upstream.name(), true);
    if let Status::Ready {
        protocol, server, ..
    } = upstream.status()
    {
        let (name, version) = server.map(|s| (s.name, s.version)).unwrap_or_default();
        tracing::info!(
            server = upstream.name(),
            protocol,
            upstream_name = name,
            upstream_version = version,
            "upstream connected"
        );
    }
    upstream.first_attempt.send_replace(true);
}

fn mark_down(
    upstream: &Upstream,
    error: String,
    warn: bool,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) {
    if warn {
        tracing::warn!(server = upstream.name(), error = %error, "upstream unavailable");
    }
    {
        let mut state = upstream.write();
        upstream.set_status(
            &mut state,
            Status::Down {
                error,
                since: Instant::now(),
            },
        );
        state.peer = None;
    }
    upstream.metrics.set_upstream_up(upstream.name(), false);
    let first = !upstream.first_attempt.send_replace(true);
    if first {
        // Readiness waits for first attempts; let it re-check.
        on_change();
    }
}

/// A scale-to-zero server without calls for its `idleTTL`: disconnected (its
/// names stay listed), and whatever runs it told it may stop.
async fn go_idle(upstream: &Upstream, on_change: &Arc<dyn Fn() + Send + Sync>) {
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
async fn report_activity(upstream: Arc<Upstream>) {
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
async fn idle_deadline(upstream: &Upstream) {
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

/// Why a connection ended.
enum Ended {
    Stopped,
    /// A scale-to-zero server went idle and was disconnected.
    Idle,
    Closed(String),
}

/// Serves an established connection until it closes or the upstream stops.
async fn follow(
    upstream: &Arc<Upstream>,
    client: Client,
    events: &mut mpsc::UnboundedReceiver<Event>,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) -> Ended {
    let peer = client.peer().clone();
    let modern = upstream.read().modern;
    let wants_changes = {
        let c = &upstream.read().capabilities;
        c.tools
            .as_ref()
            .and_then(|t| t.list_changed)
            .unwrap_or(false)
            || c.prompts
                .as_ref()
                .and_then(|t| t.list_changed)
                .unwrap_or(false)
            || c.resources
                .as_ref()
                .and_then(|t| t.list_changed)
                .unwrap_or(false)
    };
    // Stateless servers announce list changes only on a subscriptions/listen stream.
    let mut subscription = if modern && wants_changes {
        let filter = SubscriptionFilter::builder()
            .tools_list_changed()
            .prompts_list_changed()
            .resources_list_changed()
            .build();
        match peer.listen(filter).await {
            Ok(subscription) => Some(subscription),
            Err(e) => {
                tracing::warn!(server = upstream.name(), error = %e, "cannot follow list changes of upstream");
                None
            }
        }
    } else {
        None
    };
    let cancel = client.cancellation_token();
    let closed = client.waiting();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            _ = upstream.stop.cancelled() => {
                cancel.cancel();
                let _ = closed.await;
                return Ended::Stopped;
            }
            _ = idle_deadline(upstream) => {
                cancel.cancel();
                let _ = closed.await;
                return Ended::Idle;
            }
            reason = &mut closed => {
                return Ended::Closed(match reason {
                    Ok(reason) => format!("the connection closed ({reason:?}){}", upstream.stderr_hint()),
                    Err(e) => format!("the connection task failed: {e}"),
                });
            }
            Some(Event::ListChanged) = events.recv() => {
                // Coalesce bursts of notifications into one refresh.
                while events.try_recv().is_ok() {}
                refresh_and_announce(upstream, &peer, on_change).await;
            }
            notification = next_notification(&mut subscription) => {
                match notification {
                    Some(ServerNotification::ToolListChangedNotification(_))
                    | Some(ServerNotification::PromptListChangedNotification(_))
                    | Some(ServerNotification::ResourceListChangedNotification(_)) => {
                        refresh_and_announce(upstream, &peer, on_change).await;
                    }
                    Some(_) => {}
                    None => subscription = None,
                }
            }
        }
    }
}

async fn next_notification(
    subscription: &mut Option<rmcp::service::Subscription>,
) -> Option<ServerNotification> {
    match subscription {
        Some(s) => s.next().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

async fn refresh_and_announce(
    upstream: &Upstream,
    peer: &Peer<RoleClient>,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) {
    if let Some(cache) = &upstream.discovery {
        cache.invalidate(&upstream.spec).await;
    }
    match refresh(upstream, peer, Lists::Fresh).await {
        Ok(true) => on_change(),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(server = upstream.name(), error = %e, "re-listing upstream failed")
        }
    }
}

/// Where [`refresh`] takes the lists from.
enum Lists {
    /// The discovery cache when it has them, else the server.
    Cached,
    /// The server (it announced a change).
    Fresh,
}

/// Lists everything (all pages); returns whether the listing changed.
async fn refresh(
    upstream: &Upstream,
    peer: &Peer<RoleClient>,
    lists: Lists,
) -> Result<bool, String> {
    let cached = match (&upstream.discovery, lists) {
        (Some(cache), Lists::Cached) => cache.load(&upstream.spec).await,
        _ => None,
    };
    let listing = match cached {
        Some(listing) => {
            tracing::debug!(server = upstream.name(), "lists from the discovery cache");
            listing
        }
        None => {
            let listing = list(upstream, peer).await?;
            if let Some(cache) = &upstream.discovery {
                cache.store(&upstream.spec, &listing).await;
            }
            listing
        }
    };
    Ok(apply_listing(upstream, peer, listing))
}

async fn list(upstream: &Upstream, peer: &Peer<RoleClient>) -> Result<Listing, String> {
    let capabilities = upstream.read().capabilities.clone();
    tokio::time::timeout(upstream.timeout, async {
        let mut listing = Listing::default();
        if capabilities.tools.is_some() {
            listing.tools = peer
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list: {e}"))?;
        }
        if capabilities.prompts.is_some() {
            listing.prompts = peer
                .list_all_prompts()
                .await
                .map_err(|e| format!("prompts/list: {e}"))?;
        }
        if capabilities.resources.is_some() {
            listing.resources = peer
                .list_all_resources()
                .await
                .map_err(|e| format!("resources/list: {e}"))?;
            listing.templates = peer
                .list_all_resource_templates()
                .await
                .map_err(|e| format!("resources/templates/list: {e}"))?;
        }
        Ok::<_, String>(listing)
    })
    .await
    .map_err(|_| {
        format!(
            "no answer within {}",
            hangar_config::DurationSpec(upstream.timeout)
        )
    })?
}

fn apply_listing(upstream: &Upstream, peer: &Peer<RoleClient>, listing: Listing) -> bool {
    let mut state = upstream.write();
    let changed = state.listing.as_deref() != Some(&listing);
    state.listing = Some(Arc::new(listing));
    if let Some(peer_info) = peer.peer_info() {
        // A refresh on a live connection keeps the time it connected.
        let since = match &state.status {
            Status::Ready { since, .. } if state.peer.is_some() => *since,
            _ => Instant::now(),
        };
        // The peer first, so that a call woken by the status change finds it.
        state.peer = Some(peer.clone());
        upstream.set_status(
            &mut state,
            Status::Ready {
                protocol: peer_info.protocol_version.to_string(),
                server: peer_info.server_info.clone(),
                since,
            },
        );
    }
    state.peer = Some(peer.clone());
    changed
}

async fn connect(
    upstream: &Arc<Upstream>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Client, String> {
    let spec = &upstream.spec;
    let handler = || UpstreamClient {
        upstream: upstream.clone(),
        events: events.clone(),
        info: client_info(),
    };
    let lifecycles = match (spec.protocol, spec.transport) {
        (ProtocolPreference::Legacy, _) | (_, Transport::Sse) => Lifecycles::legacy(),
        (ProtocolPreference::Modern, _) => Lifecycles::modern(),
        (ProtocolPreference::Auto, _) => Lifecycles::auto(),
    };
    let relays = &upstream.relays;
    let connected = match spec.transport {
        Transport::Stdio => {
            hangar_mcp_client::connect(lifecycles, handler, || async {
                Ok(Counted::new(spawn_child(upstream)?, relays.clone()))
            })
            .await
        }
        Transport::StreamableHttp => {
            let headers = header_map(&spec.headers)?;
            let url = spec.url.as_deref().unwrap_or_default();
            hangar_mcp_client::connect(lifecycles, handler, || async {
                // A gateway multiplexes many clients over one upstream connection.
                let transport =
                    streamable_http(upstream.http.clone(), url, headers.clone(), Some(256));
                Ok(Counted::new(transport, relays.clone()))
            })
            .await
        }
        Transport::Sse => {
            let headers = header_map(&spec.headers)?;
            let url = spec.url.as_deref().unwrap_or_default();
            hangar_mcp_client::connect(lifecycles, handler, || async {
                let transport =
                    SseClientTransport::connect(upstream.http.clone(), url, headers.clone())
                        .await?;
                Ok(Counted::new(transport, relays.clone()))
            })
            .await
        }
    };
    let client = connected.map_err(|e| format!("{e}{}", upstream.stderr_hint()))?;
    client
        .peer()
        .set_response_cache_config(rmcp::ClientCacheConfig::disabled())
        .await;
    let Some(info) = client.peer().peer_info() else {
        return Err("the server sent no capabilities".into());
    };
    let mut state = upstream.write();
    state.modern = !info.protocol_version.has_initialize();
    state.capabilities = info.capabilities.clone();
    state.instructions = info.instructions.clone();
    drop(state);
    Ok(client)
}

fn spawn_child(upstream: &Arc<Upstream>) -> Result<rmcp::transport::TokioChildProcess, String> {
    let spec = &upstream.spec;
    let program = spec.command.as_deref().unwrap_or_default();
    let mut command = tokio::process::Command::new(program);
    command.args(&spec.args).kill_on_drop(true);
    for var in &spec.env {
        command.env(&var.name, var.resolve()?);
    }
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("cannot start `{program}`: it was not found; is it installed and on PATH?")
            }
            _ => format!("cannot start `{program}`: {}", error_chain(&e)),
        })?;
    upstream
        .stderr
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    if let Some(stderr) = stderr {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(server = upstream.name(), stderr = %line, "upstream output");
                let mut tail = upstream.stderr.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    }
    Ok(transport)
}
