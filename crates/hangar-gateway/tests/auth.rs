//! Inbound authentication and per-tool authorization, against an OIDC issuer
//! stood up by the test (keys generated here, discovery document and JWKS
//! served locally): the 401 challenge and the RFC 9728 metadata it points
//! to, valid and invalid tokens, static bearer tokens, what each caller sees
//! and may call, sessions bound to their caller, the official Python SDK
//! with a token, and the caller's token never reaching upstreams. Then the
//! same against a certified OpenID Provider we did not write (`oidc-provider`):
//! its discovery and JWKS, the tokens it mints, its key rotation, and the
//! Python SDK's own OAuth flow from the gateway's metadata to a token.

mod ha;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::routing::get;
use base64::Engine;
use ha::Raw;
use hangar_testenv::openid::OpenIdProvider;
use hangar_testenv::tools::{Tool, locate};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{HEAD, TestGateway, serve};

const AUDIENCE: &str = "hangar-test";
const UPSTREAM_AUTHORIZATION: &str = "Bearer upstream-secret-7f3a";

/// An ES256 signing key and its public JWK.
struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    jwk: Value,
}

impl Key {
    fn generate(kid: &str) -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap()
                .as_ref()
                .to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        // An uncompressed P-256 point: 0x04, x, y.
        let point = pair.public_key().as_ref();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        });
        Key {
            kid: kid.into(),
            pkcs8,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .unwrap()
    }
}

/// An OIDC issuer: discovery document and JWKS, counting JWKS fetches.
struct Issuer {
    served: support::Served,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: Vec<Value>) -> Issuer {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let base = Arc::new(Mutex::new(String::new()));
        let router = {
            let (keys, fetches, base) = (keys.clone(), fetches.clone(), base.clone());
            Router::new()
                .route(
                    "/.well-known/openid-configuration",
                    get(move || {
                        let base = base.lock().unwrap().clone();
                        async move {
                            axum::Json(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}))
                        }
                    }),
                )
                .route(
                    "/jwks",
                    get(move || {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let keys = keys.lock().unwrap().clone();
                        async move { axum::Json(json!({"keys": keys})) }
                    }),
                )
        };
        let served = serve(router).await;
        *base.lock().unwrap() = served.url("");
        Issuer {
            served,
            keys,
            fetches,
        }
    }

    fn url(&self) -> String {
        self.served.url("")
    }

    fn claims(&self, subject: &str, extra: Value) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut claims = json!({
            "iss": self.url(), "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 600,
        });
        for (key, value) in extra.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    }
}

fn names(reply: &ha::Reply) -> Vec<String> {
    reply.result()["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("a tools list: {}", reply.text))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn refused_because(reply: &ha::Reply, words: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let challenge = reply.header("www-authenticate").expect("a challenge");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\"") && challenge.contains(words),
        "expected `{words}` in {challenge}"
    );
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_may_call_and_what_they_see() {
    let environment = hangar_config::Environment::fixed([
        (
            "HANGAR_TEST_BEARER_TOKENS",
            "# static tokens\nstatic-robot-token robot\nstatic-bob-token bob readers\n",
        ),
        ("HANGAR_TEST_UPSTREAM_AUTH", UPSTREAM_AUTHORIZATION),
    ]);
    let signing = Key::generate("k1");
    let issuer = Issuer::start(vec![signing.jwk.clone()]).await;
    let (upstream, upstream_state) = ha::upstream::start().await;
    let config = format!(
        r#"{HEAD}gateway: {{name: secure}}
auth:
  bearerTokens: {{valueFromEnv: HANGAR_TEST_BEARER_TOKENS}}
  oidc: {{issuer: "{issuer}", audiences: [{AUDIENCE}], clockSkew: 30s}}
  authorization:
    default: Deny
    rules:
      - {{groups: [admins], tools: ["*"]}}
      - {{scopes: [tools.read], groups: [readers], tools: [up_echo, "up_t*"]}}
      - {{subjects: [robot], tools: [up_echo]}}
servers:
  - name: up
    transport: streamable-http
    url: "{upstream}"
    headers: [{{name: Authorization, valueFromEnv: HANGAR_TEST_UPSTREAM_AUTH}}]
"#,
        issuer = issuer.url(),
        upstream = upstream.url("/mcp"),
    );
    let gw = TestGateway::start_in(&config, environment.clone()).await;
    let mcp = gw.mcp();
    let port = gw.served.addr.port();

    // No token: 401 with the metadata URL, and the metadata document is right.
    let anonymous = Raw::new();
    let reply = anonymous.stateless(&mcp, "tools/list", json!({})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(format!("Bearer resource_metadata=\"{metadata_url}\"").as_str())
    );
    assert_eq!(
        anonymous.try_initialize(&mcp).await.status,
        StatusCode::UNAUTHORIZED
    );
    let metadata = reqwest::get(&metadata_url).await.unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);
    let metadata: Value = metadata.json().await.unwrap();
    assert_eq!(
        metadata,
        json!({
            "resource": format!("http://127.0.0.1:{port}/mcp"),
            "resource_name": "secure",
            "authorization_servers": [issuer.url()],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["tools.read"],
        })
    );

    // Valid tokens: each caller sees and calls what the rules grant it.
    let admin =
        Raw::with_token(&signing.sign(&issuer.claims("ada", json!({"groups": ["admins"]}))));
    let reader = Raw::with_token(
        &signing.sign(&issuer.claims("rita", json!({"scope": "openid tools.read"}))),
    );
    let stranger = Raw::with_token(&signing.sign(&issuer.claims("eve", json!({}))));
    let all_tools = names(&admin.stateless(&mcp, "tools/list", json!({})).await);
    assert_eq!(
        all_tools,
        ["up_tick", "up_echo", "up_grow", "up_admin_reset"]
    );
    assert_eq!(
        names(&reader.stateless(&mcp, "tools/list", json!({})).await),
        ["up_tick", "up_echo"],
        "what a caller may not call is hidden from its list"
    );
    assert!(names(&stranger.stateless(&mcp, "tools/list", json!({})).await).is_empty());
    let call = |tool: &str| json!({"name": tool, "arguments": {"text": "hi"}});
    assert_eq!(
        reader
            .stateless(&mcp, "tools/call", call("up_echo"))
            .await
            .tool_text(),
        "hi"
    );
    let denied = reader
        .stateless(&mcp, "tools/call", call("up_admin_reset"))
        .await;
    assert_eq!(denied.error()["code"], -32602, "{}", denied.text);
    assert_eq!(
        denied.error()["message"],
        "tool `up_admin_reset` is not available to `rita`: no authorization rule of this gateway grants it"
    );
    assert_eq!(
        admin
            .stateless(&mcp, "tools/call", call("up_admin_reset"))
            .await
            .tool_text(),
        "reset"
    );

    // clockSkew (30s) tolerates clocks that differ a little.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let just_expired =
        signing.sign(&issuer.claims("ada", json!({"exp": now - 10, "iat": now - 70})));
    let reply = Raw::with_token(&just_expired)
        .stateless(&mcp, "tools/list", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let too_early = signing.sign(&issuer.claims("ada", json!({"nbf": now + 300})));
    let reply = Raw::with_token(&too_early)
        .stateless(&mcp, "tools/list", json!({}))
        .await;
    refused_because(&reply, "not valid yet");

    // Invalid tokens are refused, each with its reason.
    let wrong_audience = signing.sign(&issuer.claims("ada", json!({"aud": "someone-else"})));
    let past = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let expired = signing.sign(&issuer.claims("ada", json!({"exp": past, "iat": past - 60})));
    // Another key under the issuer's key id.
    let forged = Key::generate("k1").sign(&issuer.claims("ada", json!({"groups": ["admins"]})));
    let other_issuer = signing.sign(&issuer.claims("ada", json!({"iss": "https://evil.example"})));
    let shared_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &issuer.claims("ada", json!({})),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    for (token, why) in [
        (wrong_audience.as_str(), "another audience"),
        (expired.as_str(), "expired"),
        (forged.as_str(), "signature does not verify"),
        (other_issuer.as_str(), "not issued by"),
        (shared_secret.as_str(), "shared secret"),
        (
            "not-a-token-at-all",
            "neither one of the gateway's bearer tokens nor a JWT",
        ),
    ] {
        let reply = Raw::with_token(token)
            .stateless(&mcp, "tools/list", json!({}))
            .await;
        refused_because(&reply, why);
    }

    // Static bearer tokens from the Secret, with their subjects and groups.
    let robot = Raw::with_token("static-robot-token");
    assert_eq!(
        names(&robot.stateless(&mcp, "tools/list", json!({})).await),
        ["up_echo"]
    );
    let bob = Raw::with_token("static-bob-token");
    assert_eq!(
        names(&bob.stateless(&mcp, "tools/list", json!({})).await),
        ["up_tick", "up_echo"]
    );

    // The JWKS was fetched once and cached; a rotated-in key is fetched when a token names it.
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    let rotated = Key::generate("k2");
    issuer.keys.lock().unwrap().push(rotated.jwk.clone());
    let after_rotation =
        Raw::with_token(&rotated.sign(&issuer.claims("ada", json!({"groups": ["admins"]}))));
    assert_eq!(
        names(
            &after_rotation
                .stateless(&mcp, "tools/list", json!({}))
                .await
        )
        .len(),
        4
    );
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);

    // A session belongs to the caller that began it.
    let session = reader.initialize(&mcp).await;
    let listed = reader
        .call(&mcp, &session, 1, "tools/list", json!({}))
        .await;
    assert_eq!(names(&listed), ["up_tick", "up_echo"]);
    let hidden = reader
        .call(&mcp, &session, 2, "tools/call", call("up_grow"))
        .await;
    assert_eq!(hidden.error()["code"], -32602, "{}", hidden.text);
    let hijack = admin.call(&mcp, &session, 3, "tools/list", json!({})).await;
    assert_eq!(hijack.status, StatusCode::FORBIDDEN, "{}", hijack.text);

    // The official Python SDK connects with a token, in both eras.
    for mode in ["legacy", "auto"] {
        let output = tokio::process::Command::new(locate(Tool::Python))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/clients/python_token_client.py"
            ))
            .args([mcp.as_str(), mode, "up_echo", "up_admin_reset"])
            .env(
                "MCP_TOKEN",
                signing.sign(&issuer.claims("rita", json!({"scope": "tools.read"}))),
            )
            .output()
            .await
            .expect("run the Python SDK client");
        assert!(
            output.status.success(),
            "python ({mode}): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            result["tools"],
            json!(["up_tick", "up_echo"]),
            "{mode}: {result}"
        );
        assert_eq!(result["allowed"], "hello from python", "{mode}: {result}");
        assert_eq!(result["forbidden"]["code"], -32602, "{mode}: {result}");
        let expected_version = if mode == "legacy" {
            "2025-11-25"
        } else {
            "2026-07-28"
        };
        assert_eq!(
            result["protocolVersion"], expected_version,
            "{mode}: {result}"
        );
    }

    // With Redis, a session stays its caller's on every replica.
    let redis = hangar_testenv::redis::RedisServer::start();
    let shared = config.replace(
        "gateway: {name: secure}\n",
        &format!(
            "gateway: {{name: secure}}\nredis: {{url: \"{}\"}}\n",
            redis.url()
        ),
    );
    let (one, two) = (
        TestGateway::start_in(&shared, environment.clone()).await,
        TestGateway::start_in(&shared, environment).await,
    );
    for replica in [&one, &two] {
        let link = replica.gateway.shared().link.clone().unwrap();
        support::eventually(
            "the replica to reach Redis",
            std::time::Duration::from_secs(30),
            || link.is_up(),
        )
        .await;
    }
    let session = reader.initialize(&one.mcp()).await;
    let elsewhere = reader
        .call(&two.mcp(), &session, 1, "tools/list", json!({}))
        .await;
    assert_eq!(names(&elsewhere), ["up_tick", "up_echo"]);
    let hijack = admin
        .call(&two.mcp(), &session, 2, "tools/list", json!({}))
        .await;
    assert_eq!(hijack.status, StatusCode::FORBIDDEN, "{}", hijack.text);

    // Upstreams only ever saw the gateway's own credentials.
    let seen = upstream_state.authorization.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|value| value == UPSTREAM_AUTHORIZATION),
        "a caller's token reached the upstream: {seen:?}"
    );
}

/// Without an `auth` section the gateway asks for nothing and has no metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_gateway_has_no_protected_resource_metadata() {
    let (upstream, _) = ha::upstream::start().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: up, transport: streamable-http, url: \"{}\"}}\n",
        upstream.url("/mcp")
    ))
    .await;
    let reply = Raw::new()
        .stateless(&gw.mcp(), "tools/list", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(names(&reply).len(), 4);
    let metadata = reqwest::get(gw.served.url("/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    assert_eq!(metadata.status(), StatusCode::NOT_FOUND);
}

/// The client the provider knows, allowed the scope the gateway's rules grant.
const CLIENT_ID: &str = "hangar-agent";
const CLIENT_SECRET: &str = "agent-secret-51c2";

/// The provider's clients and resource servers for these tests.
fn provider_config() -> Value {
    let resource = |prefix: &str, audience: &str, ttl: u64| json!({"prefix": prefix, "audience": audience, "scope": "tools.read", "ttl": ttl});
    json!({
        "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": "tools.read"}],
        "resources": [
            resource("http://127.0.0.1:", AUDIENCE, 600),
            resource("https://expiring.example", AUDIENCE, 3),
            resource("https://other.example", "another-service", 600),
        ],
    })
}

async fn agent_token(provider: &OpenIdProvider, resource: &str) -> String {
    provider
        .token(CLIENT_ID, CLIENT_SECRET, resource, "tools.read")
        .await
}

/// A JWT's claims, read without checking anything.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_certified_openid_provider_are_checked_as_it_publishes_them() {
    let scratch = tempfile::tempdir().unwrap();
    let keys = scratch.path().join("keys.json");
    let provider = OpenIdProvider::start(
        hangar_testenv::redis::free_port(),
        &keys,
        false,
        provider_config(),
    )
    .await;
    let (upstream, _) = ha::upstream::start().await;
    // The issuer alone: the gateway finds the JWKS by discovery.
    let gw = TestGateway::start(&format!(
        r#"{HEAD}gateway: {{name: secure}}
auth:
  oidc: {{issuer: "{issuer}", audiences: [{AUDIENCE}], clockSkew: 0s}}
  authorization:
    default: Deny
    rules:
      - {{scopes: [tools.read], tools: [up_echo]}}
servers:
  - {{name: up, transport: streamable-http, url: "{upstream}"}}
"#,
        issuer = provider.issuer(),
        upstream = upstream.url("/mcp"),
    ))
    .await;
    let mcp = gw.mcp();
    let list = |token: String| {
        let mcp = mcp.clone();
        async move {
            Raw::with_token(&token)
                .stateless(&mcp, "tools/list", json!({}))
                .await
        }
    };

    // A token the provider minted for this gateway is taken, with its scope.
    let token = agent_token(&provider, &mcp).await;
    assert_eq!(claims_of(&token)["aud"], AUDIENCE);
    assert_eq!(names(&list(token.clone()).await), ["up_echo"]);
    let call = Raw::with_token(&token)
        .stateless(
            &mcp,
            "tools/call",
            json!({"name": "up_echo", "arguments": {"text": "minted"}}),
        )
        .await;
    assert_eq!(call.tool_text(), "minted");

    // One minted for another service is not.
    let elsewhere = agent_token(&provider, "https://other.example/mcp").await;
    refused_because(&list(elsewhere).await, "another audience");

    // A short-lived one works until the expiry the provider wrote into it.
    let short = agent_token(&provider, "https://expiring.example/mcp").await;
    let expiry = claims_of(&short)["exp"].as_u64().unwrap();
    let reply = list(short.clone()).await;
    if unix_now() < expiry {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    while unix_now() <= expiry {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    refused_because(&list(short).await, "expired");

    // The provider rotates its signing key: tokens of the new key are taken
    // (the gateway fetches the keys again for a key id it does not know),
    // and so are those of the old one, which it still publishes.
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let provider = provider.rotate().await;
    let rotated = agent_token(&provider, &mcp).await;
    assert_ne!(kid(&rotated), kid(&token));
    assert_eq!(names(&list(rotated).await), ["up_echo"]);
    assert_eq!(names(&list(token).await), ["up_echo"]);

    // The Python SDK's own OAuth flow, in both eras: a 401, the gateway's
    // metadata (RFC 9728), the provider's metadata, a client credentials
    // token for the gateway as resource, then the calls.
    for mode in ["legacy", "auto"] {
        let output = tokio::process::Command::new(locate(Tool::Python))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/clients/python_token_client.py"
            ))
            .args([mcp.as_str(), mode, "up_echo", "up_admin_reset"])
            .env("MCP_ISSUER", provider.issuer())
            .env("MCP_CLIENT_ID", CLIENT_ID)
            .env("MCP_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .await
            .expect("run the Python SDK client");
        assert!(
            output.status.success(),
            "python ({mode}): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(result["tools"], json!(["up_echo"]), "{mode}: {result}");
        assert_eq!(result["allowed"], "hello from python", "{mode}: {result}");
        assert_eq!(result["forbidden"]["code"], -32602, "{mode}: {result}");
    }
}
