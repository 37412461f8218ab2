//! `spec.auth` of MCPServers and MCPTools into the config's `auth` of a
//! server or tool: client secrets become environment variables of the
//! gateway, and in a cluster go only to a token endpoint their Secret allows.

use hangar_config::outbound::ACCESS_TOKEN_TYPE;
use hangar_config::{ForwardIdentity, TokenExchange, TokenGrant, UpstreamAuth};

use crate::{Compiler, Target};

impl Compiler<'_> {
    /// `spec.auth` as the config has it, client secrets as environment
    /// variables; in a cluster a client secret goes only to a token endpoint
    /// its Secret allows.
    pub(crate) fn upstream_auth(
        &mut self,
        auth: Option<&hangar_api::UpstreamAuthSpec>,
    ) -> Result<Option<UpstreamAuth>, String> {
        let Some(auth) = auth else {
            return Ok(None);
        };
        let mut grant = |spec: &hangar_api::TokenGrantSpec| -> Result<TokenGrant, String> {
            let secret = &spec.client_secret;
            if let Target::Cluster { secrets, .. } = self.target {
                secrets
                    .check(&secret.name, &spec.token_url)
                    .map_err(|why| format!("spec.auth client secret: {why}"))?;
            }
            Ok(TokenGrant {
                token_url: spec.token_url.clone(),
                client_id: spec.client_id.clone(),
                client_secret_from_env: self.secret(&secret.name, &secret.key),
                scopes: spec.scopes.clone(),
                audience: spec.audience.clone(),
                resource: spec.resource.clone(),
            })
        };
        let oauth2_client_credentials = auth
            .oauth2_client_credentials
            .as_ref()
            .map(&mut grant)
            .transpose()?;
        let token_exchange = match &auth.token_exchange {
            Some(spec) => Some(TokenExchange {
                subject_token_type: spec
                    .subject_token_type
                    .clone()
                    .unwrap_or_else(|| ACCESS_TOKEN_TYPE.into()),
                grant: grant(spec)?,
            }),
            None => None,
        };
        let compiled = UpstreamAuth {
            oauth2_client_credentials,
            token_exchange,
            forward_identity: auth.forward_identity.as_ref().map(|f| ForwardIdentity {
                subject_header: f.subject_header.clone(),
                groups_header: f.groups_header.clone(),
                scopes_header: f.scopes_header.clone(),
            }),
        };
        if self.config.auth.is_none() && compiled.needs_callers() {
            return Err(format!(
                "spec.auth: tokenExchange and forwardIdentity need {}: without it no caller has a verified token or identity",
                match &self.gateway {
                    Some(gateway) => format!("the spec.auth of MCPGateway {gateway}"),
                    None => "a gateway with spec.auth".to_string(),
                }
            ));
        }
        Ok(Some(compiled))
    }
}
