//! Listing everything an upstream offers (every page), from the server or
//! the discovery cache shared with other replicas.

use std::sync::Arc;
use std::time::Instant;

use rmcp::service::{Peer, RoleClient};

use super::{Listing, Status, Upstream};

/// Where [`refresh`] takes the lists from.
pub(super) enum Lists {
    /// The discovery cache when it has them, else the server.
    Cached,
    /// The server (it announced a change).
    Fresh,
}

/// Lists everything (all pages); returns whether the listing changed.
pub(super) async fn refresh(
    upstream: &Upstream,
    peer: &Peer<RoleClient>,
    lists: Lists,
) -> Result<bool, String> {
    let cached = match (&upstream.discovery, lists) {
        (Some(cache), Lists::Cached) => cache.load(&upstream.spec).await,
        _ => None,
    };
    let listing = match cached {
        Some(listing) => {
            tracing::debug!(server = upstream.name(), "lists from the discovery cache");
            listing
        }
        None => {
            let listing = list(upstream, peer).await?;
            if let Some(cache) = &upstream.discovery {
                cache.store(&upstream.spec, &listing).await;
            }
            listing
        }
    };
    Ok(record_listing(upstream, peer, listing))
}

async fn list(upstream: &Upstream, peer: &Peer<RoleClient>) -> Result<Listing, String> {
    let capabilities = upstream.read().capabilities.clone();
    tokio::time::timeout(upstream.timeout, async {
        let mut listing = Listing::default();
        if capabilities.tools.is_some() {
            listing.tools = peer
                .list_all_tools()
                .await
                .map_err(|e| format!("tools/list: {e}"))?;
        }
        if capabilities.prompts.is_some() {
            listing.prompts = peer
                .list_all_prompts()
                .await
                .map_err(|e| format!("prompts/list: {e}"))?;
        }
        if capabilities.resources.is_some() {
            listing.resources = peer
                .list_all_resources()
                .await
                .map_err(|e| format!("resources/list: {e}"))?;
            listing.templates = peer
                .list_all_resource_templates()
                .await
                .map_err(|e| format!("resources/templates/list: {e}"))?;
        }
        Ok::<_, String>(listing)
    })
    .await
    .map_err(|_| {
        format!(
            "no answer within {}",
            hangar_config::DurationSpec(upstream.timeout)
        )
    })?
}

fn record_listing(upstream: &Upstream, peer: &Peer<RoleClient>, listing: Listing) -> bool {
    let listing = listing.indexed();
    let mut state = upstream.write();
    let changed = state.listing.as_deref() != Some(&listing);
    state.listing = Some(Arc::new(listing));
    if let Some(peer_info) = peer.peer_info() {
        // A refresh on a live connection keeps the time it connected.
        let since = match &state.status {
            Status::Ready { since, .. } if state.peer.is_some() => *since,
            _ => Instant::now(),
        };
        // The peer first, so that a call woken by the status change finds it.
        state.peer = Some(peer.clone());
        upstream.set_status(
            &mut state,
            Status::Ready {
                protocol: peer_info.protocol_version.to_string(),
                server: peer_info.server_info.clone(),
                since,
            },
        );
    }
    state.peer = Some(peer.clone());
    changed
}
