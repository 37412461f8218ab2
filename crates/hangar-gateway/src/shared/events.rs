//! SSE events of legacy sessions in Redis, so a stream broken on one replica
//! resumes on any other (`Last-Event-ID`).
//!
//! Every SSE stream is a Redis stream (`XADD`); an event id is
//! `<stream>/<entry id>`, so any replica finds the stream from the id alone.
//! A resumed stream replays what follows the id and then keeps following the
//! Redis stream, so events the original replica produces after the break
//! still arrive, until the call's response (or, for the standalone stream,
//! until the client goes away).
//!
//! While Redis is unreachable, events are kept in this replica's memory
//! (ids `<stream>/m<n>`) so calls in flight still complete; those events can
//! be resumed only on this replica.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::streamable_http_server::session::{
    EventId, EventStore, EventStoreError, EventStream, ServerSseMessage,
};

use super::link::RedisLink;

/// Events kept per stream (Redis trims older ones approximately).
const MAX_EVENTS: usize = 1000;
/// Fields of a stored event: the JSON-RPC message, and the retry hint in ms.
const MESSAGE: &str = "m";
const RETRY: &str = "r";

pub struct RedisEvents {
    link: Arc<RedisLink>,
    /// How long a stream's events are kept after its last event.
    keep: Duration,
    fallback: Mutex<Fallback>,
}

impl RedisEvents {
    pub fn new(link: Arc<RedisLink>, keep: Duration) -> Self {
        Self {
            link,
            keep,
            fallback: Mutex::new(Fallback::default()),
        }
    }

    fn key(&self, stream: &str) -> String {
        self.link.key(&format!("events:{stream}"))
    }

    fn keep_ms(&self) -> i64 {
        i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX)
    }
}

fn encode(event: &ServerSseMessage) -> Result<(String, String), serde_json::Error> {
    let message = match &event.message {
        Some(message) => serde_json::to_string(message.as_ref())?,
        None => String::new(),
    };
    let retry = event
        .retry
        .map(|r| r.as_millis().to_string())
        .unwrap_or_default();
    Ok((message, retry))
}

fn decode(id: String, fields: &HashMap<String, String>) -> Option<ServerSseMessage> {
    let mut event = ServerSseMessage::default();
    event.event_id = Some(id);
    if let Some(message) = fields.get(MESSAGE).filter(|m| !m.is_empty()) {
        event.message = Some(Arc::new(serde_json::from_str(message).ok()?));
    }
    if let Some(retry) = fields.get(RETRY).filter(|r| !r.is_empty()) {
        event.retry = Some(Duration::from_millis(retry.parse().ok()?));
    }
    Some(event)
}

/// Whether an event ends its stream: the response to the request a
/// request-wise stream was opened for. The standalone stream never ends.
fn ends(stream: &str, event: &ServerSseMessage) -> bool {
    !stream.ends_with(":common")
        && matches!(
            event.message.as_deref(),
            Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_))
        )
}

#[async_trait::async_trait]
impl EventStore for RedisEvents {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<EventId, EventStoreError> {
        let (message, retry) = encode(event)?;
        let key = self.key(stream_id);
        let keep = self.keep_ms();
        let stored = self
            .link
            .run(async |conn| {
                let mut pipe = redis::pipe();
                pipe.cmd("XADD")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(MAX_EVENTS)
                    .arg("*")
                    .arg(MESSAGE)
                    .arg(&message)
                    .arg(RETRY)
                    .arg(&retry)
                    .pexpire(&key, keep)
                    .ignore();
                let (entry,): (String,) = pipe.query_async(conn).await?;
                Ok(entry)
            })
            .await;
        match stored {
            Ok(entry) => Ok(format!("{stream_id}/{entry}")),
            Err(why) => {
                tracing::debug!(stream = stream_id, error = %why, "keeping an SSE event in memory while Redis is unreachable");
                let seq = self
                    .fallback
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(stream_id, event.clone(), self.keep);
                Ok(format!("{stream_id}/m{seq}"))
            }
        }
    }

    async fn replay_events_after(
        &self,
        last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        let Some((stream, entry)) = last_event_id.rsplit_once('/') else {
            return Err(format!("`{last_event_id}` is not an event id this gateway issued").into());
        };
        if let Some(seq) = entry.strip_prefix('m') {
            let seq: u64 = seq
                .parse()
                .map_err(|_| format!("`{last_event_id}` is not an event id this gateway issued"))?;
            let events = self
                .fallback
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .after(stream, seq);
            return Ok(Box::pin(futures::stream::iter(events)));
        }
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        let follow = Follow {
            link: self.link.clone(),
            key: self.key(stream),
            stream: stream.to_string(),
            after: entry.to_string(),
        };
        tokio::spawn(follow.run(sender));
        let mut receiver = receiver;
        Ok(Box::pin(futures::stream::poll_fn(move |cx| {
            receiver.poll_recv(cx)
        })))
    }
}

/// Whether `id` has the form of the ids this store hands out:
/// `<stream>/<Redis entry id>`, or `<stream>/m<n>` while Redis was away.
pub fn is_event_id(id: &str) -> bool {
    let Some((stream, entry)) = id.rsplit_once('/') else {
        return false;
    };
    let numbers = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let entry_ok = match entry.strip_prefix('m') {
        Some(seq) => numbers(seq),
        None => entry
            .split_once('-')
            .is_some_and(|(ms, seq)| numbers(ms) && numbers(seq)),
    };
    !stream.is_empty() && entry_ok
}

/// A Redis stream entry: its id and fields.
type Entry = (String, HashMap<String, String>);

/// Follows one Redis stream from an entry until it ends or the client leaves.
struct Follow {
    link: Arc<RedisLink>,
    key: String,
    stream: String,
    after: String,
}

impl Follow {
    async fn run(mut self, sender: tokio::sync::mpsc::Sender<ServerSseMessage>) {
        // Short right after a break, when the original replica is likely still producing.
        let mut pause = Duration::from_millis(20);
        loop {
            let start = format!("({}", self.after);
            let read = self
                .link
                .run(async |conn| {
                    let mut pipe = redis::pipe();
                    pipe.cmd("XRANGE")
                        .arg(&self.key)
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(100)
                        .exists(&self.key);
                    let result: (Vec<Entry>, bool) = pipe.query_async(conn).await?;
                    Ok(result)
                })
                .await;
            let Ok((entries, exists)) = read else {
                // The client reconnects with its last id when Redis is back.
                return;
            };
            if !exists {
                return;
            }
            let fresh = !entries.is_empty();
            for (entry, fields) in entries {
                self.after = entry.clone();
                let Some(event) = decode(format!("{}/{entry}", self.stream), &fields) else {
                    tracing::warn!(stream = %self.stream, entry, "skipping an SSE event that does not decode");
                    continue;
                };
                let last = ends(&self.stream, &event);
                if sender.send(event).await.is_err() || last {
                    return;
                }
            }
            pause = if fresh {
                Duration::from_millis(20)
            } else {
                (pause * 2).min(Duration::from_millis(400))
            };
            tokio::select! {
                _ = sender.closed() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Events stored while Redis was unreachable.
#[derive(Default)]
struct Fallback {
    next: u64,
    streams: HashMap<String, (Instant, VecDeque<(u64, ServerSseMessage)>)>,
}

impl Fallback {
    fn push(&mut self, stream: &str, mut event: ServerSseMessage, keep: Duration) -> u64 {
        self.streams
            .retain(|_, (touched, _)| touched.elapsed() < keep);
        self.next += 1;
        let seq = self.next;
        event.event_id = Some(format!("{stream}/m{seq}"));
        let (touched, events) = self
            .streams
            .entry(stream.to_string())
            .or_insert_with(|| (Instant::now(), VecDeque::new()));
        *touched = Instant::now();
        if events.len() >= MAX_EVENTS {
            events.pop_front();
        }
        events.push_back((seq, event));
        seq
    }

    fn after(&self, stream: &str, seq: u64) -> Vec<ServerSseMessage> {
        self.streams
            .get(stream)
            .map(|(_, events)| {
                events
                    .iter()
                    .filter(|(n, _)| *n > seq)
                    .map(|(_, e)| e.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{NumberOrString, ServerResult};

    fn response() -> ServerSseMessage {
        ServerSseMessage::from_message(ServerJsonRpcMessage::response(
            ServerResult::empty(()),
            NumberOrString::Number(1),
        ))
    }

    #[test]
    fn events_round_trip_through_their_stored_fields() {
        let event = response();
        let (message, retry) = encode(&event).unwrap();
        let fields = HashMap::from([(MESSAGE.to_string(), message), (RETRY.to_string(), retry)]);
        let back = decode("s/1-0".into(), &fields).unwrap();
        assert_eq!(back.event_id.as_deref(), Some("s/1-0"));
        assert_eq!(
            serde_json::to_value(back.message.as_deref()).unwrap(),
            serde_json::to_value(event.message.as_deref()).unwrap()
        );
        let priming = ServerSseMessage::retry(Duration::from_secs(3));
        let (message, retry) = encode(&priming).unwrap();
        let fields = HashMap::from([(MESSAGE.to_string(), message), (RETRY.to_string(), retry)]);
        let back = decode("s/2-0".into(), &fields).unwrap();
        assert!(back.message.is_none());
        assert_eq!(back.retry, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_response_ends_a_request_stream_but_not_the_standalone_one() {
        assert!(ends("3f2a", &response()));
        assert!(!ends("session-1:common", &response()));
        assert!(!ends(
            "3f2a",
            &ServerSseMessage::retry(Duration::from_secs(1))
        ));
    }

    #[test]
    fn fallback_replays_what_follows_an_id() {
        let mut fallback = Fallback::default();
        let keep = Duration::from_secs(60);
        let first = fallback.push("s", response(), keep);
        fallback.push("s", response(), keep);
        fallback.push("other", response(), keep);
        let after = fallback.after("s", first);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].event_id.as_deref(), Some("s/m2"));
        assert!(fallback.after("missing", 0).is_empty());
    }
}
