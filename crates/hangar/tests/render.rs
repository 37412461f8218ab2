//! `hangar render` prints what the operator would create, without a cluster.

use std::process::Command;

use serde_json::Value;

fn render(path: &str) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["render", "-f", path])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hangar render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

#[test]
fn the_basic_example_renders_restricted_with_default_resources() {
    let objects = render("examples/kubernetes/basic-server.yaml");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["NetworkPolicy", "Service", "Deployment"]);
    // Health checks from the operator's namespace (the chart's default unless
    // --operator-namespace says otherwise); gateways add themselves.
    let policy = &objects[0]["spec"];
    assert_eq!(
        policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "hangar-system"
    );
    assert_eq!(policy["policyTypes"], serde_json::json!(["Ingress"]));
    let pod = &objects[2]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "node:22-alpine");
    assert_eq!(
        container["command"],
        serde_json::json!([
            "npx",
            "-y",
            "@modelcontextprotocol/server-everything@2026.8.31"
        ])
    );
    assert_eq!(container["args"], serde_json::json!(["streamableHttp"]));
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["resources"]["requests"]["memory"], "128Mi");
    assert_eq!(container["resources"]["limits"]["cpu"], "1");
}

#[test]
fn every_kubernetes_example_renders_including_the_registry_entry() {
    let objects = render("examples/kubernetes/");
    let deployments: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    for name in [
        "everything",
        "time",
        "fetch",
        "memory",
        "postgres",
        "public",
        "curated",
        "search",
    ] {
        assert!(deployments.contains(&name), "{name}: {deployments:?}");
    }
    // search-gateway.yaml: tool search in the config, over both gateways' servers.
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "search-config")
        .and_then(|o| o["data"]["gateway.yaml"].as_str())
        .expect("the search gateway's ConfigMap");
    let config = hangar_config::GatewayConfig::parse(config, "search-config").unwrap();
    let search = config.tool_search.as_ref().expect("a toolSearch section");
    assert_eq!((search.default_results, search.max_results), (5, 20));
    let servers: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert!(
        servers.contains(&"everything") && servers.contains(&"fetch"),
        "{servers:?}"
    );
    // openapi-toolset.yaml: the ConfigMap's OpenAPI document became a tool of the public gateway.
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "public-config")
        .and_then(|o| o["data"]["gateway.yaml"].as_str())
        .expect("the public gateway's ConfigMap");
    let config = hangar_config::GatewayConfig::parse(config, "public-config").unwrap();
    let forecast = config
        .tools
        .iter()
        .find(|t| t.name == "meteo_forecast")
        .expect("meteo_forecast in the public gateway's tools");
    assert_eq!(
        forecast.backend.url,
        "https://api.open-meteo.com/v1/forecast"
    );
    assert_eq!(forecast.backend.arguments.len(), 3);
    // curated-gateway.yaml: its curation is in the config it serves.
    let config = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "curated-config")
        .and_then(|o| o["data"]["gateway.yaml"].as_str())
        .expect("the curated gateway's ConfigMap");
    let config = hangar_config::GatewayConfig::parse(config, "curated-config").unwrap();
    let curation = &config.curation;
    assert_eq!(
        curation.exposed.tools.deny,
        ["everything_get-env", "*toggle*"]
    );
    let shout = curation
        .exposed
        .tools
        .override_for("everything_echo")
        .unwrap();
    assert_eq!(shout.exposed_name(), "shout");
    assert_eq!(curation.servers["everything"].tools.deny, ["trigger-*"]);
    // registry-server.yaml: resolved offline from the ConfigMap catalog in the file.
    let time = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "time")
        .unwrap();
    let container = &time["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "ghcr.io/astral-sh/uv:python3.12-bookworm-slim"
    );
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        command
            .windows(2)
            .any(|w| w == ["uvx", "mcp-server-time==2026.10.19"]),
        "{command:?}"
    );
}

#[test]
fn an_invalid_manifest_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("hangar-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: s}\nspec: {image: x, volumeMounts: [{name: data, mountPath: /d}]}\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["render", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MCPServer \"s\": spec.volumeMounts[0] mounts volume \"data\""),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_gateway_renders_with_its_compiled_config() {
    let dir = std::env::temp_dir().join(format!("hangar-render-gw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: main, namespace: tools}
spec: {replicas: 3, toolSelector: {matchLabels: {gateway: main}}, redis: {managed: true}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: weather, namespace: tools, labels: {gateway: main}}
spec: {backend: {service: {name: weather-api, port: 80}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {name: elsewhere, namespace: other, labels: {gateway: main}}
spec: {backend: {url: "http://x.example.com"}}
"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["render", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let objects: Vec<Value> = serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    let names: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "ConfigMap/main-config",
            "ServiceAccount/main",
            "Role/main",
            "RoleBinding/main",
            "NetworkPolicy/main",
            "Service/main",
            "Deployment/main",
            "PodDisruptionBudget/main",
            "NetworkPolicy/main-redis",
            "Service/main-redis",
            "Deployment/main-redis"
        ]
    );
    assert!(
        text.contains(
            "# Secret main-redis: the managed Redis's password, generated by the operator"
        ),
        "{text}"
    );
    let config: Value =
        serde_saphyr::from_str(objects[0]["data"]["gateway.yaml"].as_str().unwrap()).unwrap();
    let tools: Vec<&str> = config["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        ["weather"],
        "only the tools of the gateway's namespace it selects"
    );
    assert_eq!(
        config["tools"][0]["backend"]["url"],
        "http://weather-api.tools.svc:80"
    );
}

/// `hangar render -f <file>` of `yaml`: exit status, stdout, stderr.
fn render_text(name: &str, yaml: &str) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!("hangar-render-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("manifests.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["render", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_image_with_its_tag_renders_as_written() {
    let (ok, text, stderr) = render_text(
        "tagged",
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: quick-start}\nspec: {image: 'ghcr.io/my-org/my-mcp-tools:latest'}\n",
    );
    assert!(ok, "{stderr}");
    let deployment = serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/my-org/my-mcp-tools:latest"
    );

    let (ok, _, stderr) = render_text(
        "tagged-twice",
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: twice}\nspec: {image: 'ghcr.io/my-org/my-mcp-tools:latest', tag: '1.0'}\n",
    );
    assert!(!ok, "a tag in both fields must not render");
    assert!(
        stderr.contains("spec.image") && stderr.contains("spec.tag"),
        "the error names both fields: {stderr}"
    );
}

#[test]
fn a_gateway_federates_what_catalog_entries_run() {
    let (ok, text, stderr) = render_text(
        "registry-gateway",
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: catalog, namespace: tools}
data:
  search.json: |
    {"name": "io.github.acme/search", "version": "2.1.0",
     "packages": [{"registryType": "oci", "identifier": "ghcr.io/acme/search-mcp:2.1.0",
                   "transport": {"type": "streamable-http", "url": "http://localhost:9000/api/mcp"}}]}
  analytics.json: |
    {"name": "com.example/analytics", "version": "3.0.0",
     "remotes": [{"type": "sse", "url": "https://acme.mcp.example.com/sse"}]}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPRegistry
metadata: {name: internal, namespace: tools}
spec: {configMapRef: {name: catalog}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPRegistry
metadata: {name: public, namespace: tools}
spec: {url: "https://registry.example.com"}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: search, namespace: tools, labels: {gateway: main}}
spec: {registry: {name: internal, server: io.github.acme/search}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: analytics, namespace: tools, labels: {gateway: main}}
spec: {registry: {name: internal, server: com.example/analytics}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: elsewhere, namespace: tools, labels: {gateway: main}}
spec: {registry: {name: public, server: io.github.acme/search}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: main, namespace: tools}
spec: {serverSelector: {matchLabels: {gateway: main}}}
"#,
    );
    assert!(ok, "{stderr}");
    let config_map = serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "main-config")
        .unwrap_or_else(|| panic!("no gateway config in:\n{text}"));
    let config: Value =
        serde_saphyr::from_str(config_map["data"]["gateway.yaml"].as_str().unwrap()).unwrap();
    let servers: Vec<(&str, &str, &str)> = config["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["url"].as_str().unwrap(),
                s["transport"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        servers,
        [
            ("analytics", "https://acme.mcp.example.com/sse", "sse"),
            (
                "search",
                "http://search.tools.svc:9000/api/mcp",
                "streamable-http"
            ),
        ]
    );
    assert!(
        text.contains("# not served: MCPServer elsewhere: its catalog entry (spec.registry) does not resolve: MCPRegistry public (https://registry.example.com) is synced only by the operator"),
        "{text}"
    );
}

/// What the API server refuses is refused here, in its words (the same ones
/// crates/hangar-api/tests/admission.rs gets from a real one), every error of
/// the file, each object named.
#[test]
fn what_the_api_server_refuses_does_not_render() {
    let (ok, text, stderr) = render_text(
        "refused",
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: ttl}\nspec: {image: nginx, replicas: 0, idleTTL: 5 minutes}\n---\napiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: port}\nspec: {image: nginx, port: 70000, healthCheck: {interval: 10s, timeout: 1m}}\n",
    );
    assert!(!ok, "rendered what the API server refuses:\n{text}");
    for expected in [
        "manifests.yaml: MCPServer \"ttl\" is invalid",
        "spec.idleTTL: Invalid value: \"5 minutes\": must be a positive duration such as 30s, 5m or 1h30m",
        "manifests.yaml: MCPServer \"port\" is invalid",
        "spec.port: Invalid value: 70000: spec.port must be between 1 and 65535",
        "spec.healthCheck.timeout: Invalid value: spec.healthCheck.timeout must not be longer than spec.healthCheck.interval",
    ] {
        assert!(stderr.contains(expected), "lacks {expected:?}:\n{stderr}");
    }
}
