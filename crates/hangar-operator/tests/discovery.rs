//! The MCPDiscoverySource controller against a real kube-apiserver, limited to
//! the test's namespace. Sources refresh only every hour here, so what the
//! tests see happen comes from watches, not from rescans.

mod operator_support;

use hangar_api::{MCPDiscoverySource, MCPServer, ServerMode};
use hangar_operator::discovery;
use hangar_testenv::gone;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use operator_support::{context, create, eventually, namespace};
use serde_json::json;

/// A namespace with the discovery controller running on it.
async fn operator() -> (Client, String) {
    let (client, ns) = namespace(&[]).await;
    let (ctx, _) = context(&client);
    let watched = ns.clone();
    tokio::spawn(async move { discovery::run(ctx, Some(&watched), std::future::pending()).await });
    (client, ns)
}

fn service(name: &str, extra: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}{extra}}}\n")
}

async fn source_status(
    sources: &Api<MCPDiscoverySource>,
    name: &str,
) -> Option<hangar_api::MCPDiscoverySourceStatus> {
    sources.get(name).await.ok()?.status
}

#[tokio::test]
async fn namespace_discovery_follows_services_that_speak_mcp() {
    let (client, ns) = operator().await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for yaml in [
        service("weather", "") + "spec: {ports: [{name: mcp, port: 8080}]}",
        service("search", "") + "spec: {ports: [{name: http, port: 80, appProtocol: mcp}]}",
        service("web", "") + "spec: {ports: [{name: http, port: 80}]}",
        service(
            "managed",
            ", labels: {app.kubernetes.io/managed-by: hangar}",
        ) + "spec: {ports: [{name: mcp, port: 8080}]}",
        service("hidden", ", annotations: {mcp-hangar.io/discover: 'false'}")
            + "spec: {ports: [{name: mcp, port: 8080}]}",
    ] {
        create::<Service>(&client, &ns, &yaml).await;
    }
    let source: MCPDiscoverySource = create(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: local}\n\
         spec: {type: Namespace, mode: Authoritative, refreshInterval: 1h, \
         template: {labels: {team: platform}, annotations: {contact: platform@acme.dev}, healthCheck: {interval: 1m}}}",
    )
    .await;

    let sources: Api<MCPDiscoverySource> = Api::namespaced(client.clone(), &ns);
    let status = eventually("two servers in status", || async {
        source_status(&sources, "local")
            .await
            .filter(|s| s.servers.len() == 2)
    })
    .await;
    assert_eq!(status.servers, ["search", "weather"]);
    assert_eq!(status.discovered, 2);
    assert!(status.last_refresh.is_some());
    assert!(status.conflicts.is_empty());
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True", "{ready:?}");
    assert_eq!(status.observed_generation, source.metadata.generation);

    let weather = servers.get("weather").await.unwrap();
    assert_eq!(weather.spec.mode, ServerMode::Remote);
    assert_eq!(
        weather.spec.endpoint.as_deref(),
        Some(format!("http://weather.{ns}.svc:8080/mcp").as_str())
    );
    assert_eq!(weather.spec.health_check.interval.0, "1m");
    assert_eq!(weather.labels()["mcp-hangar.io/discovery-source"], "local");
    assert_eq!(weather.labels()["team"], "platform");
    assert_eq!(weather.annotations()["contact"], "platform@acme.dev");
    assert_eq!(
        weather.annotations()["mcp-hangar.io/discovered-from"],
        format!("Service {ns}/weather")
    );
    let owner = &weather.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        (
            "MCPDiscoverySource",
            source.uid().unwrap().as_str(),
            Some(true)
        )
    );
    assert_eq!(
        servers
            .get("search")
            .await
            .unwrap()
            .spec
            .endpoint
            .as_deref(),
        Some(format!("http://search.{ns}.svc:80/mcp").as_str())
    );
    for absent in ["web", "managed", "hidden"] {
        assert!(
            servers.get_opt(absent).await.unwrap().is_none(),
            "{absent} was discovered"
        );
    }

    // A new Service is found at once.
    create::<Service>(
        &client,
        &ns,
        &(service("late", "") + "spec: {ports: [{name: mcp, port: 3000}]}"),
    )
    .await;
    eventually("the late server", || async {
        servers.get_opt("late").await.unwrap()
    })
    .await;

    // A Service that goes away takes its MCPServer with it (Authoritative).
    services
        .delete("weather", &DeleteParams::default())
        .await
        .unwrap();
    gone(&servers, "weather").await;
}

#[tokio::test]
async fn a_removed_annotation_deletes_under_authoritative_and_keeps_under_additive() {
    let (client, ns) = operator().await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let sources: Api<MCPDiscoverySource> = Api::namespaced(client.clone(), &ns);
    for (name, team) in [("alpha", "a"), ("beta", "b")] {
        create::<Service>(
            &client,
            &ns,
            &(service(
                name,
                &format!(", labels: {{team: {team}}}, annotations: {{mcp-hangar.io/discover: 'true', mcp-hangar.io/path: /rpc}}"),
            ) + "spec: {ports: [{port: 9000}]}"),
        )
        .await;
    }
    for (name, mode, team) in [
        ("strict", "Authoritative", "a"),
        ("lenient", "Additive", "b"),
    ] {
        create::<MCPDiscoverySource>(
            &client,
            &ns,
            &format!(
                "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {{name: {name}}}\n\
                 spec: {{type: Annotations, mode: {mode}, refreshInterval: 1h, serviceSelector: {{matchLabels: {{team: {team}}}}}}}"
            ),
        )
        .await;
    }
    for name in ["alpha", "beta"] {
        let server = eventually("the discovered server", || async {
            servers.get_opt(name).await.unwrap()
        })
        .await;
        assert_eq!(
            server.spec.endpoint.as_deref(),
            Some(format!("http://{name}.{ns}.svc:9000/rpc").as_str())
        );
    }

    let unannotate = json!({"metadata": {"annotations": {"mcp-hangar.io/discover": null}}});
    for name in ["alpha", "beta"] {
        services
            .patch(name, &PatchParams::default(), &Patch::Merge(&unannotate))
            .await
            .unwrap();
    }
    gone(&servers, "alpha").await;
    // Once the lenient source has seen the change, beta is still there.
    let lenient = eventually("the lenient source to find nothing", || async {
        source_status(&sources, "lenient")
            .await
            .filter(|s| s.discovered == 0)
    })
    .await;
    assert_eq!(lenient.servers, ["beta"], "Additive still manages beta");
    let ready = lenient
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(
        ready
            .message
            .ends_with("; kept 1 MCPServers whose server is gone: beta"),
        "{}",
        ready.message
    );
    assert!(servers.get_opt("beta").await.unwrap().is_some());
    let strict = source_status(&sources, "strict").await.unwrap();
    assert!(strict.servers.is_empty(), "{strict:?}");
}

#[tokio::test]
async fn a_handwritten_server_of_the_same_name_is_left_alone() {
    let (client, ns) = operator().await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let sources: Api<MCPDiscoverySource> = Api::namespaced(client.clone(), &ns);
    let handwritten: MCPServer = create(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: weather, labels: {owner: me}}\n\
         spec: {mode: remote, endpoint: 'https://weather.example.com/mcp'}",
    )
    .await;
    create::<Service>(
        &client,
        &ns,
        &(service("weather", "") + "spec: {ports: [{name: mcp, port: 8080}]}"),
    )
    .await;
    create::<MCPDiscoverySource>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: local}\n\
         spec: {type: Namespace, mode: Authoritative, refreshInterval: 1h}",
    )
    .await;

    let status = eventually("a conflict in status", || async {
        source_status(&sources, "local")
            .await
            .filter(|s| !s.conflicts.is_empty())
    })
    .await;
    assert_eq!(status.conflicts[0].name, "weather");
    assert!(
        status.conflicts[0]
            .reason
            .contains("was not created by this source"),
        "{}",
        status.conflicts[0].reason
    );
    assert!(status.servers.is_empty());
    let conflict = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Conflict")
        .unwrap();
    assert_eq!(
        (conflict.status.as_str(), conflict.reason.as_str()),
        ("True", "NameTaken")
    );
    let current = servers.get("weather").await.unwrap();
    assert_eq!(current.spec, handwritten.spec);
    assert_eq!(current.labels(), handwritten.labels());
    assert!(current.owner_references().is_empty());
    assert!(
        !current
            .managed_fields()
            .iter()
            .any(|f| f.manager.as_deref() == Some("hangar-operator")),
        "the operator wrote to it"
    );

    // Its Service going away under Authoritative does not delete it either.
    Api::<Service>::namespaced(client.clone(), &ns)
        .delete("weather", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the conflict to clear", || async {
        source_status(&sources, "local")
            .await
            .filter(|s| s.conflicts.is_empty())
    })
    .await;
    assert_eq!(
        servers.get("weather").await.unwrap().uid(),
        handwritten.uid()
    );
}

#[tokio::test]
async fn a_configmap_source_creates_and_updates_servers() {
    let (client, ns) = operator().await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    let sources: Api<MCPDiscoverySource> = Api::namespaced(client.clone(), &ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    create::<ConfigMap>(
        &client,
        &ns,
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: servers}
data:
  servers.yaml: |
    - name: weather
      labels: {team: forecasts}
      spec: {endpoint: "http://weather.forecasts.svc:8080/mcp"}
    - name: time
      spec: {image: ghcr.io/acme/time-mcp, tag: "1.4.0", replicas: 0, transport: stdio, command: [time-mcp]}
"#,
    )
    .await;
    create::<MCPDiscoverySource>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: listed}\n\
         spec: {type: ConfigMap, mode: Authoritative, refreshInterval: 1h, configMapRef: {name: servers}}",
    )
    .await;

    let weather = eventually("weather", || async {
        servers.get_opt("weather").await.unwrap()
    })
    .await;
    assert_eq!(weather.spec.mode, ServerMode::Remote);
    assert_eq!(weather.labels()["team"], "forecasts");
    let time = eventually("time", || async { servers.get_opt("time").await.unwrap() }).await;
    assert_eq!(
        (
            time.spec.image.as_deref(),
            time.spec.tag.as_deref(),
            time.spec.replicas
        ),
        (Some("ghcr.io/acme/time-mcp"), Some("1.4.0"), 0)
    );

    // The list changes: weather moves, time goes, search comes, and one entry is wrong.
    let updated = json!({"data": {"servers.yaml": r#"
- name: weather
  spec: {endpoint: "http://weather.forecasts.svc:9090/mcp"}
- name: search
  spec: {mode: remote, endpoint: "https://search.example.com/mcp", transport: sse}
- name: broken
  spec: {image: ghcr.io/acme/broken, replicas: many}
"#}});
    config_maps
        .patch("servers", &PatchParams::default(), &Patch::Merge(&updated))
        .await
        .unwrap();
    eventually("weather's new endpoint", || async {
        let weather = servers.get("weather").await.unwrap();
        (weather.spec.endpoint.as_deref() == Some("http://weather.forecasts.svc:9090/mcp"))
            .then_some(())
    })
    .await;
    let search = eventually("search", || async {
        servers.get_opt("search").await.unwrap()
    })
    .await;
    assert_eq!(search.spec.transport, hangar_api::Transport::Sse);
    gone(&servers, "time").await;
    let ready = eventually("the broken entry in Ready", || async {
        source_status(&sources, "listed")
            .await?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")
    })
    .await;
    assert_eq!(ready.reason, "ServersNotApplied");
    assert!(
        ready.message.contains("entry 2 (broken)") && ready.message.contains("spec.replicas"),
        "{}",
        ready.message
    );
    assert!(servers.get_opt("broken").await.unwrap().is_none());
}

#[tokio::test]
async fn an_annotated_deployment_is_found_through_its_service() {
    let (client, ns) = operator().await;
    let servers: Api<MCPServer> = Api::namespaced(client.clone(), &ns);
    create::<Deployment>(
        &client,
        &ns,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tools, annotations: \
         {mcp-hangar.io/discover: 'true', mcp-hangar.io/name: toolbox, mcp-hangar.io/port: rpc, mcp-hangar.io/path: /rpc}}\n\
         spec: {selector: {matchLabels: {app: tools}}, template: {metadata: {labels: {app: tools}}, \
         spec: {containers: [{name: tools, image: ghcr.io/acme/tools}]}}}",
    )
    .await;
    create::<Service>(
        &client,
        &ns,
        &(service("tools-svc", "")
            + "spec: {selector: {app: tools}, ports: [{name: http, port: 80}, {name: rpc, port: 7000}]}"),
    )
    .await;
    create::<MCPDiscoverySource>(
        &client,
        &ns,
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPDiscoverySource\nmetadata: {name: annotated}\n\
         spec: {type: Annotations, mode: Authoritative, refreshInterval: 1h}",
    )
    .await;
    let toolbox = eventually("toolbox", || async {
        servers.get_opt("toolbox").await.unwrap()
    })
    .await;
    assert_eq!(
        toolbox.spec.endpoint.as_deref(),
        Some(format!("http://tools-svc.{ns}.svc:7000/rpc").as_str())
    );
    assert_eq!(
        toolbox.annotations()["mcp-hangar.io/discovered-from"],
        format!("Deployment {ns}/tools")
    );

    // Taking the annotation off the Deployment removes the server.
    let unannotate = json!({"metadata": {"annotations": {"mcp-hangar.io/discover": null}}});
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .patch("tools", &PatchParams::default(), &Patch::Merge(&unannotate))
        .await
        .unwrap();
    gone(&servers, "toolbox").await;
}
