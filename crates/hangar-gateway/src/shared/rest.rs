//! Idle legacy sessions put to rest. A live rmcp session holds a worker task,
//! a service loop and their channels (tens of KB); a session at rest is only
//! its `initialize` in the session store (this replica's memory, or Redis),
//! and rmcp restores it on its next request that needs a worker by replaying
//! that `initialize`, as it does for a session begun on another replica.
//! Most sessions begin at rest (`crate::lean`); this map tracks every
//! session awake, live or not, which `gateway.maxSessions` bounds.
//!
//! A session rests after [`Rest::after`] without requests, unless a request
//! or a stream (the GET stream, an SSE answer) of it is still open, or it
//! holds state a restore would lose (resource subscriptions, a log level).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::spare::Spare as _;

/// How long a session's worker lives without requests, at most.
const MAX_AWAKE: Duration = Duration::from_secs(60);

/// Use of this replica's live sessions.
pub struct Rest {
    after: Duration,
    uses: Mutex<HashMap<Arc<str>, Use>>,
}

#[derive(Debug)]
struct Use {
    /// Requests and streams of the session still open.
    open: usize,
    last: Instant,
    /// Holds state that only the live session has.
    pinned: bool,
}

impl Rest {
    /// Sessions rest after a quarter of their idle timeout, at most a minute.
    pub fn new(idle: Duration) -> Self {
        Self {
            after: (idle / 4).min(MAX_AWAKE),
            uses: Mutex::default(),
        }
    }

    pub fn after(&self) -> Duration {
        self.after
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Use>> {
        self.uses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a request or stream of `session` open until the guard drops.
    pub fn open(self: &Arc<Self>, session: &str) -> Open {
        let mut uses = self.lock();
        let key = match uses.get_key_value(session) {
            Some((key, _)) => key.clone(),
            None => Arc::from(session),
        };
        let entry = uses.entry(key.clone()).or_insert(Use {
            open: 0,
            last: Instant::now(),
            pinned: false,
        });
        entry.open += 1;
        entry.last = Instant::now();
        Open {
            rest: self.clone(),
            session: key,
        }
    }

    /// Keeps `session` awake for as long as it lives.
    pub fn pin(&self, session: &str) {
        if let Some(entry) = self.lock().get_mut(session) {
            entry.pinned = true;
        }
    }

    /// Takes the sessions idle for [`Rest::after`] with nothing open and
    /// nothing pinned, calling `take` for each while no request can open one
    /// (a request opens its session before it looks for the live session).
    pub fn take_due(&self, mut take: impl FnMut(&Arc<str>)) {
        let mut uses = self.lock();
        uses.retain(|id, u| {
            let due = u.open == 0 && !u.pinned && u.last.elapsed() >= self.after;
            if due {
                take(id);
            }
            !due
        });
        uses.release_spare();
    }

    /// Sessions awake: begun or used within [`Rest::after`], or with a
    /// request or stream open, or pinned. `gateway.maxSessions` bounds them.
    pub fn awake(&self) -> usize {
        self.lock().len()
    }

    /// Drops what is known about a session that ended.
    pub fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    #[cfg(test)]
    fn is_tracked(&self, session: &str) -> bool {
        self.lock().contains_key(session)
    }
}

/// An open request or stream of a session.
pub struct Open {
    rest: Arc<Rest>,
    session: Arc<str>,
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(entry) = self.rest.lock().get_mut(&self.session) {
            entry.open = entry.open.saturating_sub(1);
            entry.last = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idle_sessions_with_nothing_open_or_pinned_rest() {
        let rest = Arc::new(Rest {
            after: Duration::ZERO,
            uses: Mutex::default(),
        });
        let open = rest.open("busy");
        drop(rest.open("idle"));
        drop(rest.open("pinned"));
        rest.pin("pinned");
        let due = |rest: &Rest| {
            let mut ids = Vec::new();
            rest.take_due(|id| ids.push(id.to_string()));
            ids
        };
        assert_eq!(due(&rest), ["idle"]);
        assert!(!rest.is_tracked("idle"));
        assert!(due(&rest).is_empty());
        drop(open);
        assert_eq!(due(&rest), ["busy"]);
        assert!(rest.is_tracked("pinned"));
        assert_eq!(
            Rest::new(Duration::from_secs(20)).after(),
            Duration::from_secs(5)
        );
        assert_eq!(Rest::new(Duration::from_secs(3600)).after(), MAX_AWAKE);
    }
}
