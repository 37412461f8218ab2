//! What a gateway's pods may do and what reaches them: an MCPGateway's
//! `redis`, `rateLimit` and `auth` reach its pods declaratively (the ConfigMap
//! names secrets only by environment variable, the Deployment fills those
//! variables from the Secrets; pure builders), and under the real API
//! server's RBAC authorizer a gateway's token renews its own activity Leases
//! and reads the servers it wakes, but cannot change any MCPServer.

mod operator_support;

use hangar_api::{MCPGateway, MCPServer};
use hangar_compile::{Candidates, SecretDestinations, Target, compile, secret_env_name};
use hangar_config::{GatewayConfig, REDIS_URL_ENV};
use hangar_operator::gateway::build::{CONFIG_KEY, build};
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, server};
use hangar_testenv::Identity;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{EnvVar, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::Role;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operator_support::{context, create, eventually, from_yaml, namespace};
use serde_json::json;

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
        Target::Cluster {
            namespace: "team",
            secrets: &SecretDestinations::Unchecked,
        },
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

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what} should be forbidden to the gateway, got {other:?}"),
    }
}

#[tokio::test]
async fn a_gateways_token_renews_its_leases_and_cannot_change_any_mcpserver() {
    let (admin, ns) = namespace(&[]).await;
    let (ctx, _) = context(&admin);
    for run in [true, false] {
        let (ctx, watched) = (ctx.clone(), ns.clone());
        tokio::spawn(async move {
            if run {
                gateway::run(ctx, Some(&watched), std::future::pending()).await
            } else {
                server::run(ctx, Some(&watched), std::future::pending()).await
            }
        });
    }
    for yaml in [
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: cold, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/cold, replicas: 0, idleTTL: 10m}",
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: warm, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/warm}",
    ] {
        create::<MCPServer>(&admin, &ns, yaml).await;
    }
    for name in ["edge", "other"] {
        create::<MCPGateway>(
            &admin,
            &ns,
            &format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {{name: {name}}}\nspec: {{replicas: 1, serverSelector: {{matchLabels: {{serve: 'yes'}}}}}}"),
        )
        .await;
    }
    let admin_leases: Api<Lease> = Api::namespaced(admin.clone(), &ns);
    for lease in ["cold.edge.activity", "cold.other.activity"] {
        eventually(&format!("the activity Lease {lease}"), || async {
            admin_leases.get_opt(lease).await.unwrap()
        })
        .await;
    }
    let roles: Api<Role> = Api::namespaced(admin.clone(), &ns);
    eventually("the gateway's Role", || async {
        roles.get_opt("edge").await.unwrap()
    })
    .await;

    // The gateway pod's identity; the API server's RBAC authorizer decides.
    let plane = hangar_testenv::shared().await;
    let token = plane.client_as(&Identity::service_account(&ns, "edge"));
    let leases: Api<Lease> = Api::namespaced(token.clone(), &ns);
    let servers: Api<MCPServer> = Api::namespaced(token.clone(), &ns);
    eventually("the gateway's RoleBinding to take effect", || async {
        leases.get("cold.edge.activity").await.ok()
    })
    .await;

    // What it needs: renew its own Lease of the cold server, read that server.
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let renewed = json!({"spec": {"holderIdentity": "edge-0", "renewTime": now}});
    leases
        .patch(
            "cold.edge.activity",
            &PatchParams::default(),
            &Patch::Merge(&renewed),
        )
        .await
        .expect("renewing its own Lease");
    servers
        .get("cold")
        .await
        .expect("reading the server it wakes");

    // What it cannot: change the MCPServer in any way, or anything else.
    let spec = json!({"spec": {"image": "ghcr.io/evil/image"}});
    assert_forbidden(
        servers
            .patch("cold", &PatchParams::default(), &Patch::Merge(&spec))
            .await,
        "patching the spec of the server it wakes",
    );
    let annotation = json!({"metadata": {"annotations": {"x": "y"}}});
    assert_forbidden(
        servers
            .patch("cold", &PatchParams::default(), &Patch::Merge(&annotation))
            .await,
        "patching the metadata of the server it wakes",
    );
    assert_forbidden(
        servers
            .patch_status(
                "cold",
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"state": "Ready"}})),
            )
            .await,
        "patching the status of the server it wakes",
    );
    let mut replaced: MCPServer = admin_servers(&admin, &ns).get("cold").await.unwrap();
    replaced.spec.image = Some("ghcr.io/evil/image".into());
    assert_forbidden(
        servers
            .replace("cold", &PostParams::default(), &replaced)
            .await,
        "replacing the server it wakes",
    );
    assert_forbidden(
        servers.delete("cold", &DeleteParams::default()).await,
        "deleting the server it wakes",
    );
    assert_forbidden(
        servers.get("warm").await,
        "reading a server it does not wake",
    );
    assert_forbidden(
        servers
            .patch("warm", &PatchParams::default(), &Patch::Merge(&spec))
            .await,
        "patching a server it does not wake",
    );
    assert_forbidden(
        servers.list(&ListParams::default()).await,
        "listing MCPServers",
    );
    assert_forbidden(
        leases
            .patch(
                "cold.other.activity",
                &PatchParams::default(),
                &Patch::Merge(&renewed),
            )
            .await,
        "renewing another gateway's Lease",
    );
    assert_forbidden(leases.list(&ListParams::default()).await, "listing Leases");
    let forged: Lease = from_yaml(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: forged}\nspec: {}",
    );
    assert_forbidden(
        leases.create(&PostParams::default(), &forged).await,
        "creating a Lease",
    );

    // Its renewal is what the operator reads: the cold server wakes.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    eventually("the renewed Lease to scale the server to 1", || async {
        (deployments.get_opt("cold").await.unwrap()?.spec?.replicas? == 1).then_some(())
    })
    .await;
    let spec_after = admin_servers(&admin, &ns).get("cold").await.unwrap().spec;
    assert_eq!(spec_after.image.as_deref(), Some("ghcr.io/acme/cold"));
    assert_eq!(spec_after.replicas, 0, "waking never touches the spec");
}

/// A gateway's pods always run as its own account, so selecting a server
/// with replicas: 0 changes only its Role (and the config, reloaded in
/// place): the Deployment's pod template and generation stay, no pod is
/// replaced. Until then the account's Role grants nothing.
#[tokio::test]
async fn selecting_a_cold_server_grants_rights_without_changing_the_pods() {
    let (admin, ns) = namespace(&[]).await;
    let (ctx, _) = context(&admin);
    let watched = ns.clone();
    tokio::spawn(async move { gateway::run(ctx, Some(&watched), std::future::pending()).await });
    create::<MCPServer>(
        &admin,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: warm, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/warm}",
    )
    .await;
    create::<MCPGateway>(
        &admin,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge}\nspec: {replicas: 1, serverSelector: {matchLabels: {serve: 'yes'}}}",
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let roles: Api<Role> = Api::namespaced(admin.clone(), &ns);
    let before = eventually("the gateway's Deployment", || async {
        deployments.get_opt("edge").await.unwrap()
    })
    .await;
    let role = eventually("the gateway's Role", || async {
        roles.get_opt("edge").await.unwrap()
    })
    .await;
    assert_eq!(
        role.rules.unwrap_or_default(),
        [],
        "nothing to wake, nothing granted"
    );
    let pod = before.spec.clone().unwrap().template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("edge"));
    assert_eq!(pod.automount_service_account_token, Some(true));

    let plane = hangar_testenv::shared().await;
    let token = plane.client_as(&Identity::service_account(&ns, "edge"));
    let servers: Api<MCPServer> = Api::namespaced(token.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(token, &ns);
    assert_forbidden(
        servers.get("warm").await,
        "reading a server it does not wake",
    );
    assert_forbidden(leases.list(&ListParams::default()).await, "listing Leases");

    create::<MCPServer>(
        &admin,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: cold, labels: {serve: 'yes'}}\nspec: {image: ghcr.io/acme/cold, replicas: 0}",
    )
    .await;
    eventually("the Role to grant waking cold", || async {
        let rules = roles.get("edge").await.unwrap().rules.unwrap_or_default();
        (!rules.is_empty()).then_some(())
    })
    .await;
    eventually("the gateway's token to read cold's Lease", || async {
        leases.get("cold.edge.activity").await.ok()
    })
    .await;
    servers
        .get("cold")
        .await
        .expect("reading the server it wakes");
    // Status is written after every object was applied, the Deployment included.
    let gateways: Api<MCPGateway> = Api::namespaced(admin.clone(), &ns);
    eventually("the gateway's status to count both servers", || async {
        let status = gateways.get("edge").await.unwrap().status?;
        (status.servers == 2).then_some(())
    })
    .await;
    let after = deployments.get("edge").await.unwrap();
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "the Deployment was changed"
    );
    assert_eq!(
        after.spec.unwrap().template,
        before.spec.unwrap().template,
        "the pod template changed: its pods would be replaced"
    );
}

fn admin_servers(admin: &kube::Client, ns: &str) -> Api<MCPServer> {
    Api::namespaced(admin.clone(), ns)
}

#[tokio::test]
async fn a_managed_redis_gets_a_generated_password_once_and_never_a_foreign_one() {
    let (admin, ns) = namespace(&[]).await;
    let (ctx, _) = context(&admin);
    let watched = ns.clone();
    tokio::spawn(async move { gateway::run(ctx, Some(&watched), std::future::pending()).await });
    // Someone else's Secret under the name the second gateway's Redis would use.
    create::<Secret>(
        &admin,
        &ns,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: other-redis}\nstringData: {password: known-to-an-attacker}",
    )
    .await;
    for name in ["edge", "other"] {
        create::<MCPGateway>(
            &admin,
            &ns,
            &format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {{name: {name}}}\nspec: {{replicas: 2, redis: {{managed: true}}}}"),
        )
        .await;
    }
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let secret = eventually("the generated Secret", || async {
        secrets.get_opt("edge-redis").await.unwrap()
    })
    .await;
    let data = secret.data.clone().unwrap();
    let password = String::from_utf8(data["password"].0.clone()).unwrap();
    assert_eq!(password.len(), 64);
    assert!(
        password.chars().all(|c| c.is_ascii_hexdigit()),
        "{password}"
    );
    assert_eq!(
        String::from_utf8(data["redis.conf"].0.clone()).unwrap(),
        format!("requirepass {password}\n")
    );
    let gateways: Api<MCPGateway> = Api::namespaced(admin.clone(), &ns);
    let edge = gateways.get("edge").await.unwrap();
    let owner = &secret.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (edge.metadata.uid.as_deref().unwrap(), Some(true))
    );

    // Redis reads it from a file; the gateway authenticates with its key.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let redis = eventually("the Redis Deployment", || async {
        deployments.get_opt("edge-redis").await.unwrap()
    })
    .await;
    let pod = redis.spec.unwrap().template.spec.unwrap();
    let args = pod.containers[0].args.clone().unwrap();
    assert!(
        args.windows(2).any(|w| w == ["--protected-mode", "yes"]),
        "{args:?}"
    );
    assert!(!args.iter().any(|a| a.contains(&password)));
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.secret.is_some())
        .unwrap();
    assert_eq!(
        volume.secret.unwrap().secret_name.as_deref(),
        Some("edge-redis")
    );
    let gateway_pod = eventually("the gateway Deployment", || async {
        deployments.get_opt("edge").await.unwrap()
    })
    .await
    .spec
    .unwrap()
    .template
    .spec
    .unwrap();
    let env = gateway_pod.containers[0].env.clone().unwrap();
    let from = env
        .iter()
        .find_map(|e| e.value_from.as_ref()?.secret_key_ref.clone())
        .unwrap();
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("edge-redis", "password")
    );

    // Later reconciles keep the password.
    gateways
        .patch(
            "edge",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    eventually("the gateway to scale to 3", || async {
        (deployments.get_opt("edge").await.unwrap()?.spec?.replicas? == 3).then_some(())
    })
    .await;
    let again = secrets.get("edge-redis").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        secret.metadata.resource_version
    );

    // A Secret it does not control is not trusted as a password: no Redis runs.
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let refused = eventually("the foreign Secret to be refused", || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("SecretNameTaken"))
    })
    .await;
    assert!(refused.note.unwrap_or_default().contains("other-redis"));
    assert!(deployments.get_opt("other-redis").await.unwrap().is_none());
    let untouched = secrets.get("other-redis").await.unwrap();
    assert!(untouched.metadata.owner_references.is_none());
}
