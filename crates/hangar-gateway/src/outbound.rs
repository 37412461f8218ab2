//! The credentials the gateway presents to an upstream (`servers[].auth`, `tools[].auth`):
//! its own token from the client credentials grant, each caller's token
//! exchanged for one scoped to the upstream (RFC 8693), and the verified
//! caller's identity in headers. Tokens are cached until shortly before they
//! expire, per upstream and (exchanged ones) per caller; none is ever logged,
//! and the caller's own token never leaves the gateway except to the token
//! endpoint that exchanges it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use hangar_config::outbound::ACCESS_TOKEN_TYPE;
use hangar_config::{Environment, IdentityPart, TokenGrant, UpstreamAuth};
use hangar_mcp_client::{Authorizer, CallCredentials, IssuedToken, TokenClient, TokenEndpoint};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest as _;

use crate::access::Caller;

/// RFC 8693's grant type.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Most exchanged tokens kept; past it, expired ones go, then all.
const MOST_EXCHANGED: usize = 10_000;

/// The credentials of one upstream (an MCP server or a tool's backend).
pub struct Credentials {
    /// Names the upstream in errors, e.g. "MCP server x".
    who: String,
    auth: UpstreamAuth,
    /// The gateway's client at the token endpoint, or why it has none.
    client: Option<Result<TokenClient, String>>,
    /// Exchanged tokens by the SHA-256 of the caller's token.
    exchanged: Mutex<HashMap<[u8; 32], IssuedToken>>,
}

impl Credentials {
    pub fn new(
        who: String,
        auth: &UpstreamAuth,
        http: reqwest::Client,
        environment: &Environment,
    ) -> Self {
        let client = auth.own_grant().map(|grant| {
            token_endpoint(grant, environment).map(|endpoint| TokenClient::new(http, endpoint))
        });
        Self {
            who,
            auth: auth.clone(),
            client,
            exchanged: Mutex::default(),
        }
    }

    /// Whether the upstream gets a token of the gateway's own.
    pub fn has_own_token(&self) -> bool {
        self.client.is_some()
    }

    fn client(&self) -> Result<&TokenClient, String> {
        match &self.client {
            Some(Ok(client)) => Ok(client),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("{} has no token grant", self.who)),
        }
    }

    /// The gateway's own token: cached, or fetched with the client credentials grant.
    pub async fn own_token(&self) -> Result<Arc<str>, String> {
        self.client()?.own_token().await
    }

    /// What a call made for `caller` carries instead of the connection's own
    /// credentials, when the upstream gets something of the caller's.
    pub async fn for_call(&self, caller: &Caller) -> Result<Option<CallCredentials>, String> {
        if !self.auth.needs_callers() {
            return Ok(None);
        }
        let token = match &self.auth.token_exchange {
            Some(exchange) => Some(self.exchange(&exchange.subject_token_type, caller).await?),
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
        subject_token_type: &str,
        caller: &Caller,
    ) -> Result<Arc<str>, String> {
        let Some(subject) = caller.token.as_ref() else {
            return Err("the caller presented no token to exchange".into());
        };
        let key: [u8; 32] = sha2::Sha256::digest(subject.expose().as_bytes()).into();
        let cached = self.lock_exchanged().get(&key).and_then(IssuedToken::fresh);
        if let Some(token) = cached {
            return Ok(token);
        }
        let fetched = self
            .client()?
            .request(
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

    fn lock_exchanged(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], IssuedToken>> {
        self.exchanged.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token endpoint of `grant`, with its client secret from the environment.
fn token_endpoint(grant: &TokenGrant, environment: &Environment) -> Result<TokenEndpoint, String> {
    let client_secret = environment
        .var(&grant.client_secret_from_env)
        .ok_or_else(|| {
            format!(
                "environment variable {} (the client secret for {}) is not set",
                grant.client_secret_from_env, grant.token_url
            )
        })?;
    Ok(TokenEndpoint {
        url: grant.token_url.clone(),
        client_id: grant.client_id.clone(),
        client_secret,
        scopes: grant.scopes.clone(),
        audience: grant.audience.clone(),
        resource: grant.resource.clone(),
    })
}

impl Authorizer for Credentials {
    fn token(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { self.own_token().await.map(|t| t.to_string()) })
    }
}
