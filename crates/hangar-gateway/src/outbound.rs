//! The credentials the gateway presents to an upstream (`servers[].auth`):
//! its own token from the client credentials grant, each caller's token
//! exchanged for one scoped to the upstream (RFC 8693), and the verified
//! caller's identity in headers. Tokens are cached until shortly before they
//! expire, per upstream and (exchanged ones) per caller; none is ever logged,
//! and the caller's own token never leaves the gateway except to the token
//! endpoint that exchanges it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hangar_config::outbound::ACCESS_TOKEN_TYPE;
use hangar_config::{Environment, IdentityPart, TokenGrant, UpstreamAuth};
use hangar_mcp_client::{Authorizer, CallCredentials};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest as _;

use crate::access::Caller;

/// RFC 8693's grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Longest a token endpoint may take to answer.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Lifetime assumed for a token whose response gives none.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Most exchanged tokens kept; past it, expired ones go, then all.
const MOST_EXCHANGED: usize = 10_000;

/// One upstream's credentials.
pub struct Credentials {
    server: String,
    auth: UpstreamAuth,
    http: reqwest::Client,
    environment: Environment,
    /// The gateway's own token; the lock also keeps two refreshes from racing.
    own: tokio::sync::Mutex<Option<Cached>>,
    /// Exchanged tokens by the SHA-256 of the caller's token.
    exchanged: Mutex<HashMap<[u8; 32], Cached>>,
}

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    /// When to fetch a new one: a little before it expires.
    refresh_at: Instant,
}

impl Cached {
    fn fresh(&self) -> Option<Arc<str>> {
        (Instant::now() < self.refresh_at).then(|| self.token.clone())
    }
}

impl Credentials {
    pub fn new(
        server: &str,
        auth: &UpstreamAuth,
        http: reqwest::Client,
        environment: Environment,
    ) -> Self {
        Self {
            server: server.to_string(),
            auth: auth.clone(),
            http,
            environment,
            own: tokio::sync::Mutex::new(None),
            exchanged: Mutex::default(),
        }
    }

    /// Whether the connection carries a token of the gateway's own.
    pub fn has_own_token(&self) -> bool {
        self.auth.own_grant().is_some()
    }

    /// The gateway's own token: cached, or fetched with the client credentials grant.
    pub async fn own_token(&self) -> Result<Arc<str>, String> {
        let Some(grant) = self.auth.own_grant() else {
            return Err(format!("MCP server {} has no token grant", self.server));
        };
        let mut own = self.own.lock().await;
        if let Some(token) = own.as_ref().and_then(Cached::fresh) {
            return Ok(token);
        }
        let fetched = self
            .fetch(
                grant,
                "client credentials",
                &[("grant_type", "client_credentials")],
            )
            .await?;
        *own = Some(fetched.clone());
        Ok(fetched.token)
    }

    /// What a call made for `caller` carries instead of the connection's own
    /// credentials, when the upstream gets something of the caller's.
    pub async fn for_call(&self, caller: &Caller) -> Result<Option<CallCredentials>, String> {
        if !self.auth.needs_callers() {
            return Ok(None);
        }
        let token = match &self.auth.token_exchange {
            Some(exchange) => Some(
                self.exchange(&exchange.grant, &exchange.subject_token_type, caller)
                    .await?,
            ),
            None if self.has_own_token() => Some(self.own_token().await?),
            None => None,
        };
        let mut headers = HeaderMap::new();
        if let Some(forward) = &self.auth.forward_identity {
            for (header, part) in forward.headers() {
                let value = match part {
                    IdentityPart::Subject => caller.subject.clone().unwrap_or_default(),
                    IdentityPart::Groups => caller.groups.join(","),
                    IdentityPart::Scopes => caller.scopes.join(" "),
                };
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("`{header}` is not a valid HTTP header name"))?;
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    format!("the caller's identity cannot be sent in header {header}")
                })?;
                headers.insert(name, value);
            }
        }
        Ok(Some(CallCredentials {
            token,
            headers: Arc::new(headers),
        }))
    }

    /// The caller's token exchanged for one scoped to this upstream.
    async fn exchange(
        &self,
        grant: &TokenGrant,
        subject_token_type: &str,
        caller: &Caller,
    ) -> Result<Arc<str>, String> {
        let Some(subject) = caller.token.as_ref() else {
            return Err("the caller presented no token to exchange".into());
        };
        let key: [u8; 32] = sha2::Sha256::digest(subject.expose().as_bytes()).into();
        let cached = self.lock_exchanged().get(&key).and_then(Cached::fresh);
        if let Some(token) = cached {
            return Ok(token);
        }
        let fetched = self
            .fetch(
                grant,
                "token exchange",
                &[
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", subject.expose()),
                    ("subject_token_type", subject_token_type),
                    ("requested_token_type", ACCESS_TOKEN_TYPE),
                ],
            )
            .await?;
        let mut exchanged = self.lock_exchanged();
        if exchanged.len() >= MOST_EXCHANGED {
            let now = Instant::now();
            exchanged.retain(|_, cached| cached.refresh_at > now);
            if exchanged.len() >= MOST_EXCHANGED {
                exchanged.clear();
            }
        }
        exchanged.insert(key, fetched.clone());
        Ok(fetched.token)
    }

    fn lock_exchanged(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        self.exchanged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One token request; errors say which endpoint refused what, never a token or secret.
    async fn fetch(
        &self,
        grant: &TokenGrant,
        what: &str,
        parameters: &[(&str, &str)],
    ) -> Result<Cached, String> {
        let url = &grant.token_url;
        let secret = self
            .environment
            .var(&grant.client_secret_from_env)
            .ok_or_else(|| {
                format!(
                    "environment variable {} (the client secret for {url}) is not set",
                    grant.client_secret_from_env
                )
            })?;
        let scope = grant.scopes.join(" ");
        let mut form: Vec<(&str, &str)> = parameters.to_vec();
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        if let Some(audience) = &grant.audience {
            form.push(("audience", audience));
        }
        if let Some(resource) = &grant.resource {
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
            .basic_auth(form_encoded(&grant.client_id), Some(form_encoded(&secret)))
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
                    hangar_mcp_client::error_chain(&e)
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
        // Fetched again a tenth of its life (at most a minute) before it expires.
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        tracing::debug!(
            server = %self.server,
            what,
            expires_in_s = lifetime.as_secs(),
            "token fetched for the upstream"
        );
        Ok(Cached {
            token: token.into(),
            refresh_at: started + lifetime - margin,
        })
    }
}

fn form_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Authorizer for Credentials {
    fn token(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.own_token().await.map(|t| t.to_string()) })
    }
}
