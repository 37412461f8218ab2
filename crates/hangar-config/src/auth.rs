//! The `auth` config section: who may call the gateway (bearer tokens, OIDC
//! access tokens) and which tools, prompts and resources each caller sees.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use hangar_api::AuthorizationDefault;

use crate::values::DurationSpec;

/// Inbound authentication per the MCP authorization spec, and per-item authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthSettings {
    /// The resource identifier (RFC 9728) clients request tokens for, e.g.
    /// `https://mcp.example.com/mcp`. Default: the URL the request came in on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Static bearer tokens: lines of `token [subject [group,group…]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_tokens: Option<BearerTokens>,
    /// JWT access tokens from an OIDC / OAuth 2.1 issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSettings>,
    /// Which callers see and use which items. Every authenticated caller may use everything when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSettings>,
}

/// Where the static tokens are: the gateway's environment variable (filled from a Secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BearerTokens {
    pub value_from_env: String,
}

/// An issuer whose signed JWT access tokens are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcSettings {
    /// Issuer URL: the `iss` tokens must carry; its discovery document names the JWKS.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// JWKS URL, when not taken from the issuer's discovery document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Tolerated clock difference for `exp` and `nbf`.
    #[serde(default = "default_clock_skew")]
    pub clock_skew: DurationSpec,
    /// Claim holding the caller's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
}

fn default_clock_skew() -> DurationSpec {
    DurationSpec(Duration::from_secs(60))
}
fn default_groups_claim() -> String {
    "groups".into()
}

impl OidcSettings {
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            jwks_url: None,
            clock_skew: default_clock_skew(),
            groups_claim: default_groups_claim(),
        }
    }
}

/// Rules granting callers access to names (`*` matches any run of characters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationSettings {
    /// What a caller matched by no rule may do.
    #[serde(default)]
    pub default: AuthorizationDefault,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AccessRule>,
}

/// Callers with any of these subjects, groups or scopes may see and use these names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Tool names as clients see them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// Resource URIs (and resource template URIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

impl AuthSettings {
    pub(crate) fn problems(&self, problems: &mut Vec<String>) {
        if self.bearer_tokens.is_none() && self.oidc.is_none() {
            problems.push("auth: set bearerTokens, oidc, or both".into());
        }
        if let Some(resource) = &self.resource {
            match url::Url::parse(resource) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.fragment().is_none() => {
                }
                _ => problems.push(format!(
                    "auth.resource: `{resource}` is not an absolute http(s) URL without a fragment"
                )),
            }
        }
        if let Some(tokens) = &self.bearer_tokens
            && tokens.value_from_env.trim().is_empty()
        {
            problems.push("auth.bearerTokens.valueFromEnv: must name a variable".into());
        }
        if let Some(oidc) = &self.oidc {
            for (field, url) in [
                ("issuer", Some(&oidc.issuer)),
                ("jwksUrl", oidc.jwks_url.as_ref()),
            ] {
                if let Some(url) = url
                    && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                {
                    problems.push(format!("auth.oidc.{field}: `{url}` is not an http(s) URL"));
                }
            }
            if oidc.audiences.iter().all(|a| a.trim().is_empty()) {
                problems.push("auth.oidc.audiences: name at least one audience".into());
            }
            if oidc.groups_claim.trim().is_empty() {
                problems.push("auth.oidc.groupsClaim: must not be empty".into());
            }
        }
        if let Some(authorization) = &self.authorization {
            for (i, rule) in authorization.rules.iter().enumerate() {
                if rule.subjects.is_empty() && rule.groups.is_empty() && rule.scopes.is_empty() {
                    problems.push(format!(
                        "auth.authorization.rules[{i}]: needs subjects, groups or scopes to match callers"
                    ));
                }
            }
        }
    }
}
