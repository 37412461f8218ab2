//! Resource subscriptions shared by client sessions and stateless clients'
//! listen streams: the first subscriber subscribes upstream, the last one
//! unsubscribes, and updates reach every subscriber.

use std::sync::Arc;

use rmcp::model::{
    ClientRequest, ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequest,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequest, UnsubscribeRequestParams,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};

use super::{Failure, SessionClient, Status, Subscriber, Upstream};

fn unsubscribe_request(uri: String) -> ClientRequest {
    ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(UnsubscribeRequestParams::new(uri)))
}

impl Upstream {
    /// Subscribes a client to a resource; the first subscriber subscribes upstream.
    /// `session` identifies the subscriber (a session, or a listen stream).
    pub async fn subscribe(
        self: &Arc<Self>,
        uri: String,
        session: u64,
        subscriber: Subscriber,
    ) -> Result<(), Failure> {
        let first = {
            let mut followers = self.lock_followers();
            let subscribers = followers.subscribers.entry(uri.clone()).or_default();
            let first = subscribers.is_empty();
            subscribers.retain(|(id, _)| *id != session);
            subscribers.push((session, subscriber));
            first
        };
        if first && let Err(failure) = self.subscribe_upstream(&uri).await {
            self.drop_subscriber(&uri, session);
            return Err(failure);
        }
        Ok(())
    }

    /// Removes a client session's subscription; the last one unsubscribes upstream.
    pub async fn unsubscribe(&self, uri: String, session: u64) -> Result<(), Failure> {
        if !self.drop_subscriber(&uri, session) {
            return Ok(());
        }
        let listen = self.lock_followers().resource_listens.remove(&uri);
        if let Some(listen) = listen {
            // Dropping the subscription cancels it upstream.
            listen.abort();
            return Ok(());
        }
        let peer = self.ready_peer()?;
        self.ask(&peer, unsubscribe_request(uri)).await
    }

    /// Subscribes a session client: on its own session with the server when
    /// it has one (`clientSessions`; the server's updates then come on that
    /// session), else with the gateway's, shared with every other subscriber.
    pub async fn subscribe_session(
        self: &Arc<Self>,
        uri: String,
        client: SessionClient,
    ) -> Result<(), Failure> {
        match self.own_session(&client).await {
            Some((peer, _)) => {
                let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
                    SubscribeRequestParams::new(uri),
                ));
                self.ask(&peer, request).await
            }
            None => {
                self.subscribe(uri, client.id, Subscriber::Session(client.peer))
                    .await
            }
        }
    }

    /// Ends a session client's subscription, wherever it was made.
    pub async fn unsubscribe_session(&self, uri: String, client: u64) -> Result<(), Failure> {
        if let Some((peer, _)) = self.existing_own_session(client) {
            self.ask(&peer, unsubscribe_request(uri.clone())).await?;
        }
        self.unsubscribe(uri, client).await
    }

    /// Sends a request whose result carries nothing and waits for it.
    async fn ask(&self, peer: &Peer<RoleClient>, request: ClientRequest) -> Result<(), Failure> {
        peer.send_request_with_option(request, PeerRequestOptions::with_timeout(self.timeout))
            .await
            .map_err(|e| self.transport_failure(e))?
            .await_response()
            .await
            .map(drop)
            .map_err(|e| self.transport_failure(e))
    }

    fn ready_peer(&self) -> Result<Peer<RoleClient>, Failure> {
        let state = self.read();
        match (&state.status, &state.peer) {
            (Status::Ready { .. }, Some(peer)) => Ok(peer.clone()),
            _ => {
                drop(state);
                Err(self.unavailable())
            }
        }
    }

    /// Asks the upstream for updates of `uri`: `resources/subscribe` on the
    /// session-based revisions, a `subscriptions/listen` stream on the stateless one.
    async fn subscribe_upstream(self: &Arc<Self>, uri: &str) -> Result<(), Failure> {
        let peer = self.ready_peer()?;
        if !self.read().modern {
            let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
                SubscribeRequestParams::new(uri.to_string()),
            ));
            return self.ask(&peer, request).await;
        }
        let filter = SubscriptionFilter::builder()
            .resource_subscription(uri.to_string())
            .build();
        let mut subscription = tokio::time::timeout(self.timeout, peer.listen(filter))
            .await
            .map_err(|_| {
                self.transport_failure(ServiceError::Timeout {
                    timeout: self.timeout,
                })
            })?
            .map_err(|e| self.transport_failure(e))?;
        let upstream = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            while let Ok(Some(notification)) = subscription.next().await {
                let (Some(upstream), ServerNotification::ResourceUpdatedNotification(update)) =
                    (upstream.upgrade(), notification)
                else {
                    continue;
                };
                upstream.notify_subscribers(update.params).await;
            }
        });
        if let Some(previous) = self
            .lock_followers()
            .resource_listens
            .insert(uri.to_string(), task.abort_handle())
        {
            previous.abort();
        }
        Ok(())
    }

    /// After a reconnect, asks again for updates of every resource clients follow.
    pub(super) async fn resubscribe(self: &Arc<Self>) {
        let uris: Vec<String> = self.lock_followers().subscribers.keys().cloned().collect();
        for uri in uris {
            if let Err(e) = self.subscribe_upstream(&uri).await {
                tracing::warn!(server = self.name(), uri, error = ?e, "cannot renew a resource subscription");
            }
        }
    }

    pub(super) async fn notify_subscribers(&self, params: ResourceUpdatedNotificationParam) {
        let subscribers: Vec<Subscriber> = self
            .lock_followers()
            .subscribers
            .get(&params.uri)
            .map(|s| s.iter().map(|(_, subscriber)| subscriber.clone()).collect())
            .unwrap_or_default();
        for subscriber in subscribers {
            subscriber.notify(params.clone()).await;
        }
    }

    /// Returns true when nobody is subscribed to `uri` any more.
    fn drop_subscriber(&self, uri: &str, session: u64) -> bool {
        let mut followers = self.lock_followers();
        let Some(subscribers) = followers.subscribers.get_mut(uri) else {
            return false;
        };
        subscribers.retain(|(id, subscriber)| *id != session && !subscriber.is_gone());
        let empty = subscribers.is_empty();
        if empty {
            followers.subscribers.remove(uri);
        }
        empty
    }
}
