//! Relays an upstream's progress and log notifications in the order it sent
//! them, and ahead of the result they belong to.
//!
//! rmcp hands each incoming notification to a task of its own and routes a
//! response to its caller at once, so notifications can overtake each other
//! and a call's result can overtake the last ones sent before it. The
//! connection's transport numbers every progress and log notification as it
//! is received (in order, before the response); the relay of each one waits
//! for its turn (the ones numbered before it relayed), and a call waits until
//! the relay has caught up with what arrived before its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{GetExtensions, JsonRpcMessage, ProgressToken, ServerNotification};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::sync::Notify;

/// Notifications received and relayed: progress per upstream progress token,
/// log messages (which name no request) for the whole connection.
#[derive(Default)]
pub struct RelayLedger {
    counts: Mutex<Ledger>,
    relayed: Notify,
}

#[derive(Default)]
struct Ledger {
    progress: HashMap<ProgressToken, Counts>,
    logs: Counts,
}

/// A notification's place in the order its connection received it: among
/// the progress for its token, or among the connection's log messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayTurn(pub u64);

#[derive(Default, Clone, Copy)]
struct Counts {
    received: u64,
    relayed: u64,
}

impl RelayLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn received(&self, token: &ProgressToken) -> RelayTurn {
        let mut ledger = self.lock();
        let counts = ledger.progress.entry(token.clone()).or_default();
        counts.received += 1;
        RelayTurn(counts.received - 1)
    }

    fn received_log(&self) -> RelayTurn {
        let mut ledger = self.lock();
        ledger.logs.received += 1;
        RelayTurn(ledger.logs.received - 1)
    }

    /// One notification for `token` was passed on (or dropped on purpose).
    pub fn relayed(&self, token: &ProgressToken) {
        self.lock()
            .progress
            .entry(token.clone())
            .or_default()
            .relayed += 1;
        self.relayed.notify_waiters();
    }

    /// One log message was passed on (or dropped on purpose).
    pub fn relayed_log(&self) {
        self.lock().logs.relayed += 1;
        self.relayed.notify_waiters();
    }

    /// Waits until the progress received for `token` and the log messages
    /// received so far have been relayed, at most `limit` (a relay stuck on a
    /// slow client must not hold the result forever).
    pub async fn settled(&self, token: &ProgressToken, limit: Duration) {
        let logs_before = self.lock().logs.received;
        self.wait_until(limit, |ledger| {
            let progress = ledger.progress.get(token).copied().unwrap_or_default();
            progress.relayed >= progress.received && ledger.logs.relayed >= logs_before
        })
        .await;
    }

    /// Waits until the progress for `token` received before the one at
    /// `turn` has been relayed, at most `limit`.
    pub async fn progress_turn(&self, token: &ProgressToken, turn: RelayTurn, limit: Duration) {
        self.wait_until(limit, |ledger| {
            ledger
                .progress
                .get(token)
                .is_none_or(|counts| counts.relayed >= turn.0)
        })
        .await;
    }

    /// Waits until the log messages received before the one at `turn` have
    /// been relayed, at most `limit`.
    pub async fn log_turn(&self, turn: RelayTurn, limit: Duration) {
        self.wait_until(limit, |ledger| ledger.logs.relayed >= turn.0)
            .await;
    }

    async fn wait_until(&self, limit: Duration, done: impl Fn(&Ledger) -> bool) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                // Created before the check, so a relay in between still wakes it.
                let waiting = self.relayed.notified();
                if done(&self.lock()) {
                    return;
                }
                waiting.await;
            }
        })
        .await;
    }

    /// The call is over: its counts are no longer needed.
    pub fn forget(&self, token: &ProgressToken) {
        self.lock().progress.remove(token);
    }
}

/// An upstream transport that numbers each incoming progress and log
/// notification in the ledger, in the order the connection delivers
/// messages, and marks the notification with its [`RelayTurn`].
pub struct Counted<T> {
    inner: T,
    ledger: Arc<RelayLedger>,
}

impl<T> Counted<T> {
    pub fn new(inner: T, ledger: Arc<RelayLedger>) -> Self {
        Self { inner, ledger }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Counted<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        let ledger = self.ledger.clone();
        let next = self.inner.receive();
        async move {
            let mut message = next.await;
            if let Some(JsonRpcMessage::Notification(notification)) = &mut message {
                let turn = match &notification.notification {
                    ServerNotification::ProgressNotification(progress) => {
                        Some(ledger.received(&progress.params.progress_token))
                    }
                    ServerNotification::LoggingMessageNotification(_) => {
                        Some(ledger.received_log())
                    }
                    _ => None,
                };
                if let Some(turn) = turn {
                    notification.notification.extensions_mut().insert(turn);
                }
            }
            message
        }
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: i64) -> ProgressToken {
        ProgressToken(rmcp::model::NumberOrString::Number(n))
    }

    #[tokio::test]
    async fn a_call_waits_for_the_progress_received_before_its_result() {
        let ledger = Arc::new(RelayLedger::default());
        ledger.received(&token(1));
        ledger.received(&token(1));
        ledger.relayed(&token(1));
        let waiting = tokio::spawn({
            let ledger = ledger.clone();
            async move { ledger.settled(&token(1), Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "one notification is still being relayed"
        );
        ledger.relayed(&token(1));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("settled once both were relayed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_call_waits_for_the_logs_received_before_its_result_only() {
        let ledger = Arc::new(RelayLedger::default());
        ledger.received_log();
        let waiting = tokio::spawn({
            let ledger = ledger.clone();
            async move { ledger.settled(&token(1), Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        // A log that arrives after the result does not hold it.
        ledger.received_log();
        assert!(
            !waiting.is_finished(),
            "the earlier log is still being relayed"
        );
        ledger.relayed_log();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("settled once the earlier log was relayed")
            .unwrap();
    }

    #[tokio::test]
    async fn other_tokens_and_no_progress_do_not_wait() {
        let ledger = RelayLedger::default();
        ledger.received(&token(2));
        tokio::time::timeout(
            Duration::from_secs(5),
            ledger.settled(&token(1), Duration::from_secs(30)),
        )
        .await
        .expect("nothing to wait for");
    }

    #[tokio::test]
    async fn a_notification_waits_for_the_ones_received_before_it() {
        let ledger = Arc::new(RelayLedger::default());
        assert_eq!(ledger.received(&token(1)), RelayTurn(0));
        let second = ledger.received(&token(1));
        assert_eq!(second, RelayTurn(1));
        assert_eq!(
            ledger.received(&token(2)),
            RelayTurn(0),
            "turns count per token"
        );
        let waiting = tokio::spawn({
            let ledger = ledger.clone();
            async move {
                ledger
                    .progress_turn(&token(1), second, Duration::from_secs(30))
                    .await
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the first is not relayed yet");
        ledger.relayed(&token(1));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("its turn came once the first was relayed")
            .unwrap();
    }

    #[tokio::test]
    async fn a_log_message_waits_for_the_ones_received_before_it() {
        let ledger = Arc::new(RelayLedger::default());
        assert_eq!(ledger.received_log(), RelayTurn(0));
        let second = ledger.received_log();
        let waiting = tokio::spawn({
            let ledger = ledger.clone();
            async move { ledger.log_turn(second, Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the first is not relayed yet");
        ledger.relayed_log();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("its turn came once the first was relayed")
            .unwrap();
    }
}
