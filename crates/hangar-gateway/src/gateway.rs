//! The gateway's live state: the current config, its upstream connections,
//! the merged catalog, and the client sessions that hear about changes.
//!
//! A reload swaps the runtime atomically. Requests already running keep the
//! `Arc`s they started with, so in-flight calls finish against the old
//! config; upstreams whose spec did not change keep their connection; removed
//! ones are retired once their calls finish.

// Log messages are deprecated by SEP-2577 but remain part of the session-based
// revisions this gateway serves and relays to its session clients.
#![expect(deprecated)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::{Peer, RoleServer};
use tokio::sync::broadcast;

use crate::activity::ActivitySink;
use crate::audit::Auditor;
use crate::backend_http::{BackendHttp, Pool};
use crate::catalog::{Catalog, Changes};
use crate::declared::Declared;
use crate::group::Group;
use crate::handler::InputRounds;
use crate::metrics::Metrics;
use crate::shared::Shared;
use crate::spare::Spare as _;
use crate::upstream::{SessionClient, Status, Upstream, UpstreamContext, level_rank};
use hangar_config::{ConfigError, Environment, GatewayConfig, Validated};

/// Idle connections kept per backend or upstream host, and for how long.
const POOL_IDLE_PER_HOST: usize = 64;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const USER_AGENT: &str = concat!("hangar-gateway/", env!("CARGO_PKG_VERSION"));

/// One config, applied.
pub struct Runtime {
    pub config: Arc<GatewayConfig>,
    pub declared: Arc<Declared>,
    pub upstreams: Vec<Arc<Upstream>>,
    pub groups: Vec<Arc<Group>>,
    pub catalog: Arc<Catalog>,
    /// Where audit records go; `None` without an `audit` section.
    pub audit: Option<Arc<Auditor>>,
}

/// Shared gateway state; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
    /// Present the single upstream's identity and capabilities as our own (`hangar bridge`).
    mirror: bool,
}

struct Inner {
    runtime: RwLock<Arc<Runtime>>,
    /// Serialises reloads and catalog rebuilds.
    rebuild: Mutex<()>,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    /// Declared tools' and resources' requests (`http` where the plain client cannot go).
    backends: BackendHttp,
    shared: Arc<Shared>,
    sessions: Mutex<Vec<SessionClient>>,
    changes: broadcast::Sender<Changes>,
    next_session: AtomicU64,
    /// Starts and keeps running scale-to-zero servers.
    activity: Option<Arc<dyn ActivitySink>>,
    /// Where the config's `valueFromEnv` and `urlFromEnv` names are read.
    environment: Environment,
    /// Stateless clients' calls waiting for input a 2025-era server asked for.
    input_rounds: InputRounds,
}

impl Gateway {
    /// Applies `config` and starts connecting to its upstreams; secrets the
    /// config names come from the process's environment.
    pub fn start(config: Validated, metrics: Arc<Metrics>) -> Result<Self, ConfigError> {
        Self::start_with(config, metrics, None, Environment::Process)
    }

    /// Like [`Gateway::start`], with `activity` starting scale-to-zero servers
    /// and the config's `valueFromEnv`/`urlFromEnv` names read from `environment`.
    pub fn start_with(
        config: Validated,
        metrics: Arc<Metrics>,
        activity: Option<Arc<dyn ActivitySink>>,
        environment: Environment,
    ) -> Result<Self, ConfigError> {
        let http = hangar_mcp_client::http_client(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                // Backends and upstreams: one kept-alive pool per host, bounded in
                // idle connections and idle time, requests sent without Nagle's delay.
                .tcp_nodelay(true)
                .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        });
        let empty = Arc::new(Runtime {
            config: Arc::new(GatewayConfig::empty()),
            declared: Arc::new(Declared {
                tools: vec![],
                prompts: vec![],
                resources: vec![],
            }),
            upstreams: vec![],
            groups: vec![],
            catalog: Arc::new(Catalog::default()),
            audit: None,
        });
        let shared = Shared::start(&config, &environment).map_err(|why| ConfigError::Invalid {
            path: "startup".into(),
            problems: vec![why],
        })?;
        let gateway = Self {
            inner: Arc::new(Inner {
                runtime: RwLock::new(empty),
                rebuild: Mutex::new(()),
                metrics,
                backends: BackendHttp::new(
                    http.clone(),
                    USER_AGENT,
                    Pool {
                        idle_per_host: POOL_IDLE_PER_HOST,
                        idle_timeout: POOL_IDLE_TIMEOUT,
                    },
                ),
                http,
                shared: Arc::new(shared),
                sessions: Mutex::new(Vec::new()),
                changes: broadcast::channel(64).0,
                next_session: AtomicU64::new(1),
                activity,
                environment,
                input_rounds: InputRounds::default(),
            }),
            mirror: false,
        };
        gateway.apply_config(config, "startup", true)?;
        Ok(gateway)
    }

    /// Presents the only upstream as if it were this server (what `hangar bridge` needs).
    pub fn mirroring_single_upstream(mut self) -> Self {
        self.mirror = true;
        self
    }

    /// The upstream whose identity this gateway presents, if it mirrors one.
    pub fn mirrored(&self) -> Option<Arc<Upstream>> {
        let runtime = self.runtime();
        match runtime.upstreams.as_slice() {
            [only] if self.mirror => Some(only.clone()),
            _ => None,
        }
    }

    /// Waits until the mirrored upstream (a bridge's child) has answered
    /// `initialize` and its lists; at once when nothing is mirrored.
    pub async fn mirrored_ready(&self) {
        let Some(upstream) = self.mirrored() else {
            return;
        };
        let mut changes = upstream.status_changes();
        while !matches!(upstream.status(), Status::Ready { .. }) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.inner
            .runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn catalog(&self) -> Arc<Catalog> {
        self.runtime().catalog.clone()
    }
    pub fn config(&self) -> Arc<GatewayConfig> {
        self.runtime().config.clone()
    }
    /// Where audit records go, when the config has an `audit` section.
    pub fn auditor(&self) -> Option<Arc<Auditor>> {
        self.runtime().audit.clone()
    }
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
    pub fn backends(&self) -> &BackendHttp {
        &self.inner.backends
    }
    /// Where the config's `valueFromEnv` and `urlFromEnv` names are read.
    pub fn environment(&self) -> &Environment {
        &self.inner.environment
    }
    /// Sessions, events, discovery cache and rate limits shared with other replicas.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub fn input_rounds(&self) -> &InputRounds {
        &self.inner.input_rounds
    }

    /// Replaces the config. One the gateway cannot serve is refused and the old one stays.
    pub fn reload(&self, config: Validated, origin: &str) -> Result<(), ConfigError> {
        self.apply_config(config, origin, false)
    }

    fn apply_config(
        &self,
        config: Validated,
        origin: &str,
        initial: bool,
    ) -> Result<(), ConfigError> {
        let declared = Declared::build(&config, &self.inner.environment, &self.inner.http)
            .map_err(|problems| ConfigError::Invalid {
                path: origin.to_string(),
                problems,
            })?;
        let _guard = self.inner.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.runtime();
        let audit = auditor(&old, &config).map_err(|why| ConfigError::Invalid {
            path: origin.to_string(),
            problems: vec![why],
        })?;
        let (before, after) = (&old.config.gateway, &config.gateway);
        if !initial
            && (before.allowed_hosts != after.allowed_hosts
                || before.allowed_origins != after.allowed_origins
                || before.max_request_body_bytes != after.max_request_body_bytes
                || before.session_idle_timeout != after.session_idle_timeout
                || before.path != after.path
                || before.trusted_proxies != after.trusted_proxies
                || before.connections != after.connections
                || old.config.redis != config.redis)
        {
            tracing::warn!(
                "gateway.path, allowedHosts, allowedOrigins, trustedProxies, maxRequestBodyBytes, \
                 sessionIdleTimeout, connections and redis take effect when the gateway restarts; \
                 everything else is live"
            );
        }
        let mut reusable: HashMap<&str, &Arc<Upstream>> =
            old.upstreams.iter().map(|u| (u.name(), u)).collect();
        let default_timeout = config.gateway.default_timeout.0;
        let mut upstreams = Vec::with_capacity(config.servers.len());
        for spec in &config.servers {
            let prefix = config.prefix_for(spec);
            match reusable.get(spec.name.as_str()) {
                Some(existing) if existing.spec() == spec && existing.prefix() == prefix => {
                    upstreams.push((*existing).clone());
                    reusable.remove(spec.name.as_str());
                }
                _ => {
                    let weak = Arc::downgrade(&self.inner);
                    upstreams.push(Upstream::start(
                        spec.clone(),
                        prefix,
                        UpstreamContext {
                            default_timeout,
                            metrics: self.inner.metrics.clone(),
                            http: self.inner.http.clone(),
                            activity: self.inner.activity.clone(),
                            discovery: self.inner.shared.discovery.clone(),
                            on_change: Arc::new({
                                let weak = weak.clone();
                                move || rebuild_from(&weak)
                            }),
                            environment: self.inner.environment.clone(),
                            standalone_log: Arc::new(move |server, message, owner| {
                                if let Some(inner) = weak.upgrade() {
                                    inner.relay_standalone_log(server, message, owner);
                                }
                            }),
                        },
                    ));
                }
            }
        }
        // Whatever was not reused is gone or replaced: let its calls finish, then stop it.
        let grace = old
            .config
            .gateway
            .default_timeout
            .0
            .max(Duration::from_secs(1))
            + Duration::from_secs(1);
        for retired in reusable.values() {
            tracing::info!(
                server = retired.name(),
                "retiring upstream after config change"
            );
            retired.retire(grace);
        }
        let groups: Vec<Arc<Group>> = config
            .groups
            .iter()
            .map(|spec| {
                let members = spec
                    .members
                    .iter()
                    .filter_map(|name| upstreams.iter().find(|u| u.name() == name).cloned())
                    .collect();
                Arc::new(Group::new(
                    spec.clone(),
                    config.prefix_for_group(spec),
                    members,
                ))
            })
            .collect();
        let catalog = Arc::new(Catalog::build(&declared, &upstreams, &groups, &config));
        let runtime = Arc::new(Runtime {
            config: Arc::new(config.into_inner()),
            declared: Arc::new(declared),
            upstreams,
            groups,
            catalog: catalog.clone(),
            audit,
        });
        *self
            .inner
            .runtime
            .write()
            .unwrap_or_else(|e| e.into_inner()) = runtime;
        self.inner.after_rebuild(&old.catalog, &catalog);
        tracing::info!(
            origin,
            digest = %self.config().digest(),
            tools = catalog.tools().len(),
            prompts = catalog.prompts().len(),
            resources = catalog.resources().len(),
            "config applied"
        );
        Ok(())
    }

    /// A fresh id for a client session (or stateless request).
    pub fn next_session_id(&self) -> u64 {
        self.inner.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Remembers a session client so it hears `list_changed` and its servers' log messages.
    pub fn register_session(&self, session: SessionClient) {
        let mut sessions = self.inner.open_sessions();
        // A restore replays `notifications/initialized`; the client's own
        // may reach the restored worker too.
        if sessions.iter().all(|s| s.id != session.id) {
            sessions.push(session);
        }
    }

    /// Drops the sessions whose worker has ended (closed, or put to rest):
    /// each peer holds its channel, about 10 KB. Their sessions of their own
    /// with servers (`clientSessions`) close with them.
    pub fn forget_closed_sessions(&self) {
        drop(self.inner.open_sessions());
        for upstream in &self.runtime().upstreams {
            upstream.close_sessions_of_gone_clients();
        }
    }

    /// Whether any server gives session clients sessions of their own.
    pub fn gives_client_sessions(&self) -> bool {
        self.config().servers.iter().any(|s| s.client_sessions > 0)
    }

    /// Changes to the lists, for `subscriptions/listen` streams.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Changes> {
        self.inner.changes.subscribe()
    }

    /// Ready once every upstream's first connection attempt has finished.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let runtime = self.runtime();
        let mut servers = serde_json::Map::new();
        let mut settled = true;
        for upstream in &runtime.upstreams {
            settled &= upstream.is_settled();
            let status = match upstream.status() {
                Status::Starting => serde_json::json!({"state": "starting"}),
                Status::Ready {
                    protocol,
                    server,
                    since,
                } => serde_json::json!({
                    "state": "ready",
                    "protocolVersion": protocol,
                    "serverInfo": server,
                    "forSeconds": since.elapsed().as_secs(),
                }),
                Status::Down {
                    error,
                    since,
                    next_try,
                } => serde_json::json!({
                    "state": "down", "error": error, "forSeconds": since.elapsed().as_secs(),
                    "nextTryInSeconds": next_try.saturating_duration_since(Instant::now()).as_secs(),
                }),
                Status::Idle { since } => serde_json::json!({
                    "state": "idle", "forSeconds": since.elapsed().as_secs(),
                }),
                Status::Stopped => serde_json::json!({"state": "stopped"}),
            };
            let mut status = status;
            if upstream.spec().client_sessions > 0 {
                status["clientSessions"] = upstream.own_session_count().into();
            }
            status["circuit"] = match upstream.circuit() {
                hangar_circuit::State::Closed => "closed",
                hangar_circuit::State::Open => "open",
                hangar_circuit::State::HalfOpen => "half-open",
            }
            .into();
            servers.insert(upstream.name().to_string(), status);
        }
        let catalog = &runtime.catalog;
        let problems = missing_inputs(&runtime.config, &self.inner.environment);
        let ready = settled && problems.is_empty();
        let detail = serde_json::json!({
            "ready": ready,
            "problems": problems,
            "configDigest": runtime.config.digest(),
            "tools": catalog.tools().len(),
            "prompts": catalog.prompts().len(),
            "resources": catalog.resources().len(),
            "servers": servers,
            // The sessions this replica tells about changes; one put to rest
            // or closed leaves at the next rest sweep (read as is, not swept here).
            "liveSessions": self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner()).len(),
            // What `gateway.maxSessions` bounds: sessions begun or used
            // lately, live or not (one begins without a worker, `crate::lean`).
            "awakeSessions": self.inner.shared.rest.awake(),
            "clashes": catalog.clashes(),
            "curation": {
                "unmatchedOverrides": catalog.override_check().unmatched,
                "notListedYet": catalog.override_check().unknown,
            },
        });
        (ready, detail)
    }

    /// Wakes the scale-to-zero servers this gateway has never listed, so that
    /// a client listing tools learns theirs (announced with `list_changed`).
    pub fn discover_idle_servers(&self) {
        for upstream in &self.runtime().upstreams {
            upstream.discover();
        }
    }

    /// Waits until readiness (bounded by each upstream's connect timeout).
    pub async fn settled(&self) {
        for upstream in self.runtime().upstreams.clone() {
            upstream.first_attempt_done().await;
        }
    }

    /// Disconnects every upstream (stdio children are killed).
    pub fn shutdown(&self) {
        for upstream in &self.runtime().upstreams {
            upstream.shutdown();
        }
    }
}

fn rebuild_from(weak: &Weak<Inner>) {
    if let Some(inner) = weak.upgrade() {
        inner.rebuild_catalog();
    }
}

impl Inner {
    fn rebuild_catalog(&self) {
        let _guard = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        let old = self
            .runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let catalog = Arc::new(Catalog::build(
            &old.declared,
            &old.upstreams,
            &old.groups,
            &old.config,
        ));
        let runtime = Arc::new(Runtime {
            config: old.config.clone(),
            declared: old.declared.clone(),
            upstreams: old.upstreams.clone(),
            groups: old.groups.clone(),
            catalog: catalog.clone(),
            audit: old.audit.clone(),
        });
        *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = runtime;
        self.after_rebuild(&old.catalog, &catalog);
    }

    fn after_rebuild(&self, before: &Catalog, after: &Catalog) {
        self.metrics.set_catalog(
            after.tools().len(),
            after.prompts().len(),
            after.resources().len(),
        );
        let clashes = after.clashes();
        if clashes != before.clashes() {
            for clash in &clashes {
                tracing::error!(
                    clash = %clash,
                    "name clash: the name is withheld (onConflict: Reject) or served from the first source (KeepFirst); \
                     enable naming.prefix or give the servers distinct prefixes"
                );
            }
        }
        let unmatched = &after.override_check().unmatched;
        if unmatched != &before.override_check().unmatched {
            for override_ in unmatched {
                tracing::warn!(curation = %override_, "a curation override matches nothing");
            }
        }
        let changes = after.changes_from(before);
        if changes.any() {
            self.announce(changes);
        }
    }

    /// The sessions, without those whose worker has ended.
    fn open_sessions(&self) -> std::sync::MutexGuard<'_, Vec<SessionClient>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|s| !s.peer.is_transport_closed());
        sessions.release_spare();
        sessions
    }

    /// The peers of the open sessions that `choose` picks.
    fn live_sessions(&self, choose: impl Fn(&SessionClient) -> bool) -> Vec<Peer<RoleServer>> {
        self.open_sessions()
            .iter()
            .filter(|s| choose(s))
            .map(|s| s.peer.clone())
            .collect()
    }

    /// A server's log message that belongs to no call. On a client's own
    /// session with the server (`clientSessions`) it is that client's; on
    /// the gateway's session, which serves all its clients, every session
    /// client without a session of its own with the server hears it. Either
    /// way only at the level the client set, and not at all when
    /// authorization rules narrow what callers may see, as the message may
    /// be about anything.
    fn relay_standalone_log(
        &self,
        server: &str,
        message: LoggingMessageNotificationParam,
        owner: Option<&SessionClient>,
    ) {
        let runtime = self
            .runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if runtime
            .config
            .auth
            .as_ref()
            .is_some_and(|a| a.authorization.is_some())
        {
            tracing::debug!(server, level = ?message.level, "a log message outside any call stays here (authorization rules apply)");
            return;
        }
        let rank = level_rank(message.level);
        let wanted = |min: Option<LoggingLevel>| min.is_none_or(|min| rank >= level_rank(min));
        let peers = match owner {
            Some(owner) if wanted(owner.log_level()) => vec![owner.peer.clone()],
            Some(_) => Vec::new(),
            None => {
                let upstream = runtime.upstreams.iter().find(|u| u.name() == server);
                self.live_sessions(|s| {
                    wanted(s.log_level()) && upstream.is_none_or(|u| !u.has_own_session(s.id))
                })
            }
        };
        for peer in peers {
            let message = message.clone();
            tokio::spawn(async move {
                let _ = peer.notify_logging_message(message).await;
            });
        }
    }

    fn announce(&self, changes: Changes) {
        tracing::info!(?changes, "announcing list changes to clients");
        let _ = self.changes.send(changes);
        let peers: Vec<Peer<RoleServer>> = self.live_sessions(|_| true);
        for peer in peers {
            tokio::spawn(async move {
                if changes.tools {
                    let _ = peer.notify_tool_list_changed().await;
                }
                if changes.prompts {
                    let _ = peer.notify_prompt_list_changed().await;
                }
                if changes.resources {
                    let _ = peer.notify_resource_list_changed().await;
                }
            });
        }
    }
}

/// What the whole gateway needs from its environment and lacks: without its
/// bearer tokens it refuses every call, so it is not ready.
fn missing_inputs(config: &GatewayConfig, environment: &Environment) -> Vec<String> {
    let tokens = config.auth.as_ref().and_then(|a| a.bearer_tokens.as_ref());
    tokens
        .filter(|t| !environment.contains(&t.value_from_env))
        .map(|t| {
            format!(
                "auth.bearerTokens: environment variable {} is not set, so every call is refused",
                t.value_from_env
            )
        })
        .into_iter()
        .collect()
}

/// The auditor for `config`: the running one while its settings stay the
/// same (its file stays open), a new one otherwise.
fn auditor(old: &Runtime, config: &GatewayConfig) -> Result<Option<Arc<Auditor>>, String> {
    match (&config.audit, &old.audit) {
        (None, _) => Ok(None),
        (Some(settings), Some(running)) if running.settings() == settings => {
            Ok(Some(running.clone()))
        }
        (Some(settings), _) => Auditor::open(settings).map(|auditor| Some(Arc::new(auditor))),
    }
}
