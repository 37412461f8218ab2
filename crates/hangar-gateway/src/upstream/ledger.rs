//! Keeps relayed progress and log notifications ahead of the result they
//! belong to.
//!
//! rmcp handles each incoming notification in a task of its own but routes a
//! response to its caller at once, so a call's result can overtake the last
//! notifications the upstream sent before it — and a client that reads the
//! result first never sees them. The connection's transport counts every
//! progress and log notification as it is received (in order, before the
//! response), the relay counts what it has handled, and a call waits until
//! the relay has caught up with what arrived before its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{JsonRpcMessage, ProgressToken, ServerNotification};
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

#[derive(Default, Clone, Copy)]
struct Counts {
    received: u64,
    relayed: u64,
}

impl RelayLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn received(&self, token: &ProgressToken) {
        self.lock()
            .progress
            .entry(token.clone())
            .or_default()
            .received += 1;
    }

    fn received_log(&self) {
        self.lock().logs.received += 1;
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
        let _ = tokio::time::timeout(limit, async {
            loop {
                let waiting = self.relayed.notified();
                {
                    let ledger = self.lock();
                    let progress = ledger.progress.get(token).copied().unwrap_or_default();
                    if progress.relayed >= progress.received && ledger.logs.relayed >= logs_before {
                        return;
                    }
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

/// An upstream transport that tells the ledger about each incoming progress
/// notification, in the order the connection delivers messages.
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
            let message = next.await;
            if let Some(JsonRpcMessage::Notification(notification)) = &message {
                match &notification.notification {
                    ServerNotification::ProgressNotification(progress) => {
                        ledger.received(&progress.params.progress_token)
                    }
                    ServerNotification::LoggingMessageNotification(_) => ledger.received_log(),
                    _ => {}
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
}
