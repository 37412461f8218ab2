//! The MCPGateway, MCPTool/MCPPrompt/MCPResource and MCPServerGroup controllers
//! against a real kube-apiserver.

use std::sync::Arc;

use hangar_api::{MCPGateway, MCPServer, MCPServerGroup, MCPTool, crds};
use hangar_config::GatewayConfig;
use hangar_operator::context::Context;
use hangar_operator::items;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, group};
use hangar_testenv::{eventually, gone};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// A namespace with the gateway-side controllers running on it.
async fn operator() -> (Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace().await;
    let client = plane.client();
    let settings = BuildSettings {
        hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
        ..BuildSettings::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::default()),
        settings,
    ));
    let pending = std::future::pending::<()>;
    for run in [
        tokio::spawn({
            let (c, n) = (ctx.clone(), ns.clone());
            async move { gateway::run(c, Some(&n), pending()).await }
        }),
        tokio::spawn({
            let (c, n) = (ctx.clone(), ns.clone());
            async move { group::run(c, Some(&n), pending()).await }
        }),
        tokio::spawn({
            let (c, n) = (ctx.clone(), ns.clone());
            async move { items::run::<MCPTool>(c, Some(&n), pending()).await }
        }),
        tokio::spawn({
            let (c, n) = (ctx.clone(), ns.clone());
            async move { items::run::<hangar_api::MCPPrompt>(c, Some(&n), pending()).await }
        }),
        tokio::spawn({
            let (c, n) = (ctx.clone(), ns.clone());
            async move { items::run::<hangar_api::MCPResource>(c, Some(&n), pending()).await }
        }),
    ] {
        drop(run);
    }
    (client, ns)
}

/// Creates the objects in a multi-document YAML text.
async fn create_all(client: &Client, ns: &str, yaml: &str) {
    for document in serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
    {
        let object: DynamicObject = serde_json::from_value(document).unwrap();
        let types = object.types.clone().unwrap();
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", &types.api_version));
        let gvk = GroupVersionKind::gvk(group, version, &types.kind);
        let plural = format!("{}s", types.kind.to_lowercase());
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::from_gvk_with_plural(&gvk, &plural),
        );
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating {}: {e}", types.kind));
    }
}

const SELECTION: &str = r##"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: main}
spec:
  replicas: 2
  toolSelector: {matchLabels: {gateway: main}}
  serverSelector: {matchLabels: {gateway: main}}
  redis: {managed: true}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: weather, labels: {gateway: main}}
spec:
  description: Tomorrow's weather
  inputSchema: {type: object, properties: {city: {type: string}}, required: [city]}
  backend: {url: "http://weather.example.com", path: /forecast}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: stocks, labels: {gateway: other}}
spec: {backend: {url: "http://stocks.example.com"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPPrompt
metadata: {name: review, labels: {gateway: main}}
spec: {arguments: [{name: code, required: true}], messages: [{role: user, text: "Review {{code}}"}]}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPResource
metadata: {name: handbook, labels: {gateway: main}}
spec: {uri: "docs://handbook", mimeType: text/markdown, inline: {text: "# Handbook"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: github, labels: {gateway: main}}
spec: {mode: remote, endpoint: "https://api.githubcopilot.com/mcp/"}
"##;

async fn config_of(config_maps: &Api<ConfigMap>, name: &str) -> Option<GatewayConfig> {
    let config_map = config_maps
        .get_opt(&format!("{name}-config"))
        .await
        .unwrap()?;
    let text = config_map.data?.remove("gateway.yaml")?;
    Some(
        GatewayConfig::parse(&text, "ConfigMap")
            .unwrap()
            .into_inner(),
    )
}

fn tool_names(config: &GatewayConfig) -> Vec<String> {
    config.tools.iter().map(|t| t.name.clone()).collect()
}

#[tokio::test]
async fn a_gateway_serves_what_it_selects_and_follows_changes() {
    let (client, ns) = operator().await;
    create_all(&client, &ns, SELECTION).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    // Objects arrive one by one; wait until the config holds all of them.
    let config = eventually("the whole selection in the ConfigMap", || async {
        let config = config_of(&config_maps, "main").await?;
        (config.tools.len() + config.prompts.len() + config.resources.len() + config.servers.len()
            == 4)
            .then_some(config)
    })
    .await;

    // The ConfigMap is exactly the selection.
    assert_eq!(tool_names(&config), ["weather"]);
    assert_eq!(
        config.tools[0].backend.url,
        "http://weather.example.com/forecast"
    );
    assert_eq!(
        config
            .prompts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["review"]
    );
    assert_eq!(
        config
            .resources
            .iter()
            .map(|r| r.uri.as_str())
            .collect::<Vec<_>>(),
        ["docs://handbook"]
    );
    assert_eq!(
        config
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["github"]
    );

    // And the objects that serve it.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = eventually("the gateway Deployment", || async {
        deployments.get_opt("main").await.unwrap()
    })
    .await;
    eventually("the PodDisruptionBudget", || async {
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
            .get_opt("main")
            .await
            .unwrap()
    })
    .await;
    let pod = deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap();
    let container = &pod.containers[0];
    assert_eq!(
        container.args.as_ref().unwrap()[..3],
        ["gateway", "--config", "/etc/hangar/gateway/gateway.yaml"]
    );
    let redis_url = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "HANGAR_REDIS_URL")
        .and_then(|e| e.value.clone());
    assert_eq!(
        redis_url.as_deref(),
        Some(format!("redis://main-redis.{ns}.svc:6379").as_str())
    );
    assert_eq!(deployment.spec.unwrap().replicas, Some(2));
    assert!(
        Api::<Service>::namespaced(client.clone(), &ns)
            .get_opt("main")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<Deployment>::namespaced(client.clone(), &ns)
            .get_opt("main-redis")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<Service>::namespaced(client.clone(), &ns)
            .get_opt("main-redis")
            .await
            .unwrap()
            .is_some()
    );

    let gateways: Api<MCPGateway> = Api::namespaced(client.clone(), &ns);
    // Status follows the ConfigMap: wait for the status of the reconcile that wrote it.
    let digest = config.digest();
    let status = eventually("gateway status of the whole selection", || async {
        gateways
            .get("main")
            .await
            .unwrap()
            .status
            .filter(|s| s.config_hash.as_deref() == Some(digest.as_str()))
    })
    .await;
    assert_eq!(
        (status.prompts, status.resources, status.servers),
        (1, 1, 1)
    );
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://main.{ns}.svc:8080/mcp").as_str())
    );

    // Relabelling a tool moves it in and out of the ConfigMap.
    let tools: Api<MCPTool> = Api::namespaced(client.clone(), &ns);
    tools
        .patch(
            "stocks",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"gateway": "main"}}})),
        )
        .await
        .unwrap();
    eventually("stocks to join", || async {
        (tool_names(&config_of(&config_maps, "main").await?) == ["stocks", "weather"]).then_some(())
    })
    .await;
    tools
        .patch(
            "weather",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"gateway": "other"}}})),
        )
        .await
        .unwrap();
    eventually("weather to leave", || async {
        (tool_names(&config_of(&config_maps, "main").await?) == ["stocks"]).then_some(())
    })
    .await;

    // Deleting a selected object removes it.
    Api::<MCPServer>::namespaced(client.clone(), &ns)
        .delete("github", &DeleteParams::default())
        .await
        .unwrap();
    eventually("github to leave", || async {
        config_of(&config_maps, "main")
            .await?
            .servers
            .is_empty()
            .then_some(())
    })
    .await;

    // Deleting the gateway removes everything it made.
    gateways
        .delete("main", &DeleteParams::default())
        .await
        .unwrap();
    gone(&gateways, "main").await;
    for name in ["main", "main-redis"] {
        assert!(
            Api::<Deployment>::namespaced(client.clone(), &ns)
                .get_opt(name)
                .await
                .unwrap()
                .is_none(),
            "Deployment {name} left behind"
        );
        assert!(
            Api::<Service>::namespaced(client.clone(), &ns)
                .get_opt(name)
                .await
                .unwrap()
                .is_none(),
            "Service {name} left behind"
        );
    }
    assert!(config_maps.get_opt("main-config").await.unwrap().is_none());
    assert!(
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
            .get_opt("main")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_tool_without_its_service_says_which_is_missing() {
    let (client, ns) = operator().await;
    create_all(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPTool\nmetadata: {name: weather, labels: {gateway: main}}\nspec: {backend: {service: {name: weather-api, port: 8080}, path: /forecast}}\n---\napiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: main}\nspec: {replicas: 1, toolSelector: {matchLabels: {gateway: main}}}",
    )
    .await;
    let tools: Api<MCPTool> = Api::namespaced(client.clone(), &ns);
    let condition = |tool: &MCPTool| {
        tool.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "BackendResolved")
            .cloned()
    };
    let unresolved = eventually("BackendResolved=False", || async {
        condition(&tools.get("weather").await.unwrap()).filter(|c| c.status == "False")
    })
    .await;
    assert_eq!(unresolved.reason, "ServiceNotFound");
    assert_eq!(
        unresolved.message,
        format!("Service weather-api does not exist in namespace {ns}")
    );

    // The Service appears with another port, then with the right one.
    let service = |ports: &[i32]| -> Service {
        serde_json::from_value(json!({"metadata": {"name": "weather-api"}, "spec": {"ports": ports.iter().map(|p| json!({"port": p})).collect::<Vec<_>>()}})).unwrap()
    };
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(&PostParams::default(), &service(&[80]))
        .await
        .unwrap();
    let wrong_port = eventually("ServicePortNotFound", || async {
        condition(&tools.get("weather").await.unwrap())
            .filter(|c| c.reason == "ServicePortNotFound")
    })
    .await;
    assert_eq!(
        wrong_port.message,
        "Service weather-api has no port 8080 (its ports: 80)"
    );
    services
        .patch(
            "weather-api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ports": [{"port": 8080}]}})),
        )
        .await
        .unwrap();
    let resolved = eventually("BackendResolved=True", || async {
        let tool = tools.get("weather").await.unwrap();
        condition(&tool)
            .filter(|c| c.status == "True")
            .map(|_| tool)
    })
    .await;
    let status = resolved.status.unwrap();
    assert_eq!(
        status.resolved_url.as_deref(),
        Some(format!("http://weather-api.{ns}.svc:8080/forecast").as_str())
    );
    assert_eq!(status.gateways, ["main"]);
}

#[tokio::test]
async fn group_status_follows_its_members() {
    let (client, ns) = operator().await;
    create_all(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServerGroup\nmetadata: {name: search}\nspec: {selector: {matchLabels: {team: search}}, healthPolicy: {minHealthyPercentage: 60}}",
    )
    .await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    for name in ["a", "b", "c"] {
        create_all(&client, &ns, &format!("apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}, labels: {{team: search}}}}\nspec: {{mode: remote, endpoint: 'http://{name}.example.com/mcp'}}")).await;
    }
    // No MCPServer controller runs here: the test sets member states itself.
    let set_state = |name: &'static str, state: &'static str| {
        let servers = servers.clone();
        async move {
            let status = json!({"status": {"state": state}});
            servers
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    };
    let groups: Api<MCPServerGroup> = Api::namespaced(client.clone(), &ns);
    let ready = |group: &MCPServerGroup| {
        let status = group.status.as_ref()?;
        let condition = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        Some((
            status.members,
            status.healthy_members,
            condition.status.clone(),
        ))
    };
    set_state("a", "Ready").await;
    set_state("b", "Ready").await;
    eventually("2 of 3 healthy: 66% ≥ 60%", || async {
        (ready(&groups.get("search").await.unwrap())? == (3, 2, "True".into())).then_some(())
    })
    .await;
    set_state("b", "Dead").await;
    eventually("1 of 3 healthy: not Ready", || async {
        (ready(&groups.get("search").await.unwrap())? == (3, 1, "False".into())).then_some(())
    })
    .await;
    set_state("c", "Ready").await;
    eventually("2 of 3 again", || async {
        (ready(&groups.get("search").await.unwrap())? == (3, 2, "True".into())).then_some(())
    })
    .await;
}

#[tokio::test]
async fn curation_that_names_nothing_served_is_a_status_condition() {
    let (client, ns) = operator().await;
    create_all(
        &client,
        &ns,
        r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: curated}
spec:
  replicas: 0
  serverSelector: {matchLabels: {gateway: curated}}
  tools:
    deny: ["*_env"]
    overrides:
      - {tool: everything_echo, name: shout, fixedArguments: {loud: true}}
      - {tool: everything_nope, title: Nobody serves this}
  servers:
    - {name: everything, tools: {overrides: [{tool: add, name: sum}]}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: everything, labels: {gateway: curated}}
spec: {mode: remote, endpoint: "http://everything.example.com/mcp"}
"#,
    )
    .await;
    let gateways: Api<MCPGateway> = Api::namespaced(client.clone(), &ns);
    let curated = |wanted: &'static str| {
        let gateways = gateways.clone();
        async move {
            let gateway = gateways.get("curated").await.unwrap();
            let generation = gateway.metadata.generation;
            let condition = gateway
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Curated")?;
            (condition.status == wanted && condition.observed_generation == generation)
                .then_some(condition)
        }
    };
    // The server has not been listed: overrides cannot be judged yet.
    let unknown = eventually("Curated=Unknown before the server lists", || {
        curated("Unknown")
    })
    .await;
    assert_eq!(unknown.reason, "ToolsNotListed");
    assert!(unknown.message.contains("server everything"), "{unknown:?}");

    // No MCPServer controller runs here: the test writes what its probe would.
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let listed = json!({"status": {"state": "Ready", "tools": {"count": 3, "names": ["echo", "add", "print_env"]}}});
    servers
        .patch_status(
            "everything",
            &PatchParams::default(),
            &Patch::Merge(&listed),
        )
        .await
        .unwrap();
    let unmatched = eventually("Curated=False naming the override", || curated("False")).await;
    assert_eq!(unmatched.reason, "OverrideUnmatched");
    assert!(
        unmatched.message.contains("`everything_nope`") && !unmatched.message.contains("echo"),
        "{unmatched:?}"
    );

    // A source entry for something the gateway does not serve is reported too.
    let patch = json!({"spec": {
        "tools": {"overrides": [{"tool": "everything_echo", "name": "shout"}, {"tool": "everything_sum"}]},
        "servers": [{"name": "everything", "tools": {"overrides": [{"tool": "add", "name": "sum"}]}}, {"name": "absent"}],
    }});
    gateways
        .patch("curated", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let absent = eventually("Curated=False naming the absent server", || async {
        curated("False")
            .await
            .filter(|c| c.message.contains("absent"))
    })
    .await;
    assert!(
        !absent.message.contains("everything_sum"),
        "the source's rename is what the gateway-wide override names: {absent:?}"
    );

    let patch = json!({"spec": {"servers": [{"name": "everything", "tools": {"overrides": [{"tool": "add", "name": "sum"}]}}]}});
    gateways
        .patch("curated", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let matched = eventually("Curated=True", || curated("True")).await;
    assert_eq!(matched.reason, "Matched");
}
