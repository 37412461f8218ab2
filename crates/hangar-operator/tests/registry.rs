//! The MCPRegistry controller and MCPServer `spec.registry` against a real
//! kube-apiserver, with catalogs of real-shaped server.json entries
//! (tests/fixtures/registry) served by the official MCP Registry (with its
//! PostgreSQL) or held in a ConfigMap.

mod operator_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use hangar_api::{MCPRegistry, MCPServer};
use hangar_operator::metrics::Metrics;
use hangar_operator::{registry, server};
use hangar_testenv::registry::{ANONYMOUS_NAMESPACE, McpRegistry};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use operator_support::{context, create, eventually, namespace};
use serde_json::{Value, json};

/// The fixture entries, as the registry serves them (server.json + `_meta`).
fn entries() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/registry");
    let mut entries: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|file| {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// A fixture's server name as the official registry serves it: moved into
/// the namespace its anonymous token may publish to.
fn published_name(fixture_name: &str) -> String {
    let (_, short) = fixture_name.rsplit_once('/').unwrap();
    format!("{ANONYMOUS_NAMESPACE}/{short}")
}

/// Entries besides the fixtures, so that a sync takes two of the pages of
/// 100 entries the operator asks for.
const FILLERS: usize = 100;

/// The official MCP Registry, holding the fixture entries and [`FILLERS`]
/// remote-only ones, published through its API in version order and marked
/// deprecated or deleted (with the fixtures' messages) as their `_meta` says.
async fn official_registry() -> McpRegistry {
    let registry = tokio::task::spawn_blocking(McpRegistry::start)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/v0.1{path}", registry.url());
    let login: Value = http
        .post(api("/auth/none"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["registry_token"].as_str().unwrap().to_string();
    let send = |request: reqwest::RequestBuilder, body: Value| {
        let what = body.to_string();
        let request = request.bearer_auth(&token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                status.is_success(),
                "the registry refused {what}: {status} {text}"
            );
        }
    };
    let fillers = (0..FILLERS).map(|n| {
        json!({"server": {
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": format!("io.github.acme/filler-{n:03}"),
            "description": "An entry that makes the catalog span two pages",
            "version": "1.0.0",
            "remotes": [{"type": "streamable-http", "url": format!("https://filler-{n:03}.example.com/mcp")}]
        }})
    });
    for entry in entries().into_iter().map(|(_, e)| e).chain(fillers) {
        let mut server = entry["server"].clone();
        let name = published_name(server["name"].as_str().unwrap());
        server["name"] = json!(name);
        let version = server["version"].as_str().unwrap().to_string();
        send(http.post(api("/publish")), server).await;
        let official = &entry["_meta"]["io.modelcontextprotocol.registry/official"];
        if official["status"].as_str().is_some_and(|s| s != "active") {
            let path = format!(
                "/servers/{}/versions/{version}/status",
                name.replace('/', "%2F")
            );
            send(
                http.patch(api(&path)),
                json!({"status": official["status"], "statusMessage": official["statusMessage"]}),
            )
            .await;
        }
    }
    registry
}

/// A namespace with the MCPRegistry and MCPServer controllers running on it.
async fn operator() -> (Client, String, Arc<Metrics>) {
    let (client, ns) = namespace(&[]).await;
    let (ctx, metrics) = context(&client);
    for run in [true, false] {
        let (ctx, watched) = (ctx.clone(), ns.clone());
        tokio::spawn(async move {
            if run {
                registry::run(ctx, Some(&watched), std::future::pending()).await
            } else {
                server::run(ctx, Some(&watched), std::future::pending()).await
            }
        });
    }
    (client, ns, metrics)
}

async fn registry_status(
    client: &Client,
    ns: &str,
    name: &str,
) -> Option<hangar_api::MCPRegistryStatus> {
    Api::<MCPRegistry>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()?
        .status
}

/// The `RegistryResolved` condition of a server, once it has one.
async fn resolved(client: &Client, ns: &str, server: &str) -> hangar_api::Condition {
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), ns);
    eventually("a RegistryResolved condition", || async {
        servers
            .get(server)
            .await
            .ok()?
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "RegistryResolved")
    })
    .await
}

async fn container(deployments: &Api<Deployment>, name: &str) -> Container {
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt(name).await.unwrap()
    })
    .await;
    deployment.spec.unwrap().template.spec.unwrap().containers[0].clone()
}

/// What the bridge runs for a stdio server: the program after `--`.
fn bridged(container: &Container) -> Vec<String> {
    let command = container.command.clone().unwrap_or_default();
    let at = command
        .iter()
        .position(|part| part == "--")
        .expect("a stdio server runs behind the bridge");
    let mut program = command[at + 1..].to_vec();
    program.extend(container.args.clone().unwrap_or_default());
    program
}

fn env(container: &Container, name: &str) -> k8s_openapi::api::core::v1::EnvVar {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", container.env))
        .clone()
}

fn server_yaml(name: &str, registry: &str, reference: &str, extra: &str) -> String {
    format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}}}\n\
         spec: {{registry: {{name: {registry}, {reference}}}{extra}}}"
    )
}

/// MCPServers referencing each kind of entry in the registry `registry`
/// (synced from the fixture catalog, where a fixture's server is called
/// `catalog_name(name)`) render to the right workload, or say clearly why
/// they cannot.
async fn servers_resolve_against(
    client: &Client,
    ns: &str,
    registry: &str,
    catalog_name: fn(&str) -> String,
) {
    let n = catalog_name;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), ns);
    create::<Secret>(
        client,
        ns,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: weather}\nstringData: {api-key: secret}",
    )
    .await;
    let key = ", env: [{name: WEATHER_API_KEY, valueFrom: {secretKeyRef: {name: weather, key: api-key}}}]";
    for (name, reference, extra) in [
        (
            "weather",
            format!("server: {}", n("io.github.acme/weather")),
            key,
        ),
        ("time", format!("server: {}", n("io.github.acme/time")), ""),
        (
            "search",
            format!("server: {}", n("io.github.acme/search")),
            "",
        ),
        (
            "analytics",
            format!("server: {}", n("com.example/analytics")),
            "",
        ),
        (
            "weather-no-key",
            format!("server: {}", n("io.github.acme/weather")),
            "",
        ),
        (
            "weather-old",
            format!("server: {}, version: 1.0.0", n("io.github.acme/weather")),
            key,
        ),
        (
            "old-search",
            format!("server: {}", n("io.github.acme/old-search")),
            "",
        ),
        (
            "notes",
            format!("server: {}", n("io.github.acme/notes")),
            "",
        ),
        (
            "nothing",
            format!("server: {}", n("io.github.nobody/nothing")),
            "",
        ),
    ] {
        create::<MCPServer>(client, ns, &server_yaml(name, registry, &reference, extra)).await;
    }

    // npm: npx in a Node image, behind the stdio bridge.
    let weather = container(&deployments, "weather").await;
    assert_eq!(weather.image.as_deref(), Some("node:22-slim"));
    assert_eq!(
        bridged(&weather),
        ["npx", "-y", "@acme/weather-mcp@1.2.0", "--log-format=json"]
    );
    let key = env(&weather, "WEATHER_API_KEY").value_from.unwrap();
    assert_eq!(key.secret_key_ref.unwrap().name, "weather");
    assert_eq!(
        env(&weather, "WEATHER_UNITS").value.as_deref(),
        Some("celsius")
    );
    let condition = resolved(client, ns, "weather").await;
    assert_eq!(
        (condition.status.as_str(), condition.message.as_str()),
        (
            "True",
            format!("{} 1.2.0 from MCPRegistry {registry}: npm package @acme/weather-mcp@1.2.0 run with npx in node:22-slim", n("io.github.acme/weather")).as_str()
        )
    );

    // pypi: uvx in a Python image with uv.
    let time = container(&deployments, "time").await;
    assert_eq!(
        time.image.as_deref(),
        Some("ghcr.io/astral-sh/uv:python3.12-bookworm-slim")
    );
    assert_eq!(
        bridged(&time),
        ["uvx", "mcp-server-time==0.6.2", "--local-timezone=UTC"]
    );

    // oci: the image as is, on the port its URL names.
    let search = container(&deployments, "search").await;
    assert_eq!(
        search.image.as_deref(),
        Some("ghcr.io/acme/search-mcp:2.1.0")
    );
    assert_eq!(search.command, None, "the image's entrypoint runs");
    assert_eq!(
        search.args.as_deref(),
        Some(&["--index=/data".to_string()][..])
    );
    assert_eq!(search.ports.as_ref().unwrap()[0].container_port, 9000);
    assert_eq!(env(&search, "LOG_LEVEL").value.as_deref(), Some("info"));

    // Remote only: a remote server, no workload.
    let analytics = eventually("the analytics endpoint in status", || async {
        let server = servers.get("analytics").await.ok()?;
        server.status?.url.filter(|url| url.starts_with("https://"))
    })
    .await;
    assert_eq!(analytics, "https://acme.mcp.example.com/mcp");
    assert_eq!(resolved(client, ns, "analytics").await.status, "True");
    assert!(deployments.get_opt("analytics").await.unwrap().is_none());

    // What cannot be resolved says why, and creates nothing.
    for (name, reason, words) in [
        (
            "weather-no-key",
            "MissingEnvironmentVariable",
            "it needs the environment variable WEATHER_API_KEY (API key of the Acme weather service): add it to spec.env from a Secret with valueFrom.secretKeyRef".to_string(),
        ),
        (
            "weather-old",
            "EntryDeprecated",
            format!("{} 1.0.0 was deprecated in the registry (1.0.0 sends the key in the URL; upgrade to 1.2.0)", n("io.github.acme/weather")),
        ),
        (
            "old-search",
            "EntryDeleted",
            format!("{} 0.9.0 was deleted in the registry (the package was unpublished from npm)", n("io.github.acme/old-search")),
        ),
        (
            "notes",
            "EntryDeprecated",
            format!("{} 0.3.0 was deprecated in the registry (no longer maintained)", n("io.github.acme/notes")),
        ),
        (
            "nothing",
            "ServerNotFound",
            format!("the catalog has no server named {:?}", n("io.github.nobody/nothing")),
        ),
    ] {
        let condition = resolved(client, ns, name).await;
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("False", reason),
            "{name}: {}",
            condition.message
        );
        assert!(
            condition.message.contains(&words),
            "{name}: {}",
            condition.message
        );
        let ready = servers
            .get(name)
            .await
            .unwrap()
            .status
            .unwrap()
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.message.as_str()),
            ("False", condition.message.as_str())
        );
        assert!(deployments.get_opt(name).await.unwrap().is_none());
    }
}

/// The value of one sample line of the text exposition, if present.
fn sample(metrics: &Metrics, line_start: &str) -> Option<f64> {
    metrics
        .encode()
        .lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn the_official_registry_syncs_every_page_and_servers_resolve_against_it() {
    let official = official_registry().await;
    let url = official.url();
    let (client, ns, metrics) = operator().await;
    create::<MCPRegistry>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPRegistry\nmetadata: {{name: public}}\nspec: {{url: '{url}'}}"
        ),
    )
    .await;
    let status = eventually("a synced catalog", || async {
        registry_status(&client, &ns, "public")
            .await
            .filter(|s| s.last_sync.is_some())
    })
    .await;
    // weather 1.2.0, time, search, analytics and the fillers; weather 1.0.0
    // and notes are deprecated, old-search is deleted: the registry lists it
    // only to a client asking for deleted entries, as the operator does.
    let kept = 4 + FILLERS as i32;
    assert_eq!((status.entries, status.servers), (kept, kept), "{status:?}");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Synced")
    );
    assert!(
        ready.message.starts_with(&format!(
            "{kept} entries of {kept} servers from {url} (2 pages)"
        )) && ready
            .message
            .ends_with("; 3 deprecated or deleted entries left out"),
        "{}",
        ready.message
    );

    // The filters the registry applies (search, version) and those the
    // operator does (deprecated entries).
    for (name, filter, entries) in [
        ("weather", "{search: weather}", 1),
        (
            "weather-all",
            "{search: weather, includeDeprecated: true}",
            2,
        ),
        (
            "weather-latest",
            "{search: weather, version: latest, includeDeprecated: true}",
            1,
        ),
        ("exact", "{version: 0.6.2}", 1),
    ] {
        create::<MCPRegistry>(
            &client,
            &ns,
            &format!(
                "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPRegistry\nmetadata: {{name: {name}}}\nspec: {{url: '{url}', filter: {filter}}}"
            ),
        )
        .await;
        let status = eventually("a synced catalog", || async {
            registry_status(&client, &ns, name)
                .await
                .filter(|s| s.last_sync.is_some())
        })
        .await;
        assert_eq!(
            (status.entries, status.servers),
            (entries, 1),
            "{name}: {status:?}"
        );
    }

    servers_resolve_against(&client, &ns, "public", published_name).await;

    let labels = format!("{{namespace=\"{ns}\",registry=\"public\"");
    assert_eq!(
        sample(
            &metrics,
            &format!("mcp_operator_registry_syncs_total{labels},result=\"success\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("mcp_operator_registry_entries{labels}}}")
        ),
        Some(f64::from(kept))
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("mcp_operator_registry_sync_duration_seconds_count{labels}}}")
        ),
        Some(1.0)
    );
}

/// The fixture entries in the ConfigMap `catalog`, and the MCPRegistry
/// `registry` reading them.
async fn offline_catalog(client: &Client, ns: &str, registry: &str) {
    let data: BTreeMap<String, String> = entries()
        .into_iter()
        .map(|(file, entry)| (file, serde_json::to_string_pretty(&entry).unwrap()))
        .collect();
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(
            &Default::default(),
            &ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some("catalog".into()),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    create::<MCPRegistry>(
        client,
        ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPRegistry\nmetadata: {{name: {registry}}}\n\
             spec: {{configMapRef: {{name: catalog}}}}"
        ),
    )
    .await;
}

#[tokio::test]
async fn a_configmap_catalog_behaves_the_same_and_edits_reach_the_servers() {
    let (client, ns, metrics) = operator().await;
    offline_catalog(&client, &ns, "offline").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let status = eventually("a synced catalog", || async {
        registry_status(&client, &ns, "offline")
            .await
            .filter(|s| s.last_sync.is_some())
    })
    .await;
    assert_eq!((status.entries, status.servers), (4, 4), "{status:?}");

    servers_resolve_against(&client, &ns, "offline", str::to_string).await;

    // A new weather release in the ConfigMap: the registry syncs at once and
    // the server following `latest` moves to it.
    let mut release: Value = entries()
        .into_iter()
        .find(|(file, _)| file == "weather-1.2.0.json")
        .unwrap()
        .1;
    release["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"] = json!(false);
    let mut next = release.clone();
    next["server"]["version"] = json!("1.3.0");
    next["server"]["packages"][0]["version"] = json!("1.3.0");
    next["_meta"]["io.modelcontextprotocol.registry/official"]["isLatest"] = json!(true);
    let edit = json!({"data": {
        "weather-1.2.0.json": release.to_string(),
        "weather-1.3.0.json": next.to_string(),
    }});
    config_maps
        .patch("catalog", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("weather on 1.3.0", || async {
        let container = container(&deployments, "weather").await;
        bridged(&container)
            .contains(&"@acme/weather-mcp@1.3.0".to_string())
            .then_some(())
    })
    .await;
    let status = registry_status(&client, &ns, "offline").await.unwrap();
    assert_eq!((status.entries, status.servers), (5, 4));
    let syncs = sample(
        &metrics,
        &format!(
            "mcp_operator_registry_syncs_total{{namespace=\"{ns}\",registry=\"offline\",result=\"success\"}}"
        ),
    )
    .unwrap();
    assert!(syncs >= 2.0, "{syncs} syncs");
}

#[tokio::test]
async fn registries_that_cannot_sync_or_do_not_exist_are_reported() {
    let (client, ns, metrics) = operator().await;
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    create::<MCPRegistry>(
        &client,
        &ns,
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPRegistry\nmetadata: {{name: down}}\nspec: {{url: 'http://{closed}'}}"
        ),
    )
    .await;
    let ready = eventually("a failed sync", || async {
        registry_status(&client, &ns, "down")
            .await?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready")
    })
    .await;
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "RegistryUnreachable")
    );
    assert!(
        ready.message.starts_with(&format!(
            "cannot reach http://{closed}/v0.1/servers?limit=100"
        )),
        "{}",
        ready.message
    );

    for (name, registry) in [("via-down", "down"), ("via-missing", "missing")] {
        create::<MCPServer>(
            &client,
            &ns,
            &server_yaml(name, registry, "server: io.github.acme/time", ""),
        )
        .await;
    }
    let down = resolved(&client, &ns, "via-down").await;
    assert_eq!(down.reason, "RegistryNotSynced");
    assert!(
        down.message.starts_with(&format!(
            "MCPRegistry down has no catalog: cannot reach http://{closed}"
        )),
        "{}",
        down.message
    );
    let missing = resolved(&client, &ns, "via-missing").await;
    assert_eq!(missing.reason, "RegistryNotFound");
    assert_eq!(
        missing.message,
        format!(
            "MCPRegistry missing (spec.registry.name) does not exist in namespace {ns}: create it, or name an existing one"
        )
    );
    assert!(
        sample(
            &metrics,
            &format!(
                "mcp_operator_registry_sync_errors_total{{namespace=\"{ns}\",registry=\"down\",reason=\"RegistryUnreachable\"}}"
            )
        )
        .is_some_and(|n| n >= 1.0)
    );
}

/// The config the operator compiled for gateway `name`, once its ConfigMap says `ready`.
async fn gateway_config(
    client: &Client,
    ns: &str,
    name: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    eventually("the gateway's config", || async {
        let text = config_maps
            .get_opt(&format!("{name}-config"))
            .await
            .unwrap()?
            .data?
            .remove("gateway.yaml")?;
        let config: Value = serde_saphyr::from_str(&text).unwrap();
        ready(&config).then_some(config)
    })
    .await
}

#[tokio::test]
async fn gateways_federate_what_a_catalog_entry_runs() {
    let (client, ns, _) = operator().await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move {
        hangar_operator::gateway::run(ctx, Some(&watched), std::future::pending()).await
    });
    offline_catalog(&client, &ns, "public").await;
    for (name, server) in [
        ("search", "io.github.acme/search"),
        ("analytics", "com.example/analytics"),
        ("nothing", "io.github.nobody/nothing"),
    ] {
        create::<MCPServer>(
            &client,
            &ns,
            &format!(
                "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}, labels: {{gateway: main}}}}\n\
                 spec: {{registry: {{name: public, server: {server}}}}}"
            ),
        )
        .await;
    }
    create::<hangar_api::MCPGateway>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: main}\nspec: {serverSelector: {matchLabels: {gateway: main}}}",
    )
    .await;

    // Once the catalog has synced, both entries are federated where they run.
    let config = gateway_config(&client, &ns, "main", |config| {
        config["servers"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    let server = |name: &str| {
        config["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} is not federated: {config}"))
            .clone()
    };
    // An OCI image on the port and path its entry names, through its Service.
    let search = server("search");
    assert_eq!(
        search["url"],
        format!("http://search.{ns}.svc:9000/mcp"),
        "{search}"
    );
    // A remote-only entry at its endpoint, with the entry's headers.
    let analytics = server("analytics");
    assert_eq!(
        (&analytics["url"], &analytics["transport"]),
        (
            &json!("https://acme.mcp.example.com/mcp"),
            &json!("streamable-http")
        ),
        "{analytics}"
    );
    assert_eq!(
        analytics["headers"],
        json!([{"name": "X-Region", "value": "eu-west-1"}]),
        "{analytics}"
    );
    // The gateway's status agrees with the server's about where it is.
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let search_url = eventually("search's status.url", || async {
        servers.get("search").await.ok()?.status?.url
    })
    .await;
    assert_eq!(search["url"], search_url);

    // What does not resolve is left out, saying why.
    let gateways: Api<hangar_api::MCPGateway> = Api::namespaced(client.clone(), &ns);
    let skipped = eventually("the gateway's ConfigValid condition", || async {
        gateways
            .get("main")
            .await
            .ok()?
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "ConfigValid" && c.status == "False")
    })
    .await;
    assert!(
        skipped.message.contains(
            "MCPServer nothing: its catalog entry (spec.registry) does not resolve: MCPRegistry public: the catalog has no server named \"io.github.nobody/nothing\""
        ),
        "{}",
        skipped.message
    );
}
