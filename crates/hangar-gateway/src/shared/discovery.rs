//! The discovery cache: each federated server's tool, prompt and resource
//! lists, kept in Redis for a TTL. A replica that connects to a server whose
//! lists are cached serves them without listing the server again; a
//! `list_changed` from the server drops the entry before the lists are
//! fetched anew.
//!
//! The key carries a digest of the server's spec, so a changed spec never
//! reads the lists of the old one.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::link::RedisLink;
use crate::upstream::Listing;
use hangar_config::ServerSpec;

pub struct DiscoveryCache {
    link: Arc<RedisLink>,
    ttl: Duration,
}

#[derive(Serialize)]
struct Stored<'a> {
    tools: &'a [Tool],
    prompts: &'a [Prompt],
    resources: &'a [Resource],
    templates: &'a [ResourceTemplate],
}

#[derive(Deserialize)]
struct Loaded {
    tools: Vec<Tool>,
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
}

impl DiscoveryCache {
    pub fn new(link: Arc<RedisLink>, ttl: Duration) -> Self {
        Self { link, ttl }
    }

    fn key(&self, spec: &ServerSpec) -> String {
        let canonical = serde_json::to_vec(spec).expect("a ServerSpec always serialises");
        let digest = hex::encode(&sha2::Sha256::digest(&canonical)[..8]);
        self.link.key(&format!("discovery:{}:{digest}", spec.name))
    }

    /// The cached lists of `spec`'s server, if any are fresh.
    pub async fn load(&self, spec: &ServerSpec) -> Option<Listing> {
        self.link.tried().await;
        let key = self.key(spec);
        let text: Option<String> = self
            .link
            .run(async |conn| redis::cmd("GET").arg(&key).query_async(conn).await)
            .await
            .inspect_err(
                |e| tracing::debug!(server = %spec.name, error = %e, "discovery cache unavailable"),
            )
            .ok()
            .flatten();
        let loaded: Loaded = serde_json::from_str(&text?)
            .inspect_err(|e| tracing::warn!(server = %spec.name, error = %e, "ignoring a discovery cache entry that does not decode"))
            .ok()?;
        Some(Listing {
            tools: loaded.tools,
            prompts: loaded.prompts,
            resources: loaded.resources,
            templates: loaded.templates,
            ..Listing::default()
        })
    }

    /// Caches freshly fetched lists.
    pub async fn store(&self, spec: &ServerSpec, listing: &Listing) {
        let key = self.key(spec);
        let text = serde_json::to_string(&Stored {
            tools: &listing.tools,
            prompts: &listing.prompts,
            resources: &listing.resources,
            templates: &listing.templates,
        })
        .expect("MCP list items always serialise");
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        if let Err(e) = self
            .link
            .run(async |conn| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&text)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(conn)
                    .await
            })
            .await
        {
            tracing::debug!(server = %spec.name, error = %e, "cannot cache lists");
        }
    }

    /// Forgets the lists after the server said they changed.
    pub async fn invalidate(&self, spec: &ServerSpec) {
        let key = self.key(spec);
        if let Err(e) = self
            .link
            .run(async |conn| redis::cmd("DEL").arg(&key).query_async::<()>(conn).await)
            .await
        {
            tracing::warn!(server = %spec.name, error = %e, "cannot drop the cached lists; other replicas may serve them until they expire");
        }
    }
}
