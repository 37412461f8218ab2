//! One connection to Redis (a single node or a Cluster) with a health flag.
//!
//! A background task connects, pings and reconnects on its own, so the
//! gateway starts and keeps serving while Redis is down and picks it up again
//! when it returns. While the flag is down, callers get an error at once
//! instead of waiting for a timeout on every request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};

use hangar_config::{Environment, RedisMode, RedisSettings};

/// How often the health task pings while Redis answers, and retries while it does not.
const PING_EVERY: Duration = Duration::from_secs(2);
const RETRY_EVERY: Duration = Duration::from_millis(250);

/// A connection of either topology; cheap to clone (both multiplex one socket per node).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Why shared state could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Redis, as the gateway uses it.
pub struct RedisLink {
    /// May carry a password: never logged.
    url: String,
    /// The URL without its password, for messages.
    shown: String,
    /// Sent with AUTH when set (in place of one in the URL): never logged.
    password: Option<String>,
    /// PEM of the CA trusted for `rediss://` instead of the system's.
    ca: Option<String>,
    mode: RedisMode,
    prefix: String,
    timeout: Duration,
    conn: RwLock<Option<Conn>>,
    up: AtomicBool,
    problem: Mutex<(String, Instant)>,
    /// True once the first connection attempt finished, either way.
    tried: tokio::sync::watch::Sender<bool>,
}

impl RedisLink {
    /// Starts connecting in the background; usable once [`Self::is_up`].
    pub fn start(settings: &RedisSettings, environment: &Environment) -> Result<Arc<Self>, String> {
        let url = settings.resolve_url(environment)?;
        let password = settings.resolve_password(environment)?;
        let ca = settings.resolve_ca(environment)?;
        let shown = redacted(&url);
        let link = Arc::new(Self {
            url,
            shown,
            password,
            ca,
            mode: settings.mode,
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout.0,
            conn: RwLock::new(None),
            up: AtomicBool::new(false),
            problem: Mutex::new(("not connected yet".into(), Instant::now())),
            tried: tokio::sync::watch::Sender::new(false),
        });
        let weak = Arc::downgrade(&link);
        tokio::spawn(async move { watch(weak).await });
        Ok(link)
    }

    /// `<keyPrefix><rest>`.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Waits for the first connection attempt, so work at startup does not
    /// take "not connected yet" for an outage.
    pub async fn tried(&self) {
        let mut tried = self.tried.subscribe();
        let _ = tried.wait_for(|t| *t).await;
    }

    /// For `/readyz`.
    pub fn status(&self) -> serde_json::Value {
        let mode = match self.mode {
            RedisMode::Standalone => "standalone",
            RedisMode::Cluster => "cluster",
        };
        if self.is_up() {
            serde_json::json!({"url": self.shown, "mode": mode, "connected": true})
        } else {
            let (error, since) = lock(&self.problem).clone();
            serde_json::json!({
                "url": self.shown, "mode": mode, "connected": false,
                "error": error, "forSeconds": since.elapsed().as_secs(),
            })
        }
    }

    /// Why Redis is unusable right now, in words for a client or an operator.
    pub fn unavailable(&self) -> Unavailable {
        let (error, _) = lock(&self.problem).clone();
        Unavailable(format!("Redis at {} is unreachable ({error})", self.shown))
    }

    /// Runs one operation, bounded by the configured timeout. A failure that
    /// means Redis is gone marks it down until the health task reaches it again.
    pub async fn run<T, F>(&self, op: F) -> Result<T, Unavailable>
    where
        F: AsyncFnOnce(&mut Conn) -> RedisResult<T>,
    {
        if !self.is_up() {
            return Err(self.unavailable());
        }
        let Some(mut conn) = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return Err(self.unavailable());
        };
        match tokio::time::timeout(self.timeout, op(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if is_outage(&error) => {
                self.mark_down(error.to_string());
                Err(self.unavailable())
            }
            Ok(Err(error)) => Err(Unavailable(format!(
                "Redis at {} refused a command: {error}",
                self.shown
            ))),
            Err(_) => {
                self.mark_down(format!(
                    "no answer within {}",
                    hangar_config::DurationSpec(self.timeout)
                ));
                Err(self.unavailable())
            }
        }
    }

    fn mark_down(&self, error: String) {
        let was_up = self.up.swap(false, Ordering::AcqRel);
        let news = was_up || !*self.tried.borrow();
        {
            let mut problem = lock(&self.problem);
            // Keep the time the outage began.
            let since = if news { Instant::now() } else { problem.1 };
            *problem = (error.clone(), since);
        }
        if news {
            tracing::error!(
                redis = %self.shown, error = %error,
                "Redis is unreachable: session-based clients get errors until it returns; stateless requests keep working"
            );
        }
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(redis = %self.shown, "Redis connected; shared state is in use");
        }
    }

    /// Connects or pings now and records the outcome; true when Redis answered.
    pub async fn probe(&self) -> bool {
        let existing = self.conn.read().unwrap_or_else(|e| e.into_inner()).clone();
        let outcome = match existing {
            None => match tokio::time::timeout(self.timeout, self.connect()).await {
                Ok(Ok(conn)) => {
                    *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connecting timed out".into()),
            },
            Some(mut conn) => {
                let ping = redis::cmd("PING");
                match tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn))
                    .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no answer to PING".into()),
                }
            }
        };
        let up = match outcome {
            Ok(()) => {
                self.mark_up();
                true
            }
            Err(why) => {
                self.mark_down(why);
                false
            }
        };
        self.tried.send_replace(true);
        up
    }

    /// The CA to trust, when the config names one.
    fn certificates(&self) -> Option<redis::TlsCertificates> {
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(self.ca.as_ref()?.clone().into_bytes()),
        })
    }

    async fn connect(&self) -> RedisResult<Conn> {
        let url = self.url.as_str();
        match self.mode {
            RedisMode::Standalone => {
                let mut info = url.into_connection_info()?;
                if let Some(password) = &self.password {
                    let settings = info.redis_settings().clone().set_password(password);
                    info = info.set_redis_settings(settings);
                }
                let client = match self.certificates() {
                    Some(certificates) => redis::Client::build_with_tls(info, certificates)?,
                    None => redis::Client::open(info)?,
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // The health task retries; a command should fail fast.
                    .set_number_of_retries(1);
                Ok(Conn::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            RedisMode::Cluster => {
                let mut builder = redis::cluster::ClusterClient::builder([url]);
                if let Some(password) = &self.password {
                    builder = builder.password(password);
                }
                if let Some(certificates) = self.certificates() {
                    builder = builder.certs(certificates);
                }
                let client = builder
                    .connection_timeout(self.timeout)
                    .response_timeout(self.timeout)
                    .retries(1)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// Keeps the link connected and its health flag true to what Redis does.
async fn watch(link: Weak<RedisLink>) {
    loop {
        let Some(this) = link.upgrade() else { return };
        let healthy = this.probe().await;
        drop(this);
        tokio::time::sleep(if healthy { PING_EVERY } else { RETRY_EVERY }).await;
    }
}

/// Whether an error means Redis (or the connection to it) is gone, rather
/// than that one command was wrong.
fn is_outage(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_cluster_error()
        || error.is_unrecoverable_error()
}

/// `redis://user:secret@host:6379` → `redis://user:***@host:6379`.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("redis://default:hunter2@redis.ns.svc:6379/0"),
            "redis://default:***@redis.ns.svc:6379/0"
        );
        assert_eq!(redacted("redis://r:6379"), "redis://r:6379");
        assert_eq!(redacted("::"), "(an unparsable URL)");
    }
}
