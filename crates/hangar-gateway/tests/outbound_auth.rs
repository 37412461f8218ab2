//! Credentials for upstreams (`servers[].auth`) against a real authorization
//! server we did not write (`oidc-provider`, with its client credentials
//! grant and RFC 8693 token exchange configured) and an upstream on the
//! official Python SDK that takes only tokens for its own audience
//! (`hangar-testenv/peers/protected.py`): the caller's token is refused there, the
//! one the gateway exchanges for it is accepted; the gateway's own token and
//! exchanged ones are cached and fetched again once they expire; an
//! upstream's 401 and a token endpoint's refusal read as what they are.
//! Declared tools (`tools[].auth`) get the same credentials for their HTTP
//! backend (`protected.py`'s `/api/whoami`).

mod ha;
mod support;

use std::time::Duration;

use ha::Raw;
use hangar_testenv::openid::{OpenIdProvider, ProtectedServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::peers::free_port;
use support::{HEAD, TestGateway};

const GATEWAY_SECRET: &str = "gateway-secret-3d1f";
/// Lifetime of the upstream's tokens: short, so the test sees them renewed.
const UPSTREAM_TOKEN_TTL: u64 = 4;

fn provider_config() -> Value {
    let client = |id: &str, scope: &str| json!({"client_id": id, "client_secret": format!("{id}-secret"), "scope": scope});
    json!({
        "clients": [
            client("caller-app", "tools.read"),
            client("mallory-app", "tools.read"),
            {"client_id": "hangar-gateway", "client_secret": GATEWAY_SECRET, "scope": "upstream.call"},
        ],
        "resources": [
            {"prefix": "https://gateway.example", "audience": "hangar-gateway", "scope": "tools.read", "ttl": 600},
            {"prefix": "https://upstream.example", "audience": "upstream-api", "scope": "upstream.call", "ttl": UPSTREAM_TOKEN_TTL},
        ],
    })
}

fn config(issuer: &str, upstream: u16) -> String {
    let url = format!("http://127.0.0.1:{upstream}/mcp");
    let grant = |secret_env: &str| {
        format!(
            "{{tokenUrl: \"{issuer}/token\", clientId: hangar-gateway, clientSecretFromEnv: {secret_env}, resource: \"https://upstream.example/mcp\"}}"
        )
    };
    format!(
        r#"{HEAD}gateway: {{name: delegating}}
auth:
  oidc: {{issuer: "{issuer}", audiences: [hangar-gateway], clockSkew: 0s}}
servers:
  - name: exchanged
    transport: streamable-http
    url: "{url}"
    prefix: exchanged_
    auth:
      tokenExchange: {exchange}
      forwardIdentity: {{subjectHeader: X-Hangar-Subject, scopesHeader: X-Hangar-Scopes}}
  - name: own
    transport: streamable-http
    url: "{url}"
    prefix: own_
    auth:
      oauth2ClientCredentials: {own}
  - name: bare
    transport: streamable-http
    url: "{url}"
    prefix: bare_
  - name: misconfigured
    transport: streamable-http
    url: "{url}"
    prefix: misconfigured_
    auth:
      oauth2ClientCredentials: {wrong}
tools:
  - name: exchanged_api
    backend: {{url: "{api}", method: POST}}
    auth:
      tokenExchange: {exchange}
      forwardIdentity: {{subjectHeader: X-Hangar-Subject}}
  - name: own_api
    backend: {{url: "{api}", method: GET}}
    auth:
      oauth2ClientCredentials: {own}
  - name: bare_api
    backend: {{url: "{api}"}}
"#,
        api = format!("http://127.0.0.1:{upstream}/api/whoami"),
        exchange = grant("GATEWAY_SECRET"),
        own = grant("GATEWAY_SECRET"),
        wrong = grant("WRONG_SECRET"),
    )
}

/// A JWT's claims, read without checking anything.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `whoami` through the gateway as `caller`: what the upstream verified.
async fn whoami(caller: &Raw, mcp: &str, tool: &str) -> Value {
    let reply = caller
        .stateless(mcp, "tools/call", json!({"name": tool, "arguments": {}}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_ne!(reply.result()["isError"], true, "{}", reply.text);
    // The SDK sends a dict as JSON text.
    serde_json::from_str(&reply.tool_text()).unwrap_or_else(|e| panic!("{e}: {}", reply.text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstreams_get_tokens_of_their_own_and_exchanged_for_the_caller() {
    let scratch = tempfile::tempdir().unwrap();
    let provider = OpenIdProvider::start(
        free_port(),
        &scratch.path().join("keys.json"),
        false,
        provider_config(),
    )
    .await;
    let issuer = provider.issuer();
    let upstream =
        ProtectedServer::start(free_port(), &issuer, "upstream-api", &["mallory-app"]).await;
    let port = upstream.port;
    let caller_token = provider
        .token(
            "caller-app",
            "caller-app-secret",
            "https://gateway.example/mcp",
            "tools.read",
        )
        .await;
    assert_eq!(claims_of(&caller_token)["aud"], "hangar-gateway");

    // The upstream refuses the caller's own token: it was not issued for it.
    let direct = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .bearer_auth(&caller_token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "direct", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::UNAUTHORIZED);

    let environment = hangar_config::Environment::fixed([
        ("GATEWAY_SECRET", GATEWAY_SECRET),
        ("WRONG_SECRET", "not-the-secret"),
    ]);
    let gw = TestGateway::start_in(&config(&issuer, port), environment).await;
    let mcp = gw.mcp();
    let caller = Raw::with_token(&caller_token);

    // Exchanged: the caller as subject, the upstream as audience, the gateway as actor.
    let first = whoami(&caller, &mcp, "exchanged_whoami").await;
    let claims = &first["claims"];
    assert_eq!(claims["sub"], "caller-app", "{first}");
    assert_eq!(claims["aud"], "upstream-api", "{first}");
    assert_eq!(claims["act"]["sub"], "hangar-gateway", "{first}");
    assert_eq!(first["subject"], "caller-app", "{first}");
    assert_eq!(first["scopes"], "tools.read", "{first}");
    // Its own: the gateway's client as subject, no forwarded identity.
    let own = whoami(&caller, &mcp, "own_whoami").await;
    assert_eq!(own["claims"]["sub"], "hangar-gateway", "{own}");
    assert_eq!(own["claims"]["aud"], "upstream-api", "{own}");
    assert!(own["claims"]["act"].is_null(), "{own}");
    assert!(own["subject"].is_null(), "{own}");

    // Cached while valid: the same tokens again.
    let again = whoami(&caller, &mcp, "exchanged_whoami").await;
    assert_eq!(again["claims"]["jti"], claims["jti"]);
    let own_again = whoami(&caller, &mcp, "own_whoami").await;
    assert_eq!(own_again["claims"]["jti"], own["claims"]["jti"]);
    // Expired: fetched again, and the calls go on working.
    tokio::time::sleep(Duration::from_secs(UPSTREAM_TOKEN_TTL) + Duration::from_millis(500)).await;
    let renewed = whoami(&caller, &mcp, "exchanged_whoami").await;
    assert_ne!(renewed["claims"]["jti"], claims["jti"], "{renewed}");
    assert_eq!(renewed["claims"]["sub"], "caller-app");
    let own_renewed = whoami(&caller, &mcp, "own_whoami").await;
    assert_ne!(own_renewed["claims"]["jti"], own["claims"]["jti"]);

    // The upstream refuses this caller: its 401 reads as a tool error that
    // names the server, its metadata and its authorization server.
    let mallory_token = provider
        .token(
            "mallory-app",
            "mallory-app-secret",
            "https://gateway.example/mcp",
            "tools.read",
        )
        .await;
    let refused = Raw::with_token(&mallory_token)
        .stateless(
            &mcp,
            "tools/call",
            json!({"name": "exchanged_whoami", "arguments": {}}),
        )
        .await;
    assert_eq!(refused.result()["isError"], true, "{}", refused.text);
    let words = refused.tool_text();
    for expected in [
        "MCP server exchanged refused the gateway's request (HTTP 401: invalid_token",
        &format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"),
        &format!("naming the authorization server(s) {issuer}"),
        "spec.auth",
    ] {
        assert!(words.contains(expected), "missing `{expected}` in: {words}");
    }
    assert!(!words.contains(&mallory_token));

    // Declared tools get the same credentials from their own `auth`.
    let api = whoami(&caller, &mcp, "exchanged_api").await;
    assert_eq!(api["claims"]["sub"], "caller-app", "{api}");
    assert_eq!(api["claims"]["aud"], "upstream-api", "{api}");
    assert_eq!(api["claims"]["act"]["sub"], "hangar-gateway", "{api}");
    assert_eq!(api["subject"], "caller-app", "{api}");
    let own_api = whoami(&caller, &mcp, "own_api").await;
    assert_eq!(own_api["claims"]["sub"], "hangar-gateway", "{own_api}");
    assert!(own_api["subject"].is_null(), "{own_api}");
    assert_eq!(
        whoami(&caller, &mcp, "own_api").await["claims"]["jti"],
        own_api["claims"]["jti"],
        "the tool's own token is cached"
    );
    // A backend's refusal names the tool, its metadata and its authorization server.
    for (token, tool) in [
        (&caller_token, "bare_api"),
        (&mallory_token, "exchanged_api"),
    ] {
        let refused = Raw::with_token(token)
            .stateless(&mcp, "tools/call", json!({"name": tool, "arguments": {}}))
            .await;
        assert_eq!(refused.result()["isError"], true, "{}", refused.text);
        let words = refused.tool_text();
        for expected in [
            format!(
                "the backend of tool {tool} refused the gateway's request (HTTP 401: invalid_token, no token for this audience)"
            ),
            format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"),
            format!("naming the authorization server(s) {issuer}"),
            "the MCPTool spec.auth".to_string(),
        ] {
            assert!(
                words.contains(&expected),
                "missing `{expected}` in: {words}"
            );
        }
    }

    // Servers the gateway cannot authenticate to say why, in readiness.
    let (_, detail) = gw.gateway.readiness();
    let detail = detail.to_string();
    for expected in [
        "MCP server bare refused the gateway's request (HTTP 401",
        "refused the client credentials request (HTTP 401: invalid_client",
    ] {
        assert!(
            detail.contains(expected),
            "missing `{expected}` in {detail}"
        );
    }
    assert!(!detail.contains("not-the-secret") && !detail.contains(GATEWAY_SECRET));
}
