//! One session with the server, as its traffic needs it: the client calls in
//! flight on it (where their progress, logs and server-to-client requests
//! go back to) and, for a client's session of its own, that client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rmcp::model::{ProgressToken, RequestId};
use rmcp::service::InboundStreamOrigin;

use super::ledger::RelayLedger;
use super::state::{Downstream, SessionClient};

pub(super) struct Link {
    calls: Mutex<Calls>,
    /// Progress and log notifications received on this session and relayed.
    pub(super) relays: Arc<RelayLedger>,
    /// The client whose session this is; `None` for the gateway's own, which
    /// serves every client.
    owner: Option<SessionClient>,
}

#[derive(Default)]
struct Calls {
    by_request: HashMap<RequestId, Arc<Downstream>>,
    by_progress: HashMap<ProgressToken, Arc<Downstream>>,
}

impl Link {
    /// The gateway's session with the server, shared by its clients.
    pub(super) fn shared() -> Self {
        Self {
            calls: Mutex::default(),
            relays: Arc::default(),
            owner: None,
        }
    }

    /// A session of `owner`'s own.
    pub(super) fn owned_by(owner: SessionClient) -> Self {
        Self {
            owner: Some(owner),
            ..Self::shared()
        }
    }

    pub(super) fn owner(&self) -> Option<&SessionClient> {
        self.owner.as_ref()
    }

    /// Routes what the server sends about request `id` (and its progress
    /// token) to `downstream` until [`Link::end`].
    pub(super) fn begin(&self, id: RequestId, progress: ProgressToken, call: Arc<Downstream>) {
        let mut calls = self.lock();
        calls.by_request.insert(id, call.clone());
        calls.by_progress.insert(progress, call);
    }

    pub(super) fn end(&self, id: &RequestId, progress: &ProgressToken) {
        let mut calls = self.lock();
        calls.by_request.remove(id);
        calls.by_progress.remove(progress);
        self.relays.forget(progress);
    }

    /// The client call a message from the server belongs to: the one on
    /// whose response stream it came, else the only call in flight (stdio
    /// and HTTP+SSE have one stream for everything).
    pub(super) fn call_for(&self, origin: Option<&InboundStreamOrigin>) -> Option<Arc<Downstream>> {
        let calls = self.lock();
        match origin {
            Some(InboundStreamOrigin::OutboundRequest(id)) => calls.by_request.get(id).cloned(),
            _ if calls.by_request.len() == 1 => calls.by_request.values().next().cloned(),
            _ => None,
        }
    }

    pub(super) fn call_with_progress(&self, token: &ProgressToken) -> Option<Arc<Downstream>> {
        self.lock().by_progress.get(token).cloned()
    }

    pub(super) fn in_flight(&self) -> usize {
        self.lock().by_request.len()
    }

    fn lock(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}
