//! A server's `auth` section: the credentials the gateway presents to an
//! upstream, beyond static `headers`. The caller's own token is never
//! forwarded: an upstream gets a token of its own (client credentials), one
//! exchanged for the caller (RFC 8693), and/or the verified caller's identity
//! in headers it may trust.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::values::{NameValue, check_http_url};

/// RFC 8693's token type of an OAuth access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// How the gateway authenticates to one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamAuth {
    /// A token of the gateway's own (OAuth 2.0 client credentials grant) on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2_client_credentials: Option<TokenGrant>,
    /// Each caller's token exchanged (RFC 8693) for one scoped to this upstream, on the
    /// caller's calls; the gateway's own requests (handshake, lists) carry a client
    /// credentials token from the same endpoint and client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchange>,
    /// The verified caller's identity in headers, on the caller's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_identity: Option<ForwardIdentity>,
}

/// A token endpoint and the client the gateway is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenGrant {
    /// The authorization server's token endpoint.
    pub token_url: String,
    pub client_id: String,
    /// The gateway's environment variable holding the client secret (sent with HTTP Basic).
    pub client_secret_from_env: String,
    /// Scopes to ask for; the server's default when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The `audience` parameter, for servers that name the upstream that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The `resource` parameter (RFC 8707 resource indicator), usually the upstream's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// Token exchange: a [`TokenGrant`] plus the type of the token exchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenExchange {
    #[serde(flatten)]
    pub grant: TokenGrant,
    /// `subject_token_type` of the caller's token.
    #[serde(default = "access_token_type")]
    pub subject_token_type: String,
}

fn access_token_type() -> String {
    ACCESS_TOKEN_TYPE.into()
}

/// Header names for the verified caller's identity; each one unset sends nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardIdentity {
    /// The token's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_header: Option<String>,
    /// The caller's groups, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_header: Option<String>,
    /// The token's scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_header: Option<String>,
}

impl ForwardIdentity {
    /// The configured (header, what) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&str, IdentityPart)> {
        [
            (self.subject_header.as_deref(), IdentityPart::Subject),
            (self.groups_header.as_deref(), IdentityPart::Groups),
            (self.scopes_header.as_deref(), IdentityPart::Scopes),
        ]
        .into_iter()
        .filter_map(|(header, part)| header.map(|h| (h, part)))
    }
}

/// What of the caller a forwarded header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityPart {
    Subject,
    Groups,
    Scopes,
}

impl UpstreamAuth {
    /// The grant of the gateway's own token, if it has one.
    pub fn own_grant(&self) -> Option<&TokenGrant> {
        self.oauth2_client_credentials
            .as_ref()
            .or(self.token_exchange.as_ref().map(|e| &e.grant))
    }

    /// Problems of the section itself; `at` says where it is.
    pub fn problems(&self, at: &str, problems: &mut Vec<String>) {
        if self.oauth2_client_credentials.is_some() && self.token_exchange.is_some() {
            problems.push(format!(
                "{at}: set oauth2ClientCredentials or tokenExchange, not both (token exchange already \
                 takes the gateway's own token from its endpoint with client credentials)"
            ));
        }
        if self.own_grant().is_none() && self.forward_identity.is_none() {
            problems.push(format!(
                "{at}: set oauth2ClientCredentials, tokenExchange or forwardIdentity"
            ));
        }
        if let Some(grant) = &self.oauth2_client_credentials {
            grant.problems(&format!("{at}.oauth2ClientCredentials"), problems);
        }
        if let Some(exchange) = &self.token_exchange {
            let at = format!("{at}.tokenExchange");
            exchange.grant.problems(&at, problems);
            if exchange.subject_token_type.trim().is_empty() {
                problems.push(format!("{at}.subjectTokenType: must not be empty"));
            }
        }
        if let Some(forward) = &self.forward_identity {
            let at = format!("{at}.forwardIdentity");
            if forward.headers().next().is_none() {
                problems.push(format!(
                    "{at}: name at least one of subjectHeader, groupsHeader, scopesHeader"
                ));
            }
            for (header, _) in forward.headers() {
                if http_header_name(header).is_none() {
                    problems.push(format!("{at}: `{header}` is not a valid HTTP header name"));
                } else if header.eq_ignore_ascii_case("authorization") {
                    problems.push(format!(
                        "{at}: Authorization carries the upstream's token; pick another header"
                    ));
                }
            }
        }
    }

    /// Static `headers` (at `at`) must not carry the token this section provides.
    pub fn header_problems(&self, headers: &[NameValue], at: &str, problems: &mut Vec<String>) {
        if self.own_grant().is_some()
            && headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("authorization"))
        {
            problems.push(format!(
                "{at}: Authorization comes from auth; remove it from headers"
            ));
        }
    }

    /// Whether the upstream gets something only a caller's token provides.
    pub fn needs_callers(&self) -> bool {
        self.token_exchange.is_some() || self.forward_identity.is_some()
    }
}

impl TokenGrant {
    fn problems(&self, at: &str, problems: &mut Vec<String>) {
        check_http_url(&self.token_url, &format!("{at}.tokenUrl"), problems);
        if self.client_id.trim().is_empty() {
            problems.push(format!("{at}.clientId: must not be empty"));
        }
        if self.client_secret_from_env.trim().is_empty() {
            problems.push(format!("{at}.clientSecretFromEnv: must not be empty"));
        }
        if let Some(resource) = &self.resource {
            check_http_url(resource, &format!("{at}.resource"), problems);
        }
        if self.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            problems.push(format!(
                "{at}.scopes: each scope is one non-empty word without spaces"
            ));
        }
    }
}

/// The lowercase form of a valid header name (RFC 9110 token characters).
fn http_header_name(name: &str) -> Option<String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    (!name.is_empty() && name.chars().all(token)).then(|| name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> TokenGrant {
        TokenGrant {
            token_url: "https://id.example.com/token".into(),
            client_id: "hangar".into(),
            client_secret_from_env: "SECRET".into(),
            scopes: vec!["tools".into()],
            audience: None,
            resource: Some("https://mcp.example.com/mcp".into()),
        }
    }

    #[test]
    fn one_grant_at_most_and_forwarded_headers_that_are_headers() {
        let mut problems = Vec::new();
        UpstreamAuth {
            oauth2_client_credentials: Some(grant()),
            token_exchange: Some(TokenExchange {
                grant: grant(),
                subject_token_type: ACCESS_TOKEN_TYPE.into(),
            }),
            forward_identity: Some(ForwardIdentity {
                subject_header: Some("X User".into()),
                groups_header: Some("authorization".into()),
                scopes_header: None,
            }),
        }
        .problems("servers[0] (a).auth", &mut problems);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("not both"));
        assert!(problems[1].contains("`X User` is not a valid HTTP header name"));
        assert!(problems[2].contains("Authorization carries the upstream's token"));

        let mut problems = Vec::new();
        UpstreamAuth {
            oauth2_client_credentials: None,
            token_exchange: None,
            forward_identity: None,
        }
        .problems("at", &mut problems);
        assert_eq!(
            problems,
            ["at: set oauth2ClientCredentials, tokenExchange or forwardIdentity"]
        );

        let mut problems = Vec::new();
        let mut bad = grant();
        bad.token_url = "id.example.com/token".into();
        bad.scopes = vec!["two words".into()];
        UpstreamAuth {
            oauth2_client_credentials: Some(bad),
            token_exchange: None,
            forward_identity: None,
        }
        .problems("at", &mut problems);
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("at.oauth2ClientCredentials.tokenUrl"));
    }
}
