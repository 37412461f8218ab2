//! MCPToolSets' OpenAPI documents, read from where each set says and kept
//! converted: the set's status and every gateway that serves it use one read.
//! A document at a URL is read again after `refreshInterval` (or when the set
//! changes); one in a ConfigMap on every look (the operator's caches do not
//! keep ConfigMap data), converted again only when its text changed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hangar_api::MCPToolSet;
use hangar_compile::{ToolSetDocument, read_document};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, ResourceExt};
use sha2::{Digest, Sha256};

use crate::context::Context;

/// Longest a document read from a URL may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A document as last read for one set.
#[derive(Clone, Debug)]
pub struct Read {
    pub document: ToolSetDocument,
    /// Of the text converted; changes whenever the document does.
    pub digest: String,
    /// Why the latest read failed while an earlier read is still served.
    pub refresh_failed: Option<String>,
}

struct Kept {
    generation: Option<i64>,
    read_at: Instant,
    read: Read,
}

#[derive(Default)]
pub struct Documents {
    kept: Mutex<HashMap<(String, String), Kept>>,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Documents {
    /// The set's document, read now unless a read of this generation is fresh.
    pub async fn read(&self, toolset: &MCPToolSet, ctx: &Context) -> Read {
        let key = (toolset.namespace().unwrap_or_default(), toolset.name_any());
        let generation = toolset.metadata.generation;
        let source = &toolset.spec.openapi;
        let refresh = toolset
            .spec
            .refresh_interval
            .to_std()
            .unwrap_or(Duration::from_secs(600));
        let previous = self.kept(&key);
        if source.url.is_some()
            && let Some(kept) = &previous
            && kept.generation == generation
            && kept.read_at.elapsed() < refresh
        {
            return kept.read.clone();
        }
        let text = match (&source.url, &source.config_map_key_ref, &source.inline) {
            (Some(url), _, _) => self.fetch(url).await,
            (None, Some(reference), _) => {
                let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &key.0);
                match config_maps.get_opt(&reference.name).await {
                    Err(e) => Err(format!("cannot read ConfigMap {}: {e}", reference.name)),
                    Ok(None) => Err(format!("ConfigMap {} does not exist", reference.name)),
                    Ok(Some(config_map)) => config_map
                        .data
                        .and_then(|mut data| data.remove(&reference.key))
                        .ok_or_else(|| {
                            format!("ConfigMap {} has no key {}", reference.name, reference.key)
                        }),
                }
            }
            (None, None, Some(inline)) => Ok(inline.clone()),
            (None, None, None) => Err("spec.openapi names no document".into()),
        };
        let read = match text {
            Ok(text) => {
                let digest = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
                match &previous {
                    Some(kept) if kept.generation == generation && kept.read.digest == digest => {
                        Read {
                            refresh_failed: None,
                            ..kept.read.clone()
                        }
                    }
                    _ => Read {
                        document: match read_document(toolset, &text) {
                            Ok(conversion) => ToolSetDocument::Read {
                                conversion,
                                from_url: source.url.clone(),
                            },
                            Err(why) => ToolSetDocument::Unusable(why.to_string()),
                        },
                        digest,
                        refresh_failed: None,
                    },
                }
            }
            // Nothing lost: a set keeps serving what it last read from its URL.
            Err(why) => match previous {
                Some(kept)
                    if kept.generation == generation
                        && matches!(kept.read.document, ToolSetDocument::Read { .. }) =>
                {
                    Read {
                        refresh_failed: Some(why),
                        ..kept.read
                    }
                }
                _ => Read {
                    document: ToolSetDocument::Unusable(why),
                    digest: String::new(),
                    refresh_failed: None,
                },
            },
        };
        self.kept.lock().expect("documents lock").insert(
            key,
            Kept {
                generation,
                read_at: Instant::now(),
                read: read.clone(),
            },
        );
        read
    }

    /// Forgets a deleted set's document.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.kept
            .lock()
            .expect("documents lock")
            .remove(&(namespace.to_string(), name.to_string()));
    }

    fn kept(&self, key: &(String, String)) -> Option<Kept> {
        self.kept
            .lock()
            .expect("documents lock")
            .get(key)
            .map(|kept| Kept {
                generation: kept.generation,
                read_at: kept.read_at,
                read: kept.read.clone(),
            })
    }

    async fn fetch(&self, url: &str) -> Result<String, String> {
        let http = self.http.get_or_init(|| {
            hangar_mcp_client::http_client(|| reqwest::Client::builder().timeout(READ_TIMEOUT))
        });
        hangar_mcp_client::documents::read_text(http, url, hangar_openapi::MAX_DOCUMENT_BYTES).await
    }
}
