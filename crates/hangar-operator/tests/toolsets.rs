//! The MCPToolSet controller and the gateways that serve tool sets, against a
//! real kube-apiserver: documents from a ConfigMap, from a URL served by a
//! real OpenAPI service (FastAPI, tests/servers/bookshop.py of the gateway
//! crate) and an unusable one; status says what each became, the gateway's
//! config carries the tools and follows the ConfigMap.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use hangar_api::{MCPToolSet, crds};
use hangar_config::GatewayConfig;
use hangar_operator::context::Context;
use hangar_operator::metrics::Metrics;
use hangar_operator::server::build::BuildSettings;
use hangar_operator::{gateway, toolsets};
use hangar_testenv::eventually;
use hangar_testenv::tools::{Tool, locate};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

async fn operator() -> (kube::Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    let ns = plane.namespace().await;
    let client = plane.client();
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(Metrics::default()),
        BuildSettings {
            hangar_image: "ghcr.io/mcp-hangar/hangar:test".into(),
            ..BuildSettings::default()
        },
    ));
    let pending = std::future::pending::<()>;
    tokio::spawn({
        let (c, n) = (ctx.clone(), ns.clone());
        async move { gateway::run(c, Some(&n), pending()).await }
    });
    tokio::spawn({
        let (c, n) = (ctx.clone(), ns.clone());
        async move { toolsets::run(c, Some(&n), pending()).await }
    });
    (client, ns)
}

/// The FastAPI bookshop on a free port, once it listens.
async fn bookshop() -> (tokio::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hangar-gateway/tests/servers/bookshop.py"
    );
    let child = tokio::process::Command::new(locate(Tool::Python))
        .arg(script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start bookshop.py");
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bookshop.py did not open port {port}");
}

fn document(operations: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: Notes, version: '1'}}\npaths:\n  /notes:\n    get: {{operationId: list_notes, responses: {{'200': {{description: ok}}}}}}\n    head: {{operationId: count_notes, responses: {{'200': {{description: ok}}}}}}\n{operations}"
    )
}

async fn config_of(config_maps: &Api<ConfigMap>) -> Option<GatewayConfig> {
    let text = config_maps
        .get_opt("main-config")
        .await
        .unwrap()?
        .data?
        .remove("gateway.yaml")?;
    Some(
        GatewayConfig::parse(&text, "ConfigMap")
            .unwrap()
            .into_inner(),
    )
}

#[tokio::test]
async fn tool_sets_say_what_their_documents_hold_and_gateways_serve_their_tools() {
    let (client, ns) = operator().await;
    let (_shop, port) = bookshop().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let notes: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "notes-openapi"},
        "data": {"openapi.yaml": document("")}
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &notes)
        .await
        .unwrap();
    let sets: Api<MCPToolSet> = Api::namespaced(client.clone(), &ns);
    for set in [
        json!({"metadata": {"name": "notes", "labels": {"gateway": "main"}}, "spec": {
            "openapi": {"configMapKeyRef": {"name": "notes-openapi", "key": "openapi.yaml"}},
            "backend": {"url": "http://notes.example.com", "path": "/api"}}}),
        json!({"metadata": {"name": "shop", "labels": {"gateway": "main"}}, "spec": {
            "openapi": {"url": format!("http://127.0.0.1:{port}/openapi.json")},
            "namePrefix": "shop_"}}),
        json!({"metadata": {"name": "broken", "labels": {"gateway": "main"}}, "spec": {
            "openapi": {"inline": "swagger: '2.0'"}}}),
    ] {
        let mut set = set;
        set["apiVersion"] = json!("mcp-hangar.io/v1alpha1");
        set["kind"] = json!("MCPToolSet");
        sets.create(
            &PostParams::default(),
            &serde_json::from_value(set).unwrap(),
        )
        .await
        .unwrap();
    }
    // Two places for one document is refused by the API server, naming the rule.
    let twice: MCPToolSet = serde_json::from_value(json!({
        "apiVersion": "mcp-hangar.io/v1alpha1", "kind": "MCPToolSet",
        "metadata": {"name": "twice"},
        "spec": {"openapi": {"inline": "{}", "url": "http://docs.example.com/openapi.json"}}
    }))
    .unwrap();
    let refused = sets
        .create(&PostParams::default(), &twice)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("set exactly one of url, configMapKeyRef and inline"),
        "{refused}"
    );
    let gateway: hangar_api::MCPGateway = serde_json::from_value(json!({
        "apiVersion": "mcp-hangar.io/v1alpha1", "kind": "MCPGateway",
        "metadata": {"name": "main"},
        "spec": {"replicas": 1, "toolSelector": {"matchLabels": {"gateway": "main"}}}
    }))
    .unwrap();
    Api::<hangar_api::MCPGateway>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &gateway)
        .await
        .unwrap();

    let ready = |name: &'static str| {
        let sets = sets.clone();
        async move {
            eventually(
                &format!("MCPToolSet {name} has a status of this generation"),
                || async {
                    let set = sets.get(name).await.unwrap();
                    let status = set.status.clone()?;
                    (status.observed_generation == set.metadata.generation
                        && !status.conditions.is_empty()
                        && !status.gateways.is_empty())
                    .then_some(status)
                },
            )
            .await
        }
    };
    let notes_status = ready("notes").await;
    assert_eq!(
        (notes_status.operations, notes_status.tools),
        (Some(2), Some(1))
    );
    assert_eq!(
        notes_status.skipped[0].operation,
        "HEAD /notes (count_notes)"
    );
    assert_eq!(
        notes_status.resolved_url.as_deref(),
        Some("http://notes.example.com/api")
    );
    assert_eq!(notes_status.gateways, ["main"]);
    let shop_status = ready("shop").await;
    assert_eq!(
        (shop_status.operations, shop_status.tools),
        (Some(7), Some(6))
    );
    assert_eq!(
        shop_status.skipped[0].operation,
        "POST /covers (upload_cover)"
    );
    assert_eq!(
        shop_status.resolved_url.as_deref(),
        Some(format!("http://127.0.0.1:{port}/").as_str()),
        "FastAPI names no server: the document's own URL"
    );
    let broken = ready("broken").await;
    let loaded = broken
        .conditions
        .iter()
        .find(|c| c.type_ == "DocumentLoaded")
        .unwrap();
    assert_eq!(
        (loaded.status.as_str(), loaded.reason.as_str()),
        ("False", "DocumentUnusable")
    );
    assert!(loaded.message.contains("swagger"), "{}", loaded.message);

    let served = eventually("the gateway serves both sets' tools", || async {
        let config = config_of(&config_maps).await?;
        let names: Vec<String> = config.tools.iter().map(|t| t.name.clone()).collect();
        (names.len() == 7).then_some(config)
    })
    .await;
    let notes_tool = served
        .tools
        .iter()
        .find(|t| t.name == "list_notes")
        .unwrap();
    assert_eq!(notes_tool.backend.url, "http://notes.example.com/api/notes");
    let get_book = served
        .tools
        .iter()
        .find(|t| t.name == "shop_get_book")
        .unwrap();
    assert_eq!(
        get_book.backend.url,
        format!("http://127.0.0.1:{port}/books/{{book_id}}")
    );

    // The ConfigMap's document gains an operation: the set and the gateway follow.
    config_maps
        .patch(
            "notes-openapi",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"openapi.yaml": document(
                "  /notes/{id}:\n    delete:\n      operationId: delete_note\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses: {'204': {description: gone}}\n"
            )}})),
        )
        .await
        .unwrap();
    let grown = eventually("the gateway serves delete_note", || async {
        let config = config_of(&config_maps).await?;
        config.tools.into_iter().find(|t| t.name == "delete_note")
    })
    .await;
    assert_eq!(grown.backend.url, "http://notes.example.com/api/notes/{id}");
    let notes_status = eventually("notes counts two tools", || async {
        let status = sets.get("notes").await.unwrap().status?;
        (status.tools == Some(2)).then_some(status)
    })
    .await;
    assert_eq!(notes_status.operations, Some(3));
}
