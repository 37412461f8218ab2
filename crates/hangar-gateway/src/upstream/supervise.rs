//! The life of an upstream connection: connect (with a short probe for a
//! scale-to-zero server that may be stopped), list, follow its notifications
//! until it closes or goes idle, and reconnect with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_config::{DurationSpec, Transport};
use rmcp::model::{ServerNotification, SubscriptionFilter};
use rmcp::service::{Peer, RoleClient};
use tokio::sync::mpsc;

use super::demand::{go_idle, idle_deadline};
use super::listing::{Lists, refresh};
use super::relay::{Client, Event};
use super::transports::connect;
use super::{Demand, Status, Upstream};

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// While a woken server starts, reconnect at least this often: the call is waiting.
const WAKING_BACKOFF: Duration = Duration::from_secs(1);
/// A probe of a scale-to-zero server (which may well be stopped) gives up sooner.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) async fn supervise(upstream: Arc<Upstream>, on_change: Arc<dyn Fn() + Send + Sync>) {
    let mut backoff = INITIAL_BACKOFF;
    // A scale-to-zero server is probed once without waking it: if it runs
    // already, its tools are known from the start. Probing a stdio server
    // would start it, so those wait for their first call.
    let mut probing = upstream.demand.is_some() && upstream.spec.transport != Transport::Stdio;
    // A woken server refuses connections until it has started: expected, not worth a warning.
    let mut starting = false;
    let mut warnings = Warnings::default();
    loop {
        if let Some(demand) = &upstream.demand
            && !probing
            && !demand.wanted_now()
        {
            go_idle(&upstream, &on_change).await;
            tokio::select! {
                _ = upstream.stop.cancelled() => break,
                _ = demand.wanted.notified() => {}
            }
            backoff = INITIAL_BACKOFF;
            starting = true;
            continue;
        }
        let connect_timeout = if probing {
            upstream.spec.connect_timeout.0.min(PROBE_TIMEOUT)
        } else {
            upstream.spec.connect_timeout.0
        };
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let attempt = tokio::select! {
            _ = upstream.stop.cancelled() => break,
            attempt = tokio::time::timeout(connect_timeout, connect(&upstream, events_tx)) => attempt,
        };
        let failure = match attempt {
            Ok(Ok(client)) => match refresh(&upstream, client.peer(), Lists::Cached).await {
                Ok(changed) => {
                    backoff = INITIAL_BACKOFF;
                    starting = false;
                    warnings = Warnings::default();
                    connected(&upstream);
                    if changed {
                        on_change();
                    }
                    upstream.resubscribe().await;
                    match follow(&upstream, client, &mut events, &on_change).await {
                        Ended::Stopped => break,
                        Ended::Idle => {
                            probing = false;
                            continue;
                        }
                        Ended::Closed(reason) => reason,
                    }
                }
                Err(why) => {
                    let _ = client.cancel().await;
                    format!("listing its tools, prompts and resources failed: {why}")
                }
            },
            Ok(Err(why)) => why,
            Err(_) => format!(
                "no answer within the connect timeout of {}{}",
                DurationSpec(connect_timeout),
                upstream.output_hint()
            ),
        };
        if std::mem::take(&mut probing) {
            tracing::debug!(server = upstream.name(), error = %failure, "scale-to-zero server not running");
            continue;
        }
        if starting {
            tracing::debug!(server = upstream.name(), error = %failure, "woken server not answering yet");
        }
        // A call waiting for a woken server should not wait out a long backoff.
        let waking = upstream.demand.as_ref().is_some_and(Demand::wanted_now);
        let pause = if waking {
            backoff.min(WAKING_BACKOFF)
        } else {
            backoff
        };
        if !starting && warnings.due(&failure) {
            tracing::warn!(
                server = upstream.name(),
                error = %failure,
                next_try_in = %DurationSpec(pause),
                "upstream unavailable"
            );
        }
        mark_down(&upstream, failure, pause, &on_change);
        tokio::select! {
            _ = upstream.stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    {
        let mut state = upstream.write();
        upstream.set_status(&mut state, Status::Stopped);
        state.peer = None;
    }
    upstream.metrics.forget_upstream(upstream.name());
    upstream.first_attempt.send_replace(true);
}

fn connected(upstream: &Upstream) {
    upstream.metrics.set_upstream_up(upstream.name(), true);
    if let Some(demand) = &upstream.demand {
        demand.answered();
    }
    if let Status::Ready {
        protocol, server, ..
    } = upstream.status()
    {
        let (name, version) = server.map(|s| (s.name, s.version)).unwrap_or_default();
        tracing::info!(
            server = upstream.name(),
            protocol,
            upstream_name = name,
            upstream_version = version,
            "upstream connected"
        );
    }
    upstream.first_attempt.send_replace(true);
}

/// When a failure is worth a warning: the first one, one with a different
/// cause, and the same one again only every [`REPEAT_WARNING`]; the status
/// (and `/readyz`) always has the latest.
#[derive(Default)]
struct Warnings {
    last: Option<(String, Instant)>,
}

/// How often a server that keeps failing the same way is warned about again.
const REPEAT_WARNING: Duration = Duration::from_secs(600);

impl Warnings {
    fn due(&mut self, failure: &str) -> bool {
        let due = match &self.last {
            Some((last, at)) => last != failure || at.elapsed() >= REPEAT_WARNING,
            None => true,
        };
        if due {
            self.last = Some((failure.to_string(), Instant::now()));
        }
        due
    }
}

fn mark_down(
    upstream: &Upstream,
    error: String,
    pause: Duration,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) {
    {
        let mut state = upstream.write();
        let now = Instant::now();
        let since = match &state.status {
            Status::Down { since, .. } => *since,
            _ => now,
        };
        upstream.set_status(
            &mut state,
            Status::Down {
                error,
                since,
                next_try: now + pause,
            },
        );
        state.peer = None;
    }
    upstream.metrics.set_upstream_up(upstream.name(), false);
    let first = !upstream.first_attempt.send_replace(true);
    if first {
        // Readiness waits for first attempts; let it re-check.
        on_change();
    }
}

/// Why a connection ended.
enum Ended {
    Stopped,
    /// A scale-to-zero server went idle and was disconnected.
    Idle,
    Closed(String),
}

/// Serves an established connection until it closes or the upstream stops.
async fn follow(
    upstream: &Arc<Upstream>,
    client: Client,
    events: &mut mpsc::UnboundedReceiver<Event>,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) -> Ended {
    let peer = client.peer().clone();
    let modern = upstream.read().modern;
    let wants_changes = {
        let c = &upstream.read().capabilities;
        c.tools
            .as_ref()
            .and_then(|t| t.list_changed)
            .unwrap_or(false)
            || c.prompts
                .as_ref()
                .and_then(|t| t.list_changed)
                .unwrap_or(false)
            || c.resources
                .as_ref()
                .and_then(|t| t.list_changed)
                .unwrap_or(false)
    };
    // Stateless servers announce list changes only on a subscriptions/listen stream.
    let mut subscription = if modern && wants_changes {
        let filter = SubscriptionFilter::builder()
            .tools_list_changed()
            .prompts_list_changed()
            .resources_list_changed()
            .build();
        match peer.listen(filter).await {
            Ok(subscription) => Some(subscription),
            Err(e) => {
                tracing::warn!(server = upstream.name(), error = %e, "cannot follow list changes of upstream");
                None
            }
        }
    } else {
        None
    };
    let cancel = client.cancellation_token();
    let closed = client.waiting();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            _ = upstream.stop.cancelled() => {
                cancel.cancel();
                let _ = closed.await;
                return Ended::Stopped;
            }
            _ = idle_deadline(upstream) => {
                cancel.cancel();
                let _ = closed.await;
                return Ended::Idle;
            }
            reason = &mut closed => {
                return Ended::Closed(match reason {
                    Ok(reason) => format!("the connection closed ({reason:?}){}", upstream.output_hint()),
                    Err(e) => format!("the connection task failed: {e}"),
                });
            }
            Some(Event::ListChanged) = events.recv() => {
                // Coalesce bursts of notifications into one refresh.
                while events.try_recv().is_ok() {}
                refresh_and_announce(upstream, &peer, on_change).await;
            }
            notification = next_notification(&mut subscription) => {
                match notification {
                    Some(ServerNotification::ToolListChangedNotification(_))
                    | Some(ServerNotification::PromptListChangedNotification(_))
                    | Some(ServerNotification::ResourceListChangedNotification(_)) => {
                        refresh_and_announce(upstream, &peer, on_change).await;
                    }
                    Some(_) => {}
                    None => subscription = None,
                }
            }
        }
    }
}

async fn next_notification(
    subscription: &mut Option<rmcp::service::Subscription>,
) -> Option<ServerNotification> {
    match subscription {
        Some(s) => s.next().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

async fn refresh_and_announce(
    upstream: &Upstream,
    peer: &Peer<RoleClient>,
    on_change: &Arc<dyn Fn() + Send + Sync>,
) {
    if let Some(cache) = &upstream.discovery {
        cache.invalidate(&upstream.spec).await;
    }
    match refresh(upstream, peer, Lists::Fresh).await {
        Ok(true) => on_change(),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(server = upstream.name(), error = %e, "re-listing upstream failed")
        }
    }
}
