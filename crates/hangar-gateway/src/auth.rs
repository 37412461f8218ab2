//! Inbound authentication, per the MCP authorization spec: a request to
//! `/mcp` carries `Authorization: Bearer <token>`, either one of the static
//! tokens (from a Secret) or a JWT access token signed by the configured
//! issuer. Without a valid token the gateway answers 401 with a
//! `WWW-Authenticate` challenge naming its RFC 9728 protected-resource
//! metadata, which tells clients where to get a token.
//!
//! Tokens are only ever compared (static tokens by their SHA-256) and never
//! logged or passed to upstreams: the gateway calls upstreams with its own
//! configured credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::Digest;

use crate::access::{Access, BearerToken, Caller};
use hangar_config::{AuthSettings, Environment, OidcSettings};

/// How long fetched signing keys are used before they are fetched again.
const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Tokens naming an unknown key trigger a refetch at most this often.
const JWKS_REFETCH_GAP: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token at all (RFC 6750: the challenge carries no error code).
    Missing,
    /// A token that is not valid here; the text says why, never what the token was.
    Invalid(String),
    /// The gateway cannot check tokens right now (its issuer is unreachable, or it is misconfigured).
    Unavailable(String),
}

/// A static token's identity.
#[derive(Debug, Clone)]
struct Known {
    subject: String,
    groups: Vec<String>,
}

/// Checks tokens for one `auth` config.
pub struct Authenticator {
    settings: AuthSettings,
    /// SHA-256 of each static token; `Err` says why the tokens cannot be read.
    tokens: Result<HashMap<[u8; 32], Known>, String>,
    oidc: Option<Oidc>,
}

impl Authenticator {
    pub fn new(settings: &AuthSettings, http: reqwest::Client, environment: &Environment) -> Self {
        let tokens = match &settings.bearer_tokens {
            None => Ok(HashMap::new()),
            Some(source) => environment
                .var(&source.value_from_env)
                .map(|text| parse_tokens(&text))
                .ok_or_else(|| {
                    format!(
                        "its bearer tokens are missing: environment variable {} is not set",
                        source.value_from_env
                    )
                }),
        };
        if let Err(why) = &tokens {
            tracing::error!("the gateway cannot check static bearer tokens: {why}");
        }
        Self {
            settings: settings.clone(),
            tokens,
            oidc: settings.oidc.clone().map(|settings| Oidc {
                settings,
                http,
                keys: tokio::sync::Mutex::new(Keys::default()),
            }),
        }
    }

    /// The caller a request's `Authorization` header proves, and what it may use.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Access, Refusal> {
        let token = bearer(authorization)?;
        let mut caller = self.caller(token).await?;
        caller.token = Some(BearerToken::new(token));
        caller.groups.sort();
        caller.groups.dedup();
        Ok(match &self.settings.authorization {
            Some(rules) => Access::granted(caller, rules),
            None => Access::everything(caller),
        })
    }

    async fn caller(&self, token: &str) -> Result<Caller, Refusal> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Ok(tokens) = &self.tokens
            && let Some(known) = tokens.get(&digest)
        {
            return Ok(Caller {
                subject: Some(known.subject.clone()),
                groups: known.groups.clone(),
                ..Caller::default()
            });
        }
        let looks_like_jwt = token.split('.').count() == 3;
        match (&self.oidc, &self.tokens) {
            (Some(oidc), _) if looks_like_jwt => oidc.verify(token).await,
            (_, Err(why)) => Err(Refusal::Unavailable(format!(
                "the gateway cannot check this token: {why}"
            ))),
            (Some(_), Ok(_)) => Err(Refusal::Invalid(
                "the token is neither one of the gateway's bearer tokens nor a JWT".into(),
            )),
            (None, Ok(_)) => Err(Refusal::Invalid(
                "the token is not one of the gateway's bearer tokens".into(),
            )),
        }
    }

    /// The RFC 9728 protected-resource metadata for `resource`.
    pub fn metadata(&self, resource: &str, name: &str) -> Value {
        let mut document = serde_json::json!({
            "resource": resource,
            "resource_name": name,
            "bearer_methods_supported": ["header"],
        });
        if let Some(oidc) = &self.settings.oidc {
            document["authorization_servers"] = serde_json::json!([oidc.issuer]);
        }
        let mut scopes: Vec<&String> = self
            .settings
            .authorization
            .iter()
            .flat_map(|a| a.rules.iter().flat_map(|r| r.scopes.iter()))
            .collect();
        scopes.sort();
        scopes.dedup();
        if !scopes.is_empty() {
            document["scopes_supported"] = serde_json::json!(scopes);
        }
        document
    }

    /// The resource identifier: configured, or the URL the MCP endpoint `path` was reached at.
    pub fn resource(&self, headers: &http::HeaderMap, path: &str) -> String {
        if let Some(resource) = &self.settings.resource {
            return resource.clone();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let scheme = match header("x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        let host = header("x-forwarded-host")
            .or_else(|| header("host"))
            .unwrap_or("localhost");
        format!("{scheme}://{host}{path}")
    }
}

/// Where a resource's metadata lives (RFC 9728 §3.1): the well-known path
/// inserted between the resource's host and its path.
pub fn metadata_url(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(url) => {
            let path = url.path().trim_end_matches('/');
            format!(
                "{}/.well-known/oauth-protected-resource{path}",
                url.origin().ascii_serialization()
            )
        }
        Err(_) => "/.well-known/oauth-protected-resource".into(),
    }
}

/// The `WWW-Authenticate` value for a refusal (RFC 6750 §3, RFC 9728 §5.1).
pub fn challenge(refusal: &Refusal, resource: &str) -> String {
    let metadata = metadata_url(resource);
    match refusal {
        Refusal::Invalid(why) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{metadata}\"",
            why.replace(['"', '\\'], "'")
        ),
        Refusal::Missing | Refusal::Unavailable(_) => {
            format!("Bearer resource_metadata=\"{metadata}\"")
        }
    }
}

fn bearer(authorization: Option<&str>) -> Result<&str, Refusal> {
    let Some(value) = authorization else {
        return Err(Refusal::Missing);
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Invalid(
            "the Authorization header must use the Bearer scheme".into(),
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::Invalid("the bearer token is empty".into()));
    }
    Ok(token)
}

/// Lines of `token [subject [group,group…]]`; `#` starts a comment.
fn parse_tokens(text: &str) -> HashMap<[u8; 32], Known> {
    let mut tokens = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut fields = line.split_whitespace();
        let Some(token) = fields.next() else { continue };
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let subject = fields
            .next()
            .map(str::to_string)
            .unwrap_or_else(|| format!("token-{}", hex::encode(&digest[..4])));
        let groups = fields
            .next()
            .map(|g| {
                g.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        tokens.insert(digest, Known { subject, groups });
    }
    tokens
}

/// JWT access tokens of one issuer, checked against its JWKS.
struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: tokio::sync::Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    jwks_url: Option<String>,
    set: Option<Arc<JwkSet>>,
    fetched: Option<Instant>,
    /// The last fetch for a key the set lacked.
    refetched: Option<Instant>,
}

impl Oidc {
    async fn verify(&self, token: &str) -> Result<Caller, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::Invalid("the token is not a well-formed JWT".into()))?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(Refusal::Invalid(
                "tokens signed with a shared secret (HS256/384/512) are not accepted".into(),
            ));
        }
        let kid = header.kid.as_deref();
        let mut set = self.keys(false).await?;
        if find(&set, kid).is_none() {
            set = self.keys(true).await?;
        }
        let Some(jwk) = find(&set, kid) else {
            return Err(Refusal::Invalid(format!(
                "the token's signing key{} is not among the issuer's keys",
                kid.map(|k| format!(" `{k}`")).unwrap_or_default()
            )));
        };
        if let Some(alg) = jwk.common.key_algorithm
            && alg.to_string() != format!("{:?}", header.alg)
        {
            return Err(Refusal::Invalid(format!(
                "the token says it is signed with {:?}, but its key is for {alg}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| {
            Refusal::Unavailable(format!("the issuer's signing key cannot be used: {e}"))
        })?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.clock_skew.0.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&self.settings.audiences);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Refusal::Invalid(self.describe(e.kind())))?;
        Ok(self.caller(&data.claims))
    }

    fn describe(&self, kind: &ErrorKind) -> String {
        match kind {
            ErrorKind::ExpiredSignature => "the token has expired".into(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
            ErrorKind::InvalidAudience => format!(
                "the token is for another audience; this gateway accepts {}",
                self.settings.audiences.join(", ")
            ),
            ErrorKind::InvalidIssuer => {
                format!("the token was not issued by {}", self.settings.issuer)
            }
            ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
            ErrorKind::InvalidAlgorithm => "the token's algorithm does not fit its key".into(),
            other => format!("the token cannot be validated ({other:?})"),
        }
    }

    fn caller(&self, claims: &Map<String, Value>) -> Caller {
        let strings = |value: Option<&Value>, split: fn(&str) -> Vec<String>| match value {
            Some(Value::String(s)) => split(s),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
        let one = |s: &str| vec![s.to_string()];
        let subject = ["sub", "client_id", "azp"]
            .iter()
            .find_map(|claim| claims.get(*claim).and_then(|v| v.as_str()))
            .map(str::to_string);
        let mut scopes = strings(claims.get("scope"), words);
        scopes.extend(strings(claims.get("scp"), words));
        Caller {
            subject,
            groups: strings(claims.get(&self.settings.groups_claim), one),
            scopes,
            ..Caller::default()
        }
    }

    /// The issuer's keys, fetched when missing or old (or, with `refetch`,
    /// because a token named a key they lack).
    async fn keys(&self, refetch: bool) -> Result<Arc<JwkSet>, Refusal> {
        let mut keys = self.keys.lock().await;
        let fresh = if refetch {
            keys.refetched
                .is_some_and(|at| at.elapsed() < JWKS_REFETCH_GAP)
        } else {
            keys.fetched.is_some_and(|at| at.elapsed() < JWKS_MAX_AGE)
        };
        if fresh && let Some(set) = &keys.set {
            return Ok(set.clone());
        }
        if refetch {
            keys.refetched = Some(Instant::now());
        }
        let fetched = self.fetch(&mut keys).await;
        keys.fetched = Some(Instant::now());
        match (fetched, &keys.set) {
            (Ok(set), _) => {
                let set = Arc::new(set);
                keys.set = Some(set.clone());
                Ok(set)
            }
            // Keep using the keys we have while the issuer is unreachable.
            (Err(why), Some(old)) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %why, "using the signing keys fetched before");
                Ok(old.clone())
            }
            (Err(why), None) => Err(Refusal::Unavailable(why)),
        }
    }

    async fn fetch(&self, keys: &mut Keys) -> Result<JwkSet, String> {
        let jwks_url = match (&self.settings.jwks_url, &keys.jwks_url) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                let url = self.discover().await?;
                keys.jwks_url = Some(url.clone());
                url
            }
        };
        let set: JwkSet = self.get_json(&jwks_url).await?;
        tracing::info!(issuer = %self.settings.issuer, keys = set.keys.len(), "fetched the issuer's signing keys");
        Ok(set)
    }

    /// The JWKS URL from the issuer's metadata: OpenID Connect discovery, then RFC 8414.
    async fn discover(&self) -> Result<String, String> {
        let issuer = self.settings.issuer.trim_end_matches('/');
        let parsed = url::Url::parse(issuer).map_err(|e| format!("issuer URL: {e}"))?;
        let rfc8414 = format!(
            "{}/.well-known/oauth-authorization-server{}",
            parsed.origin().ascii_serialization(),
            parsed.path().trim_end_matches('/')
        );
        let mut problems = Vec::new();
        for url in [
            format!("{issuer}/.well-known/openid-configuration"),
            rfc8414,
        ] {
            match self.get_json::<Map<String, Value>>(&url).await {
                Ok(metadata) => {
                    let named = metadata.get("issuer").and_then(|v| v.as_str());
                    if named.map(|n| n.trim_end_matches('/')) != Some(issuer) {
                        return Err(format!(
                            "{url} names issuer {named:?}, not {issuer}; check auth.oidc.issuer"
                        ));
                    }
                    return metadata
                        .get("jwks_uri")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| format!("{url} has no jwks_uri; set auth.oidc.jwksUrl"));
                }
                Err(why) => problems.push(why),
            }
        }
        Err(format!(
            "cannot discover the signing keys of issuer {issuer}: {}",
            problems.join("; ")
        ))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", hangar_mcp_client::error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {url}: not the JSON expected: {e}"))
    }
}

/// The key a token names, or the only key when it names none.
fn find<'a>(set: &'a JwkSet, kid: Option<&str>) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_tokens_carry_subjects_and_groups() {
        let tokens = parse_tokens("s3cret ada admins,ops\n# a comment\n\nplain   \nbare bob\n");
        let known = |t: &str| tokens.get(&<[u8; 32]>::from(sha2::Sha256::digest(t.as_bytes())));
        let ada = known("s3cret").unwrap();
        assert_eq!(ada.subject, "ada");
        assert_eq!(ada.groups, ["admins", "ops"]);
        assert!(known("plain").unwrap().subject.starts_with("token-"));
        assert_eq!(known("bare").unwrap().subject, "bob");
        assert_eq!(tokens.len(), 3);
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(None), Err(Refusal::Missing));
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert!(matches!(
            bearer(Some("Basic abc")),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(bearer(Some("Bearer ")), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn metadata_sits_between_host_and_path() {
        assert_eq!(
            metadata_url("https://mcp.example.com/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/team/mcp"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/team/mcp"
        );
        assert_eq!(
            metadata_url("https://mcp.example.com/"),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
        let challenge = challenge(
            &Refusal::Invalid("the \"token\" has expired".into()),
            "https://h/mcp",
        );
        assert_eq!(
            challenge,
            "Bearer error=\"invalid_token\", error_description=\"the 'token' has expired\", resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\""
        );
    }
}
