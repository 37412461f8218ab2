//! Sessions of their own with the server for session-based clients
//! (`clientSessions`): opened at a client's first call, in the session-based
//! era the client speaks and with the capabilities it declared, and closed
//! with the client's session. What the server keeps per session (roots, log
//! level, per-session state) and what it sends outside any call (a roots
//! request, log messages, resource updates) are then that client's alone,
//! as they are when it talks to the server directly. Over stdio each one is
//! a child process of its own, so the number is bounded; past the bound a
//! client shares the gateway's session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use hangar_mcp_client::Lifecycles;
use rmcp::service::{Peer, RoleClient};
use tokio::sync::{OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::link::Link;
use super::relay::client_info;
use super::state::SessionClient;
use super::transports::{Session, open};

pub(super) struct OwnSessions {
    limit: usize,
    by_client: Mutex<HashMap<u64, Arc<OwnSession>>>,
}

struct OwnSession {
    link: Arc<Link>,
    /// Set once connected; `None` when connecting failed.
    peer: OnceCell<Option<Peer<RoleClient>>>,
    close: CancellationToken,
}

impl OwnSessions {
    pub(super) fn new(limit: u32) -> Self {
        Self {
            limit: limit as usize,
            by_client: Mutex::default(),
        }
    }

    fn all(&self) -> MutexGuard<'_, HashMap<u64, Arc<OwnSession>>> {
        self.by_client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The open sessions, once those whose client has gone are closed.
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<OwnSession>>> {
        let mut sessions = self.all();
        sessions.retain(|_, session| {
            let gone = session
                .link
                .owner()
                .is_none_or(|owner| owner.peer.is_transport_closed());
            if gone {
                session.close.cancel();
            }
            !gone
        });
        sessions
    }

    fn forget(&self, client: u64, session: &Arc<OwnSession>) {
        let mut sessions = self.all();
        if sessions
            .get(&client)
            .is_some_and(|current| Arc::ptr_eq(current, session))
        {
            sessions.remove(&client);
        }
        session.close.cancel();
    }

    /// Calls in flight on clients' own sessions.
    pub(super) fn in_flight(&self) -> usize {
        let sessions = self.all();
        sessions.values().map(|s| s.link.in_flight()).sum()
    }

    /// Closes every client's own session (the server went idle).
    fn close_all(&self) {
        let mut sessions = self.all();
        for (_, session) in sessions.drain() {
            session.close.cancel();
        }
    }

    /// The client's own session, if it has one open already.
    fn existing(&self, client: u64) -> Option<(Peer<RoleClient>, Arc<Link>)> {
        let session = self.open().get(&client).cloned()?;
        let peer = session.peer.get().cloned().flatten()?;
        (!peer.is_transport_closed()).then(|| (peer, session.link.clone()))
    }
}

impl Upstream {
    /// The session the client's requests go on when it is not the gateway's:
    /// the client's own, opened now if it has none and the bound allows.
    pub(super) async fn own_session(
        &self,
        client: &SessionClient,
    ) -> Option<(Peer<RoleClient>, Arc<Link>)> {
        let sessions = &self.own_sessions;
        if sessions.limit == 0 || !matches!(self.status(), super::Status::Ready { .. }) {
            return None;
        }
        let session = {
            let mut open = sessions.open();
            match open.get(&client.id) {
                Some(session) => session.clone(),
                None if open.len() < sessions.limit => {
                    let session = Arc::new(OwnSession {
                        link: Arc::new(Link::owned_by(client.clone())),
                        peer: OnceCell::new(),
                        close: CancellationToken::new(),
                    });
                    open.insert(client.id, session.clone());
                    session
                }
                None => {
                    tracing::debug!(
                        server = self.name(),
                        limit = sessions.limit,
                        "every session of its own for clients is in use; this client shares the gateway's"
                    );
                    return None;
                }
            }
        };
        let peer = session
            .peer
            .get_or_init(|| self.open_own_session(client, &session))
            .await
            .clone();
        match peer {
            Some(peer) if !peer.is_transport_closed() => Some((peer, session.link.clone())),
            // Could not be opened: the client shares the gateway's session
            // from now on, rather than wait for another attempt at every call.
            None => None,
            // Closed (the server ended it): the next request opens another.
            Some(_) => {
                sessions.forget(client.id, &session);
                None
            }
        }
    }

    /// Opens the client's own session now, as it begins its session with the gateway.
    pub async fn begin_client_session(&self, client: &SessionClient) {
        self.own_session(client).await;
    }

    /// The client's own session, only if it has one open already.
    pub(super) fn existing_own_session(
        &self,
        client: u64,
    ) -> Option<(Peer<RoleClient>, Arc<Link>)> {
        self.own_sessions.existing(client)
    }

    /// How many clients have a session of their own with the server now.
    pub fn own_session_count(&self) -> usize {
        self.own_sessions.open().len()
    }

    /// Whether the client has a session of its own with the server open.
    pub fn has_own_session(&self, client: u64) -> bool {
        // Not swept: this runs for every session a log message may go to.
        self.own_sessions.all().contains_key(&client)
    }

    /// Closes the sessions of their own of clients that have gone.
    pub fn close_sessions_of_gone_clients(&self) {
        drop(self.own_sessions.open());
    }

    pub(super) fn close_own_sessions(&self) {
        self.own_sessions.close_all();
    }

    /// Tells the client's own session that the client's roots changed.
    pub async fn roots_changed(&self, client: u64) {
        if let Some((peer, _)) = self.existing_own_session(client) {
            let _ = peer.notify_roots_list_changed().await;
        }
    }

    async fn open_own_session(
        &self,
        client: &SessionClient,
        session: &Arc<OwnSession>,
    ) -> Option<Peer<RoleClient>> {
        let upstream = self.me.upgrade()?;
        let opened = tokio::time::timeout(
            self.spec.connect_timeout.0,
            open(
                &upstream,
                Session {
                    link: session.link.clone(),
                    // Nothing listens: list changes go to the client (see `relay`).
                    events: mpsc::unbounded_channel().0,
                    info: client_info(client.capabilities.clone()),
                    lifecycles: Lifecycles::legacy(),
                },
            ),
        )
        .await;
        let service = match opened {
            Ok(Ok(service)) => service,
            Ok(Err(why)) => {
                tracing::warn!(server = self.name(), error = %why, "cannot open a session of the client's own; it shares the gateway's");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    server = self.name(),
                    "no answer within the connect timeout to a session of the client's own; it shares the gateway's"
                );
                return None;
            }
        };
        let peer = service.peer().clone();
        let session = session.clone();
        let id = client.id;
        tokio::spawn(async move {
            let cancel = service.cancellation_token();
            let closed = service.waiting();
            tokio::pin!(closed);
            tokio::select! {
                _ = &mut closed => {}
                _ = session.close.cancelled() => cancel.cancel(),
                _ = upstream.stop.cancelled() => cancel.cancel(),
            }
            upstream.own_sessions.forget(id, &session);
            tracing::debug!(server = upstream.name(), "a client's own session closed");
        });
        Some(peer)
    }
}
