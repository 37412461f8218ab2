//! The client side of MCP as Hangar speaks it to servers it does not run
//! itself: the gateway's upstream connections and the operator's health
//! checks connect the same way.
//!
//! - [`connect`]: a handshake in either protocol era, falling back from the
//!   stateless 2026-07-28 `server/discover` to `initialize` where needed.
//! - [`authorized`]: Streamable HTTP with tokens that change, and upstream refusals in words.
//! - [`token`]: tokens from an OAuth 2.0 token endpoint, the client's own one cached.
//! - [`documents`]: a published document (an OpenAPI description) read within a size limit.
//! - [`sse`]: the 2024-11-05 HTTP+SSE transport for servers that predate Streamable HTTP.
//! - [`header_map`]: configured headers (often credentials) as a header map
//!   whose values stay out of debug output.
//! - [`words`]: failures in words ([`error_chain`], [`handshake_failure`]), without type names.
//! - [`http_client`]: an HTTP client, also where the system has no CA
//!   certificates, that follows redirects only within an origin.

pub mod authorized;
pub mod connect;
pub mod documents;
pub mod sse;
pub mod token;
pub mod words;

pub use authorized::{AuthorizedHttp, Authorizer, CallCredentials, refusal_words};
pub use connect::{Lifecycles, connect, streamable_http};
pub use sse::SseClientTransport;
pub use token::{IssuedToken, TokenClient, TokenEndpoint};
pub use words::{error_chain, handshake_failure};

use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers from name/value pairs, every value marked sensitive (configured
/// headers often carry credentials). Errors name the header, never its value.
pub fn header_map<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid HTTP header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("header {name} has a value that is not valid in HTTP"))?;
        value.set_sensitive(true);
        map.append(header, value);
    }
    Ok(map)
}

/// Builds the HTTP client `configure` describes, verifying TLS with the
/// system's CA certificates. Where there are none (a stdio server's image runs
/// `hangar bridge`, and small images often lack a CA bundle), it builds the
/// same client trusting no certificate and warns once: plain HTTP still
/// works, and every HTTPS connection fails with a certificate error rather
/// than the process failing at start. It follows redirects only within the
/// origin: its requests carry configured headers, which a server must not
/// bounce elsewhere.
pub fn http_client(configure: impl Fn() -> reqwest::ClientBuilder) -> reqwest::Client {
    let configure = || configure().redirect(same_origin_redirects());
    match configure().build() {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(
                error = %error_chain(&error),
                "no CA certificates could be loaded; HTTPS connections will fail to verify"
            );
            configure()
                .tls_certs_only([])
                .build()
                .expect("an HTTP client without CA certificates needs none to build")
        }
    }
}

/// Follows a redirect only to the same scheme, host and port (at most 10):
/// configured headers (often credentials a Secret allowed for one
/// destination) are sent with every request, and reqwest strips only the
/// standard credential headers when a redirect leaves the origin. A redirect
/// elsewhere is returned as the response.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .last()
            .is_some_and(|previous| same_origin(previous, attempt.url()));
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// How many redirects in a row a request follows.
pub const MAX_REDIRECTS: usize = 10;

/// Whether two URLs have the same scheme, host and port: where a redirect may take configured headers.
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_maps_hide_values_and_name_bad_headers() {
        let map = header_map([("X-Api-Key", "secret"), ("x-api-key", "second")]).unwrap();
        assert_eq!(map.get_all("x-api-key").iter().count(), 2);
        assert!(map.get("x-api-key").unwrap().is_sensitive());
        assert!(!format!("{map:?}").contains("secret"));
        let bad_name = header_map([("bad name", "v")]).unwrap_err();
        assert!(bad_name.contains("`bad name`"), "{bad_name}");
        let bad_value = header_map([("X-Key", "line\nbreak")]).unwrap_err();
        assert!(
            bad_value.contains("X-Key") && !bad_value.contains("break"),
            "{bad_value}"
        );
    }
}
