//! State the gateway's replicas share: legacy sessions and their SSE events,
//! the discovery cache, and rate-limit buckets. In each replica's memory by
//! default; in Redis (a single node or a Cluster) when the config has a
//! `redis` section.
//!
//! When Redis is unreachable, stateless (2026-07-28) requests are unaffected:
//! rate limits fall back to per-replica buckets and upstreams are listed
//! directly. Session-based requests are refused with a clear error (HTTP 503),
//! since no replica can tell whether their session exists; all of it resumes
//! by itself when Redis answers again.

pub mod discovery;
pub mod events;
pub mod link;
pub mod manager;
pub mod ratelimit;
pub mod rest;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use discovery::DiscoveryCache;
use events::RedisEvents;
use hangar_config::{Environment, GatewayConfig};
use link::RedisLink;
use ratelimit::RateLimiter;
use rest::Rest;
use rmcp::transport::streamable_http_server::session::SessionStore;
use sessions::{MemorySessions, RedisSessions, Sessions};

/// Longest `/readyz` waits for Redis: well within the kubelet's probe
/// timeout (1 s by default), so that a Redis which does not answer (a Service
/// without endpoints, a dropped connection) never makes a replica unready,
/// which would take every replica out of the gateway's Service at once.
pub const READINESS_REDIS_WAIT: Duration = Duration::from_millis(300);

/// Shared state as this replica sees it. Built once at startup: the `redis`
/// section and the session idle timeout take effect when the gateway restarts.
pub struct Shared {
    pub link: Option<Arc<RedisLink>>,
    pub sessions: Arc<Sessions>,
    /// For rmcp's restore of sessions put to rest or begun on other replicas.
    pub session_store: Arc<dyn SessionStore>,
    /// This replica's live sessions, and which of them may rest.
    pub rest: Arc<Rest>,
    /// SSE events of session streams, for `Last-Event-ID` on any replica.
    pub events: Option<Arc<RedisEvents>>,
    pub discovery: Option<Arc<DiscoveryCache>>,
    pub rate: RateLimiter,
    pub idle: Duration,
}

impl Shared {
    /// Starts connecting to Redis when the config asks for it.
    pub fn start(config: &GatewayConfig, environment: &Environment) -> Result<Self, String> {
        let idle = config.gateway.session_idle_timeout.0;
        let rest = Arc::new(Rest::new(idle));
        let Some(settings) = &config.redis else {
            let memory = Arc::new(MemorySessions::new(idle));
            return Ok(Self {
                link: None,
                sessions: Arc::new(Sessions::Memory(memory.clone())),
                session_store: memory,
                rest,
                events: None,
                discovery: None,
                rate: RateLimiter::new(None),
                idle,
            });
        };
        let link = RedisLink::start(settings, environment)?;
        let store = Arc::new(RedisSessions::new(link.clone(), idle));
        Ok(Self {
            sessions: Arc::new(Sessions::Redis(RedisSessions::new(link.clone(), idle))),
            session_store: store,
            rest,
            events: Some(Arc::new(RedisEvents::new(link.clone(), idle))),
            discovery: Some(Arc::new(DiscoveryCache::new(
                link.clone(),
                settings.discovery_ttl.0,
            ))),
            rate: RateLimiter::new(Some(link.clone())),
            link: Some(link),
            idle,
        })
    }

    /// For `/readyz`: where shared state lives and whether it is reachable
    /// now, or as last seen when Redis does not answer within
    /// [`READINESS_REDIS_WAIT`].
    pub async fn status(&self) -> serde_json::Value {
        if let Some(link) = &self.link {
            let _ = tokio::time::timeout(READINESS_REDIS_WAIT, link.probe()).await;
        }
        match &self.link {
            None => serde_json::json!({"store": "memory"}),
            Some(link) => {
                let mut status = link.status();
                status["store"] = "redis".into();
                status
            }
        }
    }
}
