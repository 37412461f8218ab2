//! An MCPGateway's `redis`, `rateLimit` and `auth` reach its pods
//! declaratively: the ConfigMap holds the gateway config with those sections
//! and names the secrets only by environment variable, and the Deployment
//! fills those variables from the Secrets. Pure builders, no API server.

use hangar_api::MCPGateway;
use hangar_compile::{Candidates, Target, compile, secret_env_name};
use hangar_config::{GatewayConfig, REDIS_URL_ENV};
use hangar_operator::gateway::build::{CONFIG_KEY, build};
use hangar_operator::server::build::BuildSettings;
use k8s_openapi::api::core::v1::EnvVar;

fn gateway() -> MCPGateway {
    serde_saphyr::from_str(
        r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: edge, namespace: team}
spec:
  replicas: 3
  redis: {urlFrom: {name: shared-redis, key: url}, mode: Cluster}
  rateLimit:
    perClient: {requests: 600, period: 1m}
    tools: {search: {requests: 5, period: 1m}}
  auth:
    bearerTokens: {secretRef: {name: edge-tokens, key: tokens}}
    oidc: {issuer: "https://id.example.com/realms/team", audiences: [mcp]}
    authorization:
      default: Deny
      rules: [{groups: [developers], tools: ["github_*"]}]
"#,
    )
    .unwrap()
}

fn env<'a>(env: &'a [EnvVar], name: &str) -> &'a EnvVar {
    env.iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} in {env:?}"))
}

#[test]
fn redis_rate_limits_and_auth_reach_the_pods_without_secrets_in_the_config_map() {
    let gateway = gateway();
    let compiled = compile(
        &Candidates::default().select(Some(&gateway)),
        Target::Cluster { namespace: "team" },
    );
    let objects = build(&gateway, &compiled, &BuildSettings::default());

    let data = objects.config_map.unwrap().data.unwrap();
    let config = GatewayConfig::parse(&data[CONFIG_KEY], "the ConfigMap")
        .unwrap()
        .into_inner();
    let redis = config.redis.unwrap();
    assert_eq!(redis.url_from_env.as_deref(), Some(REDIS_URL_ENV));
    assert_eq!(redis.key_prefix, "hangar:team/edge:");
    let limits = config.rate_limit.unwrap();
    assert_eq!(limits.for_tool("search").unwrap().requests, 5);
    assert_eq!(limits.per_client.unwrap().requests, 600);
    let auth = config.auth.unwrap();
    let tokens_env = secret_env_name("edge-tokens", "tokens");
    assert_eq!(auth.bearer_tokens.unwrap().value_from_env, tokens_env);
    assert_eq!(
        auth.oidc.unwrap().issuer,
        "https://id.example.com/realms/team"
    );
    assert_eq!(auth.authorization.unwrap().rules[0].tools, ["github_*"]);

    let deployment = objects.deployment.unwrap();
    let container = &deployment.spec.unwrap().template.spec.unwrap().containers[0];
    let vars = container.env.as_ref().unwrap();
    let tokens = env(vars, &tokens_env).value_from.as_ref().unwrap();
    let tokens = tokens.secret_key_ref.as_ref().unwrap();
    assert_eq!(
        (tokens.name.as_str(), tokens.key.as_str()),
        ("edge-tokens", "tokens")
    );
    let url = env(vars, REDIS_URL_ENV).value_from.as_ref().unwrap();
    let url = url.secret_key_ref.as_ref().unwrap();
    assert_eq!(
        (url.name.as_str(), url.key.as_str()),
        ("shared-redis", "url")
    );
    assert!(
        vars.iter()
            .all(|v| v.value.as_deref().is_none_or(|v| !v.contains("redis://"))),
        "{vars:?}"
    );
}
