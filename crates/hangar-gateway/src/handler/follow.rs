//! Resource updates on a stateless client's `subscriptions/listen` stream:
//! each URI it names is followed upstream as a session's `resources/subscribe`
//! is, for as long as the stream lasts.

use std::sync::Arc;

use rmcp::model::SubscriptionFilter;
use rmcp::service::SubscriptionContext;

use super::GatewayHandler;
use crate::upstream::{Subscriber, Upstream};

/// Most resources one listen stream may follow.
const MOST_FOLLOWED: usize = 100;

/// What a listen stream gets: every list change, and the resources it names.
pub(super) fn accepted(requested: &SubscriptionFilter) -> SubscriptionFilter {
    let mut accepted = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build();
    accepted.resource_subscriptions = requested
        .resource_subscriptions
        .as_ref()
        .map(|uris| uris.iter().take(MOST_FOLLOWED).cloned().collect());
    accepted
}

/// The resources one listen stream follows.
pub(super) struct Followed {
    id: u64,
    upstreams: Vec<(String, Arc<Upstream>)>,
}

impl GatewayHandler {
    /// Follows each accepted URI the caller may read that an upstream can
    /// report on; others get no updates (declared resources never change).
    pub(super) async fn follow_resources(&self, context: &SubscriptionContext) -> Followed {
        let id = self.gateway.next_session_id();
        let mut upstreams = Vec::new();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            let owner = self.resource_owner(uri, context.request_context());
            let Ok(Some(upstream)) = owner.map(|r| r.and_then(|r| r.subscription_holder())) else {
                continue;
            };
            let subscriber = Subscriber::Listen(context.sink().clone());
            match upstream.subscribe(uri.clone(), id, subscriber).await {
                Ok(()) => upstreams.push((uri.clone(), upstream)),
                Err(failure) => {
                    tracing::debug!(uri, error = ?failure, "a listen stream cannot follow a resource");
                }
            }
        }
        Followed { id, upstreams }
    }
}

/// However the stream ends (even when its task is dropped), its
/// subscriptions end with it; the last subscriber unsubscribes upstream.
impl Drop for Followed {
    fn drop(&mut self) {
        let id = self.id;
        let upstreams = std::mem::take(&mut self.upstreams);
        if upstreams.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for (uri, upstream) in upstreams {
                if let Err(failure) = upstream.unsubscribe(uri, id).await {
                    tracing::debug!(error = ?failure, "cannot end a listen stream's resource subscription");
                }
            }
        });
    }
}
