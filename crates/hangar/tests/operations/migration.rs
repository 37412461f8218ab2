//! Coming from another MCP operator: the `hangar convert` binary turns every
//! manifest in `examples/migration/` into objects the real API server accepts
//! (server-side apply, strict field validation, the CRDs' CEL rules), which
//! `hangar render` turns into the expected workloads. The CLI reads files,
//! directories, stdin and `kubectl get -o yaml` lists, writes a directory,
//! fails under `--strict`; `hangar render`/`up` and the operator name
//! `hangar convert` when they meet a foreign kind.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hangar_testenv::shared;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::support::{Operator, apply_all, documents, eventually, kind_of, name_of, repo_root};

fn hangar(args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command
        .args(args)
        .current_dir(repo_root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("running hangar");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `hangar convert ARGS`, which must succeed: (stdout, stderr).
fn convert(args: &[&str], stdin: Option<&str>) -> (String, String) {
    let mut all = vec!["convert"];
    all.extend(args);
    let output = hangar(&all, stdin);
    assert!(
        output.status.success(),
        "hangar {}: {}",
        all.join(" "),
        text(&output.stderr)
    );
    (text(&output.stdout), text(&output.stderr))
}

/// `hangar render -f PATH`, which must succeed, as objects.
fn render(path: &Path) -> Vec<Value> {
    let output = hangar(&["render", "-f", path.to_str().unwrap()], None);
    assert!(
        output.status.success(),
        "hangar render {}: {}",
        path.display(),
        text(&output.stderr)
    );
    documents(&text(&output.stdout))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| kind_of(o) == kind && name_of(o) == name)
        .unwrap_or_else(|| {
            let all: Vec<String> = objects
                .iter()
                .map(|o| format!("{} {}", kind_of(o), name_of(o)))
                .collect();
            panic!("no {kind} {name} among {all:?}")
        })
}

fn container<'a>(objects: &'a [Value], deployment: &str) -> &'a Value {
    &find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
}

/// What each converted example must render to, beyond being accepted.
fn check_workload(file: &str, objects: &[Value]) {
    match file {
        "mcp-hangar/readme.yaml" => {
            let server = container(objects, "my-tools");
            assert_eq!(server["image"], "ghcr.io/my-org/my-mcp-tools:latest");
            assert_eq!(server["resources"]["requests"]["cpu"], "100m");
        }
        "mcp-hangar/providers.yaml" => {
            let server = container(objects, "github-tools");
            assert_eq!(server["image"], "ghcr.io/acme/github-mcp:1.4.2");
            assert_eq!(
                server["env"][0]["valueFrom"]["secretKeyRef"]["name"],
                "github"
            );
            let pod = &find(objects, "Deployment", "github-tools")["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsUser"], 10001);
            assert_eq!(
                find(objects, "Deployment", "github-tools")["spec"]["replicas"],
                2
            );
        }
        "mcp-io/readme-quickstart.yaml" => {
            let server = container(objects, "filesystem-server");
            assert_eq!(server["image"], "mcp-server-filesystem:latest");
            assert_eq!(
                server["command"],
                json!(["python", "-m", "mcp_server_filesystem"])
            );
            assert_eq!(server["args"], json!(["--allowed-dirs", "/app/data"]));
            assert_eq!(server["ports"][0]["containerPort"], 8080);
            assert_eq!(server["resources"]["limits"]["memory"], "128Mi");
        }
        "mcp-io/readme-examples.yaml" => {
            assert_eq!(
                container(objects, "filesystem-server")["image"],
                "python:3.11-slim"
            );
            assert_eq!(
                container(objects, "git-server")["command"],
                json!(["mcp-server-git"])
            );
            let database = &container(objects, "postgres-server")["env"][0];
            assert_eq!(database["name"], "DATABASE_URL");
            assert_eq!(database["valueFrom"]["secretKeyRef"]["key"], "database-url");
        }
        "mcp-io/placement.yaml" => {
            let service = find(objects, "Service", "search-server");
            assert_eq!(service["spec"]["type"], "LoadBalancer");
            assert_eq!(service["spec"]["ports"][0]["port"], 9000);
            let autoscaler = find(objects, "HorizontalPodAutoscaler", "search-server");
            assert_eq!(autoscaler["spec"]["maxReplicas"], 6);
            let pod = &find(objects, "Deployment", "search-server")["spec"]["template"]["spec"];
            assert_eq!(pod["nodeSelector"]["disktype"], "ssd");
            assert_eq!(pod["tolerations"][0]["key"], "mcp-servers");
            let key = &container(objects, "search-server")["env"][0];
            assert_eq!(key["valueFrom"]["secretKeyRef"]["name"], "search-api");
        }
        "mcp-example/gateway.yaml" => {
            assert_eq!(
                find(objects, "Deployment", "platform")["spec"]["replicas"],
                3
            );
            let config = find(objects, "ConfigMap", "platform-config");
            let config: Value =
                serde_saphyr::from_str(config["data"]["gateway.yaml"].as_str().unwrap()).unwrap();
            assert_eq!(config["tools"][0]["name"], "weather");
            assert_eq!(config["prompts"][0]["name"], "incident-summary");
            assert_eq!(config["resources"][0]["uri"], "docs://runbooks/on-call");
            assert!(objects.iter().any(|o| kind_of(o) == "Ingress"));
        }
        "toolhive/servers.yaml" => {
            let github = &find(objects, "Deployment", "github")["spec"]["template"]["spec"];
            assert_eq!(github["initContainers"][0]["name"], "install-bridge");
            let command = github["containers"][0]["command"].as_array().unwrap();
            let tail: Vec<&str> = command
                .iter()
                .rev()
                .take(3)
                .rev()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert_eq!(tail, ["--", "/server/github-mcp-server", "stdio"]);
            assert!(command.iter().any(|c| c == "0.0.0.0:8080"), "{command:?}");
            let token = github["containers"][0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "GITHUB_PERSONAL_ACCESS_TOKEN")
                .expect("the secret as an environment variable");
            assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "github-token");
            assert_eq!(
                container(objects, "fetch")["ports"][0]["containerPort"],
                8080
            );
            let sse = &find(objects, "Deployment", "mcp-fetch-sse")["spec"]["template"]["spec"];
            assert_eq!(sse["tolerations"][0]["value"], "mcp-servers");
            assert_eq!(sse["containers"][0]["securityContext"]["runAsUser"], 1000);
        }
        "toolhive/virtual.yaml" => {
            let config = find(objects, "ConfigMap", "vmcp-prefix-strategy-config");
            let config: Value =
                serde_saphyr::from_str(config["data"]["gateway.yaml"].as_str().unwrap()).unwrap();
            let mut servers: Vec<&str> = config["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap())
                .collect();
            servers.sort();
            assert_eq!(servers, ["fetch", "yardstick-streamable"]);
            assert_eq!(
                find(objects, "Deployment", "vmcp-prefix-strategy")["spec"]["replicas"],
                1
            );
        }
        "kmcp/servers.yaml" => {
            let everything = container(objects, "everything");
            let command: Vec<&str> = everything["command"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert!(
                command.ends_with(&["--", "npx", "-y", "@modelcontextprotocol/server-everything"]),
                "{command:?}"
            );
            assert_eq!(everything["image"], "node:24-alpine3.21");
            assert_eq!(everything["ports"][0]["containerPort"], 3000);
            let grafana = container(objects, "grafana");
            assert_eq!(grafana["ports"][0]["containerPort"], 8000);
            assert_eq!(
                grafana["envFrom"][0]["secretRef"]["name"],
                "grafana-credentials"
            );
        }
        "mcp-lifecycle/readme.yaml" => {
            let server = container(objects, "test-server");
            assert_eq!(
                server["image"],
                "quay.io/containers/kubernetes_mcp_server:latest"
            );
            assert_eq!(server["ports"][0]["containerPort"], 8080);
        }
        "mcp-lifecycle/complete.yaml" => {
            let server = container(objects, "kubernetes-mcp");
            assert_eq!(server["args"][0], "--config");
            let mounts = server["volumeMounts"].as_array().unwrap();
            assert!(
                mounts
                    .iter()
                    .any(|m| m["mountPath"] == "/etc/mcp-config" && m["readOnly"] == true)
            );
            assert!(
                mounts
                    .iter()
                    .any(|m| m["mountPath"] == "/var/scratch" && m["readOnly"] == false)
            );
            let pod = &find(objects, "Deployment", "kubernetes-mcp")["spec"]["template"]["spec"];
            assert_eq!(pod["serviceAccountName"], "mcp-viewer");
        }
        other => panic!("{other}: add what it must render to"),
    }
}

/// Every file of `examples/migration/`, relative to it.
fn migration_examples() -> Vec<String> {
    let root = repo_root().join("examples/migration");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            files.push(path.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn every_migration_example_is_accepted_and_renders_its_workload() {
    let plane = shared().await;
    plane.install_crds(hangar_api::crds()).await;
    let admin = plane.client();
    let scratch = tempfile::tempdir().unwrap();
    for file in migration_examples() {
        let path = format!("examples/migration/{file}");
        let (stdout, stderr) = convert(&["-f", &path], None);
        assert!(stderr.contains("hangar convert: "), "{file}: {stderr}");
        // Each example in a namespace of its own, so the gateways select only their objects.
        let namespace = plane.namespace().await;
        let mut objects = documents(&stdout);
        assert!(!objects.is_empty(), "{file}: nothing converted");
        for object in &mut objects {
            object["metadata"]["namespace"] = Value::from(namespace.clone());
        }
        apply_all(&admin, &objects, &namespace).await;
        let converted = scratch.path().join(file.replace('/', "-"));
        let yaml: String = objects
            .iter()
            .map(|o| format!("---\n{}", serde_saphyr::to_string(o).unwrap()))
            .collect();
        std::fs::write(&converted, yaml).unwrap();
        check_workload(&file, &render(&converted));
    }
}

/// `kubectl get mcpservers.toolhive.stacklok.dev -o yaml`, as kubectl prints it.
const KUBECTL_LIST: &str = r#"
apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: toolhive.stacklok.dev/v1beta1
  kind: MCPServer
  metadata:
    annotations:
      kubectl.kubernetes.io/last-applied-configuration: |
        {"apiVersion":"toolhive.stacklok.dev/v1beta1","kind":"MCPServer"}
    creationTimestamp: "2026-05-01T10:00:00Z"
    finalizers: [mcpserver.toolhive.stacklok.dev/finalizer]
    generation: 3
    name: fetch
    namespace: toolhive-system
    resourceVersion: "48151"
    uid: 0b6bd4c4-2f0e-4f5e-9d55-1a2b3c4d5e6f
  spec:
    image: ghcr.io/stackloklabs/gofetch/server:1.0.1
    mcpPort: 8080
    proxyMode: streamable-http
    proxyPort: 8080
    resources: {}
    sessionAffinity: ClientIP
    transport: streamable-http
  status:
    phase: Running
    url: http://mcp-fetch-proxy.toolhive-system.svc.cluster.local:8080
"#;

#[test]
fn stdin_lists_directories_and_an_output_directory() {
    // A `kubectl get -o yaml` list on stdin: what the old API server added is left behind.
    let (stdout, stderr) = convert(&["-f", "-"], Some(KUBECTL_LIST));
    let objects = documents(&stdout);
    assert_eq!(objects.len(), 1, "{stdout}");
    let server = &objects[0];
    assert_eq!(
        server["metadata"],
        json!({"name": "fetch", "namespace": "toolhive-system"})
    );
    assert_eq!(server["spec"]["tag"], "1.0.1");
    assert!(server.get("status").is_none());
    assert!(stdout.contains("((stdin), document 1, item 1)"), "{stdout}");
    assert!(
        stderr.contains("not carried over: spec.sessionAffinity"),
        "{stderr}"
    );
    assert!(stdout.contains("# Note: metadata.finalizers"), "{stdout}");

    // A directory, written to a directory: one file per object, which render reads back.
    let out = tempfile::tempdir().unwrap();
    let (stdout, stderr) = convert(
        &[
            "-f",
            "examples/migration/toolhive",
            "-o",
            out.path().to_str().unwrap(),
        ],
        None,
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("VirtualMCPServer default/vmcp-prefix-strategy → MCPGateway default/vmcp-prefix-strategy"), "{stderr}");
    let github =
        std::fs::read_to_string(out.path().join("toolhive-system/mcpserver-github.yaml")).unwrap();
    assert!(github.starts_with("---\n# Converted by `hangar convert` from toolhive.stacklok.dev/v1beta1 MCPServer toolhive-system/github"), "{github}");
    assert!(
        out.path()
            .join("default/mcpgateway-vmcp-prefix-strategy.yaml")
            .exists()
    );
    let rendered = render(out.path());
    assert!(
        rendered
            .iter()
            .any(|o| kind_of(o) == "Deployment" && name_of(o) == "github")
    );

    // Several -f, and the same input gives the same bytes.
    let args = [
        "-f",
        "examples/migration/kmcp",
        "-f",
        "examples/migration/mcp-lifecycle/readme.yaml",
    ];
    let (first, _) = convert(&args, None);
    let (second, _) = convert(&args, None);
    assert_eq!(first, second);
    assert_eq!(documents(&first).len(), 3);
}

#[test]
fn strict_fails_and_writes_nothing() {
    let output = hangar(
        &[
            "convert",
            "--strict",
            "-f",
            "examples/migration/kmcp/servers.yaml",
        ],
        None,
    );
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("not carried over: spec.timeout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--strict: 1 field(s) of 1 object(s) have no Hangar equivalent"),
        "{stderr}"
    );

    // Nothing to report: --strict passes.
    let output = hangar(
        &[
            "convert",
            "--strict",
            "-f",
            "examples/migration/mcp-io/readme-quickstart.yaml",
        ],
        None,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));

    // Two sources that become the same object: an error, nothing written.
    let output = hangar(&["convert", "-f", "examples/migration/mcp-io"], None);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("becomes MCPServer \"filesystem-server\""),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn render_and_up_name_hangar_convert_for_foreign_kinds() {
    for command in ["render", "up"] {
        let output = hangar(
            &[command, "-f", "examples/migration/toolhive/servers.yaml"],
            None,
        );
        assert!(
            !output.status.success(),
            "hangar {command} accepted a ToolHive manifest"
        );
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("belongs to ToolHive, not to Hangar: convert it with `hangar convert -f examples/migration/toolhive/servers.yaml`"),
            "hangar {command}: {stderr}"
        );
    }
    let output = hangar(&["render", "-f", "-"], Some(KUBECTL_LIST));
    assert!(
        text(&output.stderr).contains("`hangar convert -f -`"),
        "{}",
        text(&output.stderr)
    );
}

/// A CRD of another operator's kind, as small as the API server allows.
fn foreign_crd(group: &str, kind: &str, plural: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1beta1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn the_operator_names_hangar_convert_for_foreign_kinds_it_finds() {
    let plane = shared().await;
    plane.install_crds(hangar_api::crds()).await;
    plane
        .install_crds([
            foreign_crd("toolhive.stacklok.dev", "MCPServer", "mcpservers"),
            foreign_crd(
                "toolhive.stacklok.dev",
                "VirtualMCPServer",
                "virtualmcpservers",
            ),
            foreign_crd("kagent.dev", "MCPServer", "mcpservers"),
        ])
        .await;
    let namespace = plane.namespace().await;
    let operator = Operator::spawn(
        "foreign",
        plane.kubeconfig(),
        &[
            format!("--namespace={namespace}"),
            format!("--leader-elect-namespace={namespace}"),
        ],
        &[],
    );
    let warnings = eventually("the operator's warnings about foreign kinds", || {
        let records = operator.records();
        async move {
            let warnings: Vec<String> = records
                .iter()
                .filter(|r| r["level"] == "WARN")
                .filter_map(|r| r["message"].as_str().map(str::to_string))
                .filter(|m| m.contains("hangar convert"))
                .collect();
            (warnings.len() >= 2).then_some(warnings)
        }
    })
    .await;
    let toolhive = warnings
        .iter()
        .find(|m| m.contains("of ToolHive"))
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert!(
        toolhive.contains("MCPServer, VirtualMCPServer")
            && toolhive.contains("kubectl get mcpservers.toolhive.stacklok.dev,virtualmcpservers.toolhive.stacklok.dev -A -o yaml | hangar convert -f -"),
        "{toolhive}"
    );
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("of kmcp") && m.contains("mcpservers.kagent.dev")),
        "{warnings:?}"
    );
}
