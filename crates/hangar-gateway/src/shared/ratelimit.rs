//! Token buckets: `requests` tokens, refilled evenly over `period`; a request
//! takes one. With Redis, one Lua script reads, refills and takes atomically
//! on Redis's own clock, so all replicas draw from the same bucket. Without
//! Redis, or while it is unreachable, each replica keeps its own buckets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::link::RedisLink;
use hangar_config::Limit;

/// The outcome of taking a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Out of tokens; the next one is due after this long.
    Limited {
        retry_after: Duration,
    },
}

/// Refill, then take a token if there is one. Returns {allowed, wait in ms}.
const TAKE_SCRIPT: &str = r"
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * capacity / period)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * period / capacity)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], period)
return {allowed, wait}
";

pub struct RateLimiter {
    redis: Option<Arc<RedisLink>>,
    script: redis::Script,
    local: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(redis: Option<Arc<RedisLink>>) -> Self {
        Self {
            redis,
            script: redis::Script::new(TAKE_SCRIPT),
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from the bucket `name` limited by `limit`.
    pub async fn take(&self, name: &str, limit: &Limit) -> Decision {
        let period = limit.period.0.max(Duration::from_millis(1));
        if let Some(redis) = &self.redis
            && redis.is_up()
        {
            let key = redis.key(&format!("ratelimit:{name}"));
            let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
            let taken: Result<(i64, i64), _> = redis
                .run(async |conn| {
                    self.script
                        .key(&key)
                        .arg(limit.requests)
                        .arg(period_ms)
                        .invoke_async(conn)
                        .await
                })
                .await;
            match taken {
                Ok((1, _)) => return Decision::Allowed,
                Ok((_, wait)) => {
                    return Decision::Limited {
                        retry_after: Duration::from_millis(wait.max(1) as u64),
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits are per replica until Redis is back")
                }
            }
        }
        let mut buckets = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            // A bucket untouched for its period is full again: forgetting it changes nothing.
            buckets.retain(|_, b| b.at.elapsed() < b.period);
        }
        buckets
            .entry(name.to_string())
            .or_insert_with(|| Bucket::full(limit, period))
            .take(limit, period, Instant::now())
    }
}

/// An in-memory bucket.
struct Bucket {
    tokens: f64,
    at: Instant,
    period: Duration,
}

impl Bucket {
    fn full(limit: &Limit, period: Duration) -> Self {
        Self {
            tokens: f64::from(limit.requests),
            at: Instant::now(),
            period,
        }
    }

    fn take(&mut self, limit: &Limit, period: Duration, now: Instant) -> Decision {
        let capacity = f64::from(limit.requests);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * capacity / period.as_secs_f64()).min(capacity);
        self.at = now;
        self.period = period;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Decision::Allowed
        } else {
            let wait = (1.0 - self.tokens) * period.as_secs_f64() / capacity;
            Decision::Limited {
                // At most the whole period, which a Duration always holds.
                retry_after: Duration::try_from_secs_f64(wait).unwrap_or(period).clamp(
                    Duration::from_millis(1),
                    period.max(Duration::from_millis(1)),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_size_then_refills_evenly() {
        let limit = Limit::new(3, Duration::from_secs(60));
        let period = limit.period.0;
        let start = Instant::now();
        let mut bucket = Bucket {
            tokens: 3.0,
            at: start,
            period,
        };
        for _ in 0..3 {
            assert_eq!(bucket.take(&limit, period, start), Decision::Allowed);
        }
        let Decision::Limited { retry_after } = bucket.take(&limit, period, start) else {
            panic!("a fourth request in the same instant must be limited");
        };
        assert_eq!(retry_after, Duration::from_secs(20));
        // One token comes back every period / requests.
        let later = start + Duration::from_secs(20);
        assert_eq!(bucket.take(&limit, period, later), Decision::Allowed);
        assert!(matches!(
            bucket.take(&limit, period, later),
            Decision::Limited { .. }
        ));
        // Never more than `requests` tokens, however long it sat idle.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(bucket.take(&limit, period, much_later), Decision::Allowed);
        }
        assert!(matches!(
            bucket.take(&limit, period, much_later),
            Decision::Limited { .. }
        ));
    }
}
