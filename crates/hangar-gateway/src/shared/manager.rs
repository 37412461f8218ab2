//! The session manager behind `/mcp`: rmcp's in-memory manager, with session
//! streams' events in Redis when there is one.
//!
//! rmcp also persists stateless (2026-07-28) SSE responses in a session
//! manager's event store, and then keeps a request running after its client
//! disconnects. Stateless requests here stay independent of Redis: this
//! wrapper hides the store from the stateless path, so they keep working
//! while Redis is down and are cancelled when their client goes away.

use std::sync::Arc;

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker,
};
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId, SessionManager};
use tokio::sync::watch;

use super::rest::Rest;
use crate::spare::Spare as _;

pub struct ReplicaSessions {
    pub local: LocalSessionManager,
    /// Which sessions are awake, and which of them may rest.
    rest: Arc<Rest>,
    /// Sessions whose workers were told to end by [`ReplicaSessions::rest`];
    /// each worker's own closing call must not close a restored successor.
    resting: std::sync::Mutex<std::collections::HashSet<SessionId>>,
    /// Sessions rmcp is restoring whose replayed `initialize` is not answered
    /// yet. rmcp lists a restored session before that, and a request handed
    /// to a worker still waiting for its `initialize` ends the worker; so
    /// [`SessionManager::has_session`] waits for it (the entry's sender
    /// dropping). A client's GET stream and first calls race like this as
    /// every session begins at rest (`crate::lean`).
    restoring: std::sync::Mutex<std::collections::HashMap<SessionId, watch::Sender<()>>>,
}

impl ReplicaSessions {
    pub fn new(local: LocalSessionManager, rest: Arc<Rest>) -> Self {
        Self {
            local,
            rest,
            resting: Default::default(),
            restoring: Default::default(),
        }
    }

    /// Lets requests waiting for the session's restore go on.
    fn restored(&self, id: &SessionId) {
        self.restoring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Ends the workers of sessions due to rest (`super::rest`); their
    /// state stays in the session store for rmcp to restore them. A session
    /// leaves the manager before its worker is told to end, so a request
    /// after this sees no live session and restores it.
    pub async fn rest(&self) {
        let rest = &self.rest;
        let handles = {
            // Skipped this round if requests hold the map.
            let Ok(mut sessions) = self.local.sessions.try_write() else {
                return;
            };
            let mut resting = self.resting.lock().unwrap_or_else(|e| e.into_inner());
            let mut handles = Vec::new();
            rest.take_due(|id| {
                if let Some(handle) = sessions.remove(id) {
                    resting.insert(id.clone());
                    handles.push(handle);
                }
            });
            sessions.release_spare();
            // What the last round's workers left, once they all ended.
            resting.release_spare();
            handles
        };
        for handle in handles {
            let _ = handle.close().await;
        }
    }
}

impl SessionManager for ReplicaSessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    fn create_session(
        &self,
    ) -> impl Future<Output = Result<(SessionId, Self::Transport), Self::Error>> + Send {
        self.local.create_session()
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let answered = self.local.initialize_session(id, message).await;
        self.restored(id);
        answered
    }

    fn has_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let restoring = self
            .restoring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(watch::Sender::subscribe);
        async move {
            if let Some(mut restoring) = restoring {
                // Ends as the restore's `initialize` is answered (or fails).
                let _ = restoring.changed().await;
            }
            self.local.has_session(id).await
        }
    }

    fn close_session(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let rested = self
            .resting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        async move {
            if rested {
                // A rested worker ending: the live session (if any) is its restored successor.
                return Ok(());
            }
            // Closed (DELETE, expiry, gone elsewhere): no longer awake.
            self.rest.forget(id);
            self.restored(id);
            self.local.close_session(id).await
        }
    }

    fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.local.create_stream(id, message)
    }

    fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.local.accept_message(id, message)
    }

    fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.local.create_standalone_stream(id)
    }

    fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> impl Future<
        Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>,
    > + Send {
        self.local.resume(id, last_event_id)
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // Marked before rmcp lists the session, so no request sees it unready.
        let (ready, _) = watch::channel(());
        self.restoring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), ready);
        let outcome = self.local.restore_session(id.clone()).await;
        if !matches!(outcome, Ok(RestoreOutcome::Restored(_))) {
            self.restored(&id);
        }
        outcome
    }

    /// Only the stateless path asks; session streams use the inner manager's store.
    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        None
    }
}
