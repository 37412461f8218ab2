//! Tokens from an OAuth 2.0 token endpoint, for the gateway's upstreams and
//! the operator's health checks alike: one request in RFC 6749's form, and
//! the client's own token (client credentials grant) cached until shortly
//! before it expires. Errors say which endpoint refused what; they never
//! contain a token or a secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::Authorizer;

/// Longest a token endpoint may take to answer.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime assumed for a token whose response gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// A token endpoint and the client there.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    pub url: String,
    pub client_id: String,
    /// Sent with HTTP Basic; never logged.
    pub client_secret: String,
    /// Scopes to ask for; the server's default when empty.
    pub scopes: Vec<String>,
    /// The `audience` parameter.
    pub audience: Option<String>,
    /// The `resource` parameter (RFC 8707).
    pub resource: Option<String>,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .finish()
    }
}

/// A token and when to fetch a new one.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: Arc<str>,
    /// A tenth of its life (at most a minute) before it expires.
    pub refresh_at: Instant,
}

impl IssuedToken {
    /// The token while it is not due for renewal.
    pub fn fresh(&self) -> Option<Arc<str>> {
        (Instant::now() < self.refresh_at).then(|| self.token.clone())
    }
}

/// A client of one token endpoint, holding its own token.
pub struct TokenClient {
    http: reqwest::Client,
    endpoint: TokenEndpoint,
    /// The client credentials token; the lock also keeps two renewals from racing.
    own: tokio::sync::Mutex<Option<IssuedToken>>,
}

impl TokenClient {
    pub fn new(http: reqwest::Client, endpoint: TokenEndpoint) -> Self {
        Self {
            http,
            endpoint,
            own: tokio::sync::Mutex::new(None),
        }
    }

    /// The client's own token: cached, or fetched with the client credentials grant.
    pub async fn own_token(&self) -> Result<Arc<str>, String> {
        let mut own = self.own.lock().await;
        if let Some(token) = own.as_ref().and_then(IssuedToken::fresh) {
            return Ok(token);
        }
        let issued = self
            .request(
                "client credentials",
                &[("grant_type", "client_credentials")],
            )
            .await?;
        *own = Some(issued.clone());
        Ok(issued.token)
    }

    /// One token request of the grant in `parameters`; `what` names it in errors.
    pub async fn request(
        &self,
        what: &str,
        parameters: &[(&str, &str)],
    ) -> Result<IssuedToken, String> {
        let endpoint = &self.endpoint;
        let url = &endpoint.url;
        let scope = endpoint.scopes.join(" ");
        let mut form: Vec<(&str, &str)> = parameters.to_vec();
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(audience) = &endpoint.audience {
            form.push(("audience", audience));
        }
        if let Some(resource) = &endpoint.resource {
            form.push(("resource", resource));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let started = Instant::now();
        let response = self
            .http
            .post(url)
            // RFC 6749 §2.3.1: both form-encoded, then HTTP Basic.
            .basic_auth(
                form_encoded(&endpoint.client_id),
                Some(form_encoded(&endpoint.client_secret)),
            )
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the token endpoint {url} did not answer the {what} request: {}",
                    crate::error_chain(&e)
                )
            })?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("no error code");
            let description = body["error_description"].as_str().unwrap_or_default();
            return Err(format!(
                "the token endpoint {url} refused the {what} request (HTTP {}: {error}{}{description})",
                status.as_u16(),
                if description.is_empty() { "" } else { ", " },
            ));
        }
        let Some(token) = body["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(format!(
                "the token endpoint {url} answered the {what} request without an access_token"
            ));
        };
        let lifetime = body["expires_in"]
            .as_u64()
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        tracing::debug!(
            token_url = %url,
            what,
            expires_in_s = lifetime.as_secs(),
            "token fetched"
        );
        Ok(IssuedToken {
            token: token.into(),
            refresh_at: started + lifetime - margin,
        })
    }
}

fn form_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Authorizer for TokenClient {
    fn token(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.own_token().await.map(|t| t.to_string()) })
    }
}
