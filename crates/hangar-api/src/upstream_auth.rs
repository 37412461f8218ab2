//! `MCPServer.spec.auth`: the credentials gateways present to a server
//! beyond static headers.

use k8s_openapi::api::core::v1::SecretKeySelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tokens and identity gateways present to the server. The caller's own
/// token is never forwarded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.oauth2ClientCredentials) && has(self.tokenExchange))").message("spec.auth: set oauth2ClientCredentials or tokenExchange, not both"))]
#[x_kube(validation = Rule::new("has(self.oauth2ClientCredentials) || has(self.tokenExchange) || has(self.forwardIdentity)").message("spec.auth needs oauth2ClientCredentials, tokenExchange or forwardIdentity"))]
pub struct UpstreamAuthSpec {
    /// A token of the gateway's own (OAuth 2.0 client credentials grant) on every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2_client_credentials: Option<TokenGrantSpec>,
    /// Each caller's token exchanged (RFC 8693) for one scoped to this server, on
    /// the caller's calls; the gateway's own requests carry a client credentials
    /// token of the same client. Needs the gateway's `spec.auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenGrantSpec>,
    /// The verified caller's identity in headers, on the caller's calls. Needs the gateway's `spec.auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_identity: Option<ForwardIdentitySpec>,
}

/// An OAuth 2.0 token endpoint and the gateway's client there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrantSpec {
    /// The authorization server's token endpoint.
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']").message("tokenUrl must be an absolute http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub token_url: String,
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    /// The client secret, from a key of a Secret in the same namespace (it is sent to `tokenUrl`).
    pub client_secret: SecretKeySelector,
    /// Scopes to ask for; the authorization server's default when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub scopes: Vec<String>,
    /// The `audience` parameter, for authorization servers that name the server that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The `resource` parameter (RFC 8707), usually the server's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Token exchange only: the `subject_token_type` of callers' tokens
    /// (default `urn:ietf:params:oauth:token-type:access_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_token_type: Option<String>,
}

/// Header names for the verified caller's identity; each one unset sends nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForwardIdentitySpec {
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
