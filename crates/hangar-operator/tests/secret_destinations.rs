//! A Secret's values go only where the Secret's owner allows
//! (`mcp-hangar.io/allowed-destinations`): against a real kube-apiserver, an
//! MCPServer's health check, an MCPRegistry sync and an MCPGateway's config
//! send a header from a Secret to a local recording endpoint only once the
//! Secret lists it, and a redirect cannot carry the header elsewhere.

mod operator_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hangar_api::{ALLOWED_DESTINATIONS_ANNOTATION, MCPGateway, MCPRegistry, MCPServer};
use hangar_compile::secret_env_name;
use hangar_operator::{gateway, registry, server};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use operator_support::{context, create, eventually, namespace};
use serde_json::json;

const TOKEN: &str = "Bearer s3cret-token";

/// One request a local endpoint received.
type Received = (String, Option<String>);

/// Every request a local endpoint received: path and Authorization header.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Received>>>);

impl Seen {
    fn with_token(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, auth)| auth.as_deref() == Some(TOKEN))
            .map(|(path, _)| path.clone())
            .collect()
    }
}

/// A local endpoint that records what arrives and answers with `answer`.
async fn endpoint(answer: fn(&str) -> Response) -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .fallback(
            move |State(seen): State<Seen>, request: Request| async move {
                let path = request.uri().path().to_string();
                let auth = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string());
                seen.0.lock().unwrap().push((path.clone(), auth));
                answer(&path)
            },
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), seen)
}

fn not_found(_: &str) -> Response {
    StatusCode::NOT_FOUND.into_response()
}

async fn allow(client: &Client, ns: &str, destinations: &str) {
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            "token",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ALLOWED_DESTINATIONS_ANNOTATION: destinations}}})),
        )
        .await
        .unwrap();
}

/// A change that makes the controller look again at once (Secrets are not watched).
async fn touch<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    static TOUCHES: AtomicUsize = AtomicUsize::new(0);
    let touch = TOUCHES.fetch_add(1, Ordering::Relaxed).to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"touched": touch}}})),
    )
    .await
    .unwrap();
}

async fn condition(api: &Api<MCPServer>, name: &str, type_: &str) -> Option<hangar_api::Condition> {
    api.get(name)
        .await
        .ok()?
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
}

#[tokio::test]
async fn a_health_check_sends_a_secret_header_only_where_the_secret_allows() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    let (collector, collected) = endpoint(not_found).await;
    create::<Secret>(
        &client,
        &ns,
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{bearer: '{TOKEN}'}}"),
    )
    .await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create::<MCPServer>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: lure}}\n\
             spec: {{mode: remote, endpoint: '{collector}/mcp', healthCheck: {{interval: 1s, timeout: 1s}}, \
             headers: [{{name: Authorization, valueFrom: {{secretKeyRef: {{name: token, key: bearer}}}}}}]}}"
        ),
    )
    .await;

    // Not allowed: no check is sent, and status says why and what would allow it.
    let blocked = eventually("Healthy to say the Secret does not allow it", || async {
        condition(&servers, "lure", "Healthy")
            .await
            .filter(|c| c.reason == "SecretNotAllowed")
    })
    .await;
    assert_eq!(blocked.status, "False");
    assert!(
        blocked.message.contains("Secret token does not allow")
            && blocked.message.contains(&format!("{collector}/mcp"))
            && blocked.message.contains(ALLOWED_DESTINATIONS_ANNOTATION),
        "{}",
        blocked.message
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        collected.0.lock().unwrap().is_empty(),
        "nothing reached the endpoint"
    );

    // Another destination allowed is still no permission for this one.
    allow(&client, &ns, "https://mcp.example.com").await;
    touch(&servers, "lure").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(collected.0.lock().unwrap().is_empty());

    // The Secret's owner allows the endpoint: the header arrives there.
    allow(
        &client,
        &ns,
        &format!("https://mcp.example.com, {collector}/mcp"),
    )
    .await;
    touch(&servers, "lure").await;
    eventually("the check to carry the token", || async {
        (!collected.with_token().is_empty()).then_some(())
    })
    .await;
    let healthy = condition(&servers, "lure", "Healthy").await.unwrap();
    assert_ne!(healthy.reason, "SecretNotAllowed", "{healthy:?}");
}

fn redirect_elsewhere(_: &str) -> Response {
    // The collector runs on another port: another origin.
    let target = REDIRECT_TARGET.lock().unwrap().clone();
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]).into_response()
}

static REDIRECT_TARGET: Mutex<String> = Mutex::new(String::new());

#[tokio::test]
async fn a_redirect_cannot_carry_a_secret_header_to_another_origin() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { server::run(ctx, Some(&watched), std::future::pending()).await });
    let (collector, collected) = endpoint(not_found).await;
    *REDIRECT_TARGET.lock().unwrap() = format!("{collector}/stolen");
    let (bouncer, bounced) = endpoint(redirect_elsewhere).await;
    create::<Secret>(
        &client,
        &ns,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: token, annotations: {{{ALLOWED_DESTINATIONS_ANNOTATION}: '{bouncer}'}}}}\n\
             stringData: {{bearer: '{TOKEN}'}}"
        ),
    )
    .await;
    create::<MCPServer>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: bouncer}}\n\
             spec: {{mode: remote, endpoint: '{bouncer}/mcp', healthCheck: {{interval: 1s, timeout: 1s}}, \
             headers: [{{name: Authorization, valueFrom: {{secretKeyRef: {{name: token, key: bearer}}}}}}]}}"
        ),
    )
    .await;
    eventually("checks to reach the allowed endpoint", || async {
        (bounced.with_token().len() >= 2).then_some(())
    })
    .await;
    assert!(
        collected.0.lock().unwrap().is_empty(),
        "the redirect to {collector} was not followed: {:?}",
        collected.0.lock().unwrap()
    );
}

#[tokio::test]
async fn a_registry_sync_sends_a_secret_header_only_where_the_secret_allows() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { registry::run(ctx, Some(&watched), std::future::pending()).await });
    let (collector, collected) = endpoint(not_found).await;
    create::<Secret>(
        &client,
        &ns,
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{bearer: '{TOKEN}'}}"),
    )
    .await;
    create::<MCPRegistry>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPRegistry\nmetadata: {{name: private}}\n\
             spec: {{url: '{collector}/registry', headers: [{{name: Authorization, valueFrom: {{secretKeyRef: {{name: token, key: bearer}}}}}}]}}"
        ),
    )
    .await;
    let registries: Api<MCPRegistry> = Api::namespaced(client.clone(), &ns);
    let ready = |reason: &'static str| {
        let registries = registries.clone();
        async move {
            registries
                .get("private")
                .await
                .ok()?
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.reason == reason)
        }
    };
    let refused = eventually("the sync to be refused", || ready("SecretNotAllowed")).await;
    assert!(
        refused
            .message
            .contains(&format!("{collector}/registry/v0.1/servers")),
        "{}",
        refused.message
    );
    assert!(collected.0.lock().unwrap().is_empty());

    // Allowing the registry's base allows every request of the sync.
    allow(&client, &ns, &format!("{collector}/registry")).await;
    touch(&registries, "private").await;
    eventually("the sync to carry the token", || async {
        (collected.with_token() == ["/registry/v0.1/servers"]).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_gateway_gets_a_secret_only_for_destinations_the_secret_allows() {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { gateway::run(ctx, Some(&watched), std::future::pending()).await });
    create::<Secret>(
        &client,
        &ns,
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{bearer: '{TOKEN}'}}"),
    )
    .await;
    create::<MCPServer>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: saas, labels: {serve: 'yes'}}\n\
         spec: {mode: remote, endpoint: 'https://mcp.saas.example/mcp', \
         headers: [{name: Authorization, valueFrom: {secretKeyRef: {name: token, key: bearer}}}]}",
    )
    .await;
    create::<MCPGateway>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge}\n\
         spec: {replicas: 1, serverSelector: {matchLabels: {serve: 'yes'}}}",
    )
    .await;
    let gateways: Api<MCPGateway> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let env_names = || async {
        let deployment = deployments.get_opt("edge").await.unwrap()?;
        let container = deployment.spec?.template.spec?.containers.remove(0);
        Some(
            container
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.name)
                .collect::<Vec<_>>(),
        )
    };
    let config_valid = || async {
        gateways
            .get("edge")
            .await
            .ok()?
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "ConfigValid")
    };
    let skipped = eventually("the server to be left out", || async {
        config_valid().await.filter(|c| c.reason == "ItemsSkipped")
    })
    .await;
    assert!(
        skipped.message.contains("MCPServer saas")
            && skipped.message.contains("Secret token does not allow"),
        "{}",
        skipped.message
    );
    let variable = secret_env_name("token", "bearer");
    let env = eventually("the gateway Deployment", env_names).await;
    assert!(!env.contains(&variable), "{env:?}");

    allow(&client, &ns, "https://mcp.saas.example/").await;
    touch(&gateways, "edge").await;
    eventually("the server to be served", || async {
        config_valid().await.filter(|c| c.reason == "Compiled")
    })
    .await;
    let env = eventually("the Secret in the gateway's environment", || async {
        env_names().await.filter(|env| env.contains(&variable))
    })
    .await;
    assert!(env.contains(&variable));
}
