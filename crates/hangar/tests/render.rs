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
fn the_seed_example_renders_restricted_with_default_resources() {
    let objects = render("examples/kubernetes/basic-server.yaml");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Service", "Deployment"]);
    let pod = &objects[1]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "python:3.11-slim");
    assert_eq!(
        container["command"],
        serde_json::json!(["python", "-m", "mcp_server_filesystem"])
    );
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["resources"]["requests"]["memory"], "128Mi");
    assert_eq!(container["resources"]["limits"]["cpu"], "1");
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
