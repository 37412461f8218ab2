//! Legacy (session-based) sessions, in this replica's memory or shared by
//! all replicas in Redis.
//!
//! rmcp keeps a session's live state (its handler, open streams) in the
//! replica that runs it, and restores a session it does not know from a
//! [`SessionStore`] by replaying the client's `initialize`. The stores keep
//! that `initialize`, plus the caller the session belongs to: in memory for
//! sessions put to rest (`rest`), in Redis for every replica. Redis decides
//! whether a session exists: its key expires after the idle timeout and
//! every request pushes the expiry out, whichever replica serves it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};

use super::link::{RedisLink, Unavailable};
use crate::spare::Spare as _;

/// What a request learns about the session it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCheck {
    /// The session exists; `owner` is the caller that began it, when it was authenticated.
    Live { owner: Option<String> },
    /// Expired, closed, or never begun.
    Gone,
}

/// Session bookkeeping in memory (one replica) or in Redis (all replicas).
pub enum Sessions {
    Memory(Arc<MemorySessions>),
    Redis(RedisSessions),
}

impl Sessions {
    /// Pushes the idle expiry out and tells who owns the session.
    pub async fn check(&self, id: &str) -> Result<SessionCheck, Unavailable> {
        match self {
            Sessions::Memory(memory) => Ok(memory.check(id)),
            Sessions::Redis(redis) => redis.check(id).await,
        }
    }

    /// Whether `id` may name a session, as far as this replica can tell
    /// without asking further: in memory, whether it has a record; Redis
    /// was asked by [`Sessions::check`].
    pub fn may_exist(&self, id: &str) -> bool {
        match self {
            Sessions::Memory(memory) => memory.lock().contains_key(id),
            Sessions::Redis(_) => true,
        }
    }

    /// Records the caller a new session belongs to.
    pub async fn bind(&self, id: &str, owner: &str) -> Result<(), Unavailable> {
        match self {
            Sessions::Memory(memory) => {
                memory.bind(id, owner);
                Ok(())
            }
            Sessions::Redis(redis) => redis.bind(id, owner).await,
        }
    }
}

/// This replica's sessions without Redis: each one's `initialize` (so rmcp
/// can restore a session put to rest) and owner, until it idles out.
pub struct MemorySessions {
    idle: Duration,
    records: Mutex<HashMap<String, Record>>,
}

#[derive(Default)]
struct Record {
    /// The session's `SessionState`, as JSON (smaller than the parsed form).
    state: Option<Box<str>>,
    owner: Option<Box<str>>,
    seen: Option<Instant>,
}

impl MemorySessions {
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, id: &str) -> SessionCheck {
        let mut records = self.lock();
        let owner = records.get_mut(id).and_then(|record| {
            record.seen = Some(Instant::now());
            record.owner.as_deref().map(str::to_string)
        });
        // rmcp answers unknown sessions itself; here a session is only ever "live".
        SessionCheck::Live { owner }
    }

    fn bind(&self, id: &str, owner: &str) {
        let mut records = self.lock();
        let record = records.entry(id.to_string()).or_default();
        record.owner = Some(owner.into());
        record.seen = Some(Instant::now());
    }

    /// Forgets the sessions idle for longer than the idle timeout.
    pub fn expire(&self) {
        let idle = self.idle;
        let mut records = self.lock();
        records.retain(|_, record| record.seen.is_some_and(|seen| seen.elapsed() < idle));
        records.release_spare();
    }
}

#[async_trait::async_trait]
impl SessionStore for MemorySessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let records = self.lock();
        let Some(record) = records.get(session_id) else {
            return Ok(None);
        };
        if record.seen.is_none_or(|seen| seen.elapsed() >= self.idle) {
            return Ok(None);
        }
        match &record.state {
            None => Ok(None),
            Some(text) => Ok(Some(serde_json::from_str(text)?)),
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let text = serde_json::to_string(state)?;
        let mut records = self.lock();
        let record = records.entry(session_id.to_string()).or_default();
        record.state = Some(text.into());
        record.seen = Some(Instant::now());
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.lock().remove(session_id);
        Ok(())
    }
}

/// Sessions in Redis: one hash per session, `state` (the `initialize`
/// parameters) and `owner`, expiring after the idle timeout.
pub struct RedisSessions {
    link: Arc<RedisLink>,
    idle: Duration,
    check: redis::Script,
}

/// Extends a live session's expiry and returns its owner ("" when none), or nil when gone.
const CHECK_SCRIPT: &str = r"
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then
  return redis.call('HGET', KEYS[1], 'owner') or ''
end
return false
";

impl RedisSessions {
    pub fn new(link: Arc<RedisLink>, idle: Duration) -> Self {
        Self {
            link,
            idle,
            check: redis::Script::new(CHECK_SCRIPT),
        }
    }

    fn key(&self, id: &str) -> String {
        self.link.key(&format!("session:{id}"))
    }

    fn idle_ms(&self) -> u64 {
        u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX)
    }

    async fn check(&self, id: &str) -> Result<SessionCheck, Unavailable> {
        let key = self.key(id);
        let ms = self.idle_ms();
        let owner: Option<String> = self
            .link
            .run(async |conn| self.check.key(&key).arg(ms).invoke_async(conn).await)
            .await?;
        Ok(match owner {
            None => SessionCheck::Gone,
            Some(owner) if owner.is_empty() => SessionCheck::Live { owner: None },
            Some(owner) => SessionCheck::Live { owner: Some(owner) },
        })
    }

    async fn bind(&self, id: &str, owner: &str) -> Result<(), Unavailable> {
        let key = self.key(id);
        let ms = self.idle_ms();
        self.link
            .run(async |conn| {
                redis::pipe()
                    .hset(&key, "owner", owner)
                    .ignore()
                    .pexpire(&key, ms as i64)
                    .ignore()
                    .query_async::<()>(conn)
                    .await
            })
            .await
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let key = self.key(session_id);
        let state: Option<String> = self
            .link
            .run(async |conn| {
                redis::cmd("HGET")
                    .arg(&key)
                    .arg("state")
                    .query_async(conn)
                    .await
            })
            .await?;
        match state {
            None => Ok(None),
            Some(text) => Ok(Some(serde_json::from_str(&text).map_err(|e| {
                format!("session {session_id} in Redis is not a session this gateway wrote: {e}")
            })?)),
        }
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let key = self.key(session_id);
        let text = serde_json::to_string(state)?;
        let ms = self.idle_ms();
        self.link
            .run(async |conn| {
                redis::pipe()
                    .hset(&key, "state", &text)
                    .ignore()
                    .pexpire(&key, ms as i64)
                    .ignore()
                    .query_async::<()>(conn)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        let key = self.key(session_id);
        self.link
            .run(async |conn| redis::cmd("DEL").arg(&key).query_async::<()>(conn).await)
            .await?;
        Ok(())
    }
}
