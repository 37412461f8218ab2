//! What an upstream is and offers, how its calls are routed back, and why a
//! call did not produce a result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::{
    ClientCapabilities, ClientResult, Implementation, LoggingLevel, ProgressToken, Prompt,
    RequestId, RequestMetaObject, Resource, ResourceTemplate, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerRequest, Tool,
};
use rmcp::service::{Peer, RoleClient, RoleServer, SubscriptionSink};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::access::Access;
use crate::uri_template::UriTemplates;

/// Everything an upstream offers, as last listed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    /// `templates` compiled, to route reads by URI.
    pub uri_templates: UriTemplates,
}

impl Listing {
    /// The listing with its templates compiled for matching.
    pub fn indexed(mut self) -> Self {
        self.uri_templates =
            UriTemplates::new(self.templates.iter().map(|t| t.uri_template.as_str()));
        self
    }
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
        /// When the next connection attempt starts.
        next_try: Instant,
    },
    /// Scaled to zero: not connected until a call needs it.
    Idle {
        since: Instant,
    },
    Stopped,
}

pub(super) struct State {
    pub(super) status: Status,
    pub(super) peer: Option<Peer<RoleClient>>,
    /// True when the link uses the stateless 2026-07-28 lifecycle.
    pub(super) modern: bool,
    pub(super) capabilities: ServerCapabilities,
    pub(super) instructions: Option<String>,
    pub(super) listing: Option<Arc<Listing>>,
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
    /// Who the call is for, for upstreams that get the caller's credentials.
    pub access: Arc<Access>,
    /// Where a stateless client's call takes the server's requests for input,
    /// to ask them as `InputRequiredResult` rounds; `None` refuses them.
    pub asks: Option<mpsc::Sender<AskedInput>>,
    /// The session-based client making the call, when a server may give it
    /// a session of its own (`clientSessions`); `None` otherwise.
    pub session: Option<SessionClient>,
}

/// A session-based client, as servers with `clientSessions` give it a
/// session of its own: what the server sends on that session outside any
/// call (roots requests, log messages, resource updates) goes to it.
#[derive(Clone)]
pub struct SessionClient {
    /// The gateway's id for the client's session.
    pub id: u64,
    pub peer: Peer<RoleServer>,
    pub capabilities: ClientCapabilities,
    /// The least severe level it asked for (`logging/setLevel`); `None`: all.
    pub log_level: Arc<Mutex<Option<LoggingLevel>>>,
}

impl SessionClient {
    pub fn log_level(&self) -> Option<LoggingLevel> {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A server's request for input (sampling, elicitation, roots) during a
/// stateless client's call, and where its answer goes.
pub struct AskedInput {
    pub request: ServerRequest,
    pub answer: oneshot::Sender<Result<ClientResult, ErrorData>>,
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

/// Who follows the server's resources, over the gateway's session with it.
#[derive(Default)]
pub(super) struct Followers {
    /// Who follows each resource, by subscriber id (a session's, or a listen stream's).
    pub(super) subscribers: HashMap<String, Vec<(u64, Subscriber)>>,
    /// Stateless upstreams: the listen stream relaying updates of each followed URI.
    pub(super) resource_listens: HashMap<String, tokio::task::AbortHandle>,
}

/// Who follows a resource's updates.
#[derive(Clone)]
pub enum Subscriber {
    /// A session-based client (`resources/subscribe`).
    Session(Peer<RoleServer>),
    /// A stateless client's `subscriptions/listen` stream.
    Listen(SubscriptionSink),
}

impl Subscriber {
    pub(super) async fn notify(&self, update: ResourceUpdatedNotificationParam) {
        let _ = match self {
            Subscriber::Session(peer) => peer.notify_resource_updated(update).await.map_err(drop),
            Subscriber::Listen(sink) => {
                sink.notify_resource_updated(update.uri).await.map_err(drop)
            }
        };
    }

    /// A session whose client has gone; a listen stream unsubscribes as it ends.
    pub(super) fn is_gone(&self) -> bool {
        match self {
            Subscriber::Session(peer) => peer.is_transport_closed(),
            Subscriber::Listen(_) => false,
        }
    }
}
