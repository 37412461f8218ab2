//! A client of the MCP Registry API: `GET /v0.1/servers`, page by page.

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

/// Everything a registry listed.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<ServerResponse>,
    /// Entries that were not valid `server.json`, with why.
    pub invalid: Vec<String>,
    pub pages: usize,
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

/// Lists every entry of the registry at `base` that `filter` asks the API for.
/// Deleted entries are asked for too, so references to them can be told so.
pub async fn list_servers(
    http: &reqwest::Client,
    base: &str,
    headers: HeaderMap,
    filter: &RegistryFilter,
) -> Result<Listing, FetchError> {
    let endpoint = servers_endpoint(base)?;
    let mut listing = Listing::default();
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
        let page = fetch_page(http, url, headers.clone()).await?;
        listing.pages += 1;
        for value in page.servers {
            match read_entry(value) {
                Ok(entry) => listing.entries.push(entry),
                Err(why) => listing.invalid.push(why),
            }
        }
        match page.metadata.next_cursor.filter(|c| !c.is_empty()) {
            None => return Ok(listing),
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

/// `<base>/v0.1/servers`, keeping any path the base has.
fn servers_endpoint(base: &str) -> Result<Url, FetchError> {
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
) -> Result<ServerList, FetchError> {
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
    let body = response.text().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(FetchError::Status {
            url: shown,
            status,
            body,
        });
    }
    serde_json::from_str(&body).map_err(|error| FetchError::NotAList {
        url: shown,
        reason: error.to_string(),
    })
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
}
