//! A client of the MCP Registry API: `GET /v0.1/servers`, page by page,
//! within [`Limits`]: a registry cannot make a sync hold memory or time without bound.

use std::time::Duration;

use hangar_api::RegistryFilter;
use reqwest::header::HeaderMap;
use url::Url;

use super::schema::{ServerList, ServerResponse, read_entry};

/// Entries asked for per page (the official registry serves at most 100).
const PAGE_SIZE: &str = "100";
/// A registry that keeps paging past this is misbehaving or needs a filter.
const MAX_PAGES: usize = 2_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds on one sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most response bytes read in one sync, all pages together (a page of
    /// 100 server.json entries is well under 1 MiB; the official registry's
    /// whole catalog a few MiB).
    pub sync_bytes: usize,
    /// Longest a whole sync (every page) may take.
    pub sync_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sync_bytes: 32 * 1024 * 1024,
            sync_deadline: Duration::from_secs(300),
        }
    }
}

/// Everything a registry listed.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<ServerResponse>,
    /// Entries that were not valid `server.json`, with why.
    pub invalid: Vec<String>,
    pub pages: usize,
    /// Response bytes read.
    pub bytes: usize,
}

/// Why a registry could not be listed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("spec.url {0:?} is not a URL: {1}")]
    BadUrl(String, url::ParseError),
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}{}", body_excerpt(.body))]
    Status {
        url: String,
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("{url} did not answer with a server list: {reason}")]
    NotAList { url: String, reason: String },
    #[error("{url} returned the cursor {cursor:?} twice; the registry is not paging forward")]
    CursorLoop { url: String, cursor: String },
    #[error("{url} has more than {MAX_PAGES} pages; narrow spec.filter")]
    TooManyPages { url: String },
    #[error(
        "{url}: the responses of one sync exceed {limit} bytes; narrow spec.filter or check the registry"
    )]
    TooLarge { url: String, limit: usize },
    #[error(
        "{url}: the sync did not finish within {deadline:?} ({pages} pages read); narrow spec.filter or check the registry"
    )]
    Deadline {
        url: String,
        deadline: Duration,
        pages: usize,
    },
}

fn body_excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        let cut: String = body.chars().take(200).collect();
        format!(": {cut}")
    }
}

/// Lists every entry of the registry at `base` that `filter` asks the API for,
/// within `limits`. Deleted entries are asked for too, so references to them
/// can be told so.
pub async fn list_servers(
    http: &reqwest::Client,
    base: &str,
    headers: HeaderMap,
    filter: &RegistryFilter,
    limits: Limits,
) -> Result<Listing, FetchError> {
    let endpoint = servers_endpoint(base)?;
    let mut listing = Listing::default();
    let all = read_pages(http, &endpoint, headers, filter, limits, &mut listing);
    match tokio::time::timeout(limits.sync_deadline, all).await {
        Ok(result) => result.map(|()| listing),
        Err(_) => Err(FetchError::Deadline {
            url: endpoint.to_string(),
            deadline: limits.sync_deadline,
            pages: listing.pages,
        }),
    }
}

async fn read_pages(
    http: &reqwest::Client,
    endpoint: &Url,
    headers: HeaderMap,
    filter: &RegistryFilter,
    limits: Limits,
    listing: &mut Listing,
) -> Result<(), FetchError> {
    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut url = endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", PAGE_SIZE);
            query.append_pair("include_deleted", "true");
            if let Some(search) = &filter.search {
                query.append_pair("search", search);
            }
            if let Some(version) = &filter.version {
                query.append_pair("version", version);
            }
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
        }
        let (page, bytes) =
            fetch_page(http, url, headers.clone(), limits.sync_bytes, listing.bytes).await?;
        listing.pages += 1;
        listing.bytes += bytes;
        for value in page.servers {
            match read_entry(value) {
                Ok(entry) => listing.entries.push(entry),
                Err(why) => listing.invalid.push(why),
            }
        }
        match page.metadata.next_cursor.filter(|c| !c.is_empty()) {
            None => return Ok(()),
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(FetchError::CursorLoop {
                        url: endpoint.to_string(),
                        cursor: next,
                    });
                }
                if listing.pages >= MAX_PAGES {
                    return Err(FetchError::TooManyPages {
                        url: endpoint.to_string(),
                    });
                }
                cursor = Some(next);
            }
        }
    }
}

/// `<base>/v0.1/servers`, keeping any path the base has: where every request of a sync goes.
pub fn servers_endpoint(base: &str) -> Result<Url, FetchError> {
    let mut url = Url::parse(base).map_err(|e| FetchError::BadUrl(base.into(), e))?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url.join("v0.1/servers")
        .map_err(|e| FetchError::BadUrl(base.into(), e))
}

async fn fetch_page(
    http: &reqwest::Client,
    url: Url,
    headers: HeaderMap,
    limit: usize,
    used: usize,
) -> Result<(ServerList, usize), FetchError> {
    let shown = url.to_string();
    let unreachable = |source| FetchError::Unreachable {
        url: shown.clone(),
        source,
    };
    let response = http
        .get(url.clone())
        .headers(headers)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let body = read_body(response, limit.saturating_sub(used))
        .await
        .map_err(|error| match error {
            BodyError::Read(source) => unreachable(source),
            BodyError::TooLarge => FetchError::TooLarge {
                url: shown.clone(),
                limit,
            },
        })?;
    if !status.is_success() {
        return Err(FetchError::Status {
            url: shown,
            status,
            body,
        });
    }
    let bytes = body.len();
    serde_json::from_str(&body)
        .map(|page| (page, bytes))
        .map_err(|error| FetchError::NotAList {
            url: shown,
            reason: error.to_string(),
        })
}

enum BodyError {
    Read(reqwest::Error),
    TooLarge,
}

/// The body as text, read chunk by chunk and abandoned past `limit` bytes
/// (whatever Content-Length claims).
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<String, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_keeps_the_base_path() {
        for (base, endpoint) in [
            (
                "https://registry.modelcontextprotocol.io",
                "https://registry.modelcontextprotocol.io/v0.1/servers",
            ),
            (
                "https://mirror.acme.dev/mcp/",
                "https://mirror.acme.dev/mcp/v0.1/servers",
            ),
            (
                "http://127.0.0.1:8080/registry",
                "http://127.0.0.1:8080/registry/v0.1/servers",
            ),
        ] {
            assert_eq!(servers_endpoint(base).unwrap().as_str(), endpoint);
        }
        assert!(matches!(
            servers_endpoint("registry.local"),
            Err(FetchError::BadUrl(..))
        ));
    }

    /// A local registry: pages of `entries` entries, each naming a fresh
    /// cursor until `pages` were served, each after `delay`.
    async fn serve(entries: usize, pages: usize, delay: Duration) -> String {
        use axum::extract::Query;
        use axum::routing::get;
        use std::collections::HashMap;
        let app = axum::Router::new().route(
            "/v0.1/servers",
            get(
                move |Query(query): Query<HashMap<String, String>>| async move {
                    tokio::time::sleep(delay).await;
                    let served: usize = query.get("cursor").map_or(1, |c| c.parse().unwrap());
                    page(entries, (served < pages).then(|| (served + 1).to_string()))
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn page(servers: usize, next: Option<String>) -> String {
        let entry = serde_json::json!({"server": {"name": "io.example/x", "version": "1.0.0"}});
        serde_json::json!({
            "servers": vec![entry; servers],
            "metadata": {"nextCursor": next},
        })
        .to_string()
    }

    async fn list(base: &str, limits: Limits) -> Result<Listing, FetchError> {
        list_servers(
            &reqwest::Client::new(),
            base,
            HeaderMap::new(),
            &RegistryFilter::default(),
            limits,
        )
        .await
    }

    #[tokio::test]
    async fn a_sync_reads_at_most_its_byte_budget_over_all_pages() {
        let one_page = page(20, None).len();
        let base = serve(20, 3, Duration::ZERO).await;
        let roomy = Limits {
            sync_bytes: one_page * 3,
            ..Limits::default()
        };
        let listing = list(&base, roomy).await.unwrap();
        assert_eq!((listing.pages, listing.entries.len()), (3, 60));

        // Each page fits; the third does not fit in what the first two left.
        let tight = Limits {
            sync_bytes: one_page * 2 + one_page / 2,
            ..Limits::default()
        };
        let error = list(&base, tight).await.unwrap_err();
        assert!(matches!(error, FetchError::TooLarge { .. }), "{error}");
        assert!(error.to_string().contains("narrow spec.filter"), "{error}");
    }

    #[tokio::test]
    async fn one_endless_page_is_cut_at_the_budget() {
        use axum::body::{Body, Bytes};
        use axum::routing::get;
        // No Content-Length: the body streams until the reader gives up.
        let chunk = Bytes::from(vec![b' '; 4096]);
        let app = axum::Router::new().route(
            "/v0.1/servers",
            get(move || async move {
                let endless =
                    futures::stream::repeat(Ok::<_, std::convert::Infallible>(chunk.clone()));
                Body::from_stream(endless)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let error = list(
            &base,
            Limits {
                sync_bytes: 64 * 1024,
                ..Limits::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(error, FetchError::TooLarge { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_sync_that_takes_too_long_is_abandoned() {
        let base = serve(1, 1, Duration::from_secs(5)).await;
        let limits = Limits {
            sync_deadline: Duration::from_millis(200),
            ..Limits::default()
        };
        let error = list(&base, limits).await.unwrap_err();
        assert!(
            matches!(error, FetchError::Deadline { pages: 0, .. }),
            "{error}"
        );
    }
}
