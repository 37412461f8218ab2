//! A document a service publishes (an OpenAPI description), read over HTTP
//! within a size limit: a service cannot make a reader hold memory without bound.

use futures::StreamExt;

use crate::error_chain;

/// The text at `url`, or why it cannot be had, in words.
pub async fn read_text(
    http: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<String, String> {
    let response = http
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/yaml;q=0.9, */*;q=0.5",
        )
        .send()
        .await
        .map_err(|e| format!("cannot read {url}: {}", error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url} answered HTTP {status}"));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| format!("reading {url}: {}", error_chain(&e)))?;
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("{url} holds more than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("{url} is not UTF-8 text"))
}
