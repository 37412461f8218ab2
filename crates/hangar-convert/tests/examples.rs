//! The manifests in `examples/migration/` (one directory per source API, the
//! seeds' README examples as written among them) convert to the objects in the
//! snapshots, with the reports in the snapshots; and conversion is stable.

use std::path::{Path, PathBuf};

use hangar_convert::{Conversion, Disposition, output};
use hangar_manifests::read_documents;
use serde_json::Value;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/migration")
}

/// The example files, relative to `examples/migration`, in name order.
fn example_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(examples_dir()).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "yaml") {
                let relative = file.strip_prefix(examples_dir()).unwrap();
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The documents of an example, named as `hangar convert -f examples/migration/FILE`
/// names them, so the snapshots do not depend on where the repository is.
fn documents(file: &str) -> Vec<hangar_manifests::Document> {
    let mut documents =
        read_documents(&examples_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    for document in &mut documents {
        document.source = format!("examples/migration/{file}");
    }
    documents
}

fn convert(file: &str) -> Conversion {
    hangar_convert::convert(&documents(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn objects(conversion: &Conversion) -> Vec<&Value> {
    conversion
        .items
        .iter()
        .filter_map(|item| item.object.as_ref())
        .collect()
}

fn spec_of<'a>(conversion: &'a Conversion, name: &str) -> &'a Value {
    &objects(conversion)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no object {name}"))["spec"]
}

#[test]
fn every_example_converts_as_in_its_snapshot() {
    let files = example_files();
    assert!(files.len() >= 11, "examples: {files:?}");
    for file in files {
        let conversion = convert(&file);
        assert!(
            conversion
                .items
                .iter()
                .all(|item| matches!(item.disposition, Disposition::Converted(_))),
            "{file}: every object is of a source API"
        );
        let text = format!(
            "# stderr\n{}\n# stdout\n{}",
            output::summary(&conversion),
            output::yaml(&conversion).unwrap()
        );
        let name = file.trim_end_matches(".yaml").replace('/', "__");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn the_seed_readme_examples_keep_what_they_ask_for() {
    // Seed 000: the image's tag moves to spec.tag.
    let readme = convert("mcp-hangar/readme.yaml");
    let spec = spec_of(&readme, "my-tools");
    assert_eq!(spec["image"], "ghcr.io/my-org/my-mcp-tools");
    assert_eq!(spec["tag"], "latest");
    assert_eq!(spec["resources"]["requests"]["cpu"], "100m");
    assert_eq!(readme.unmapped_count(), 0);

    // Seed 002: every field of its README examples has a Hangar equivalent.
    for file in [
        "mcp-io/readme-quickstart.yaml",
        "mcp-io/readme-examples.yaml",
    ] {
        assert_eq!(convert(file).unmapped_count(), 0, "{file}");
    }
    let examples = convert("mcp-io/readme-examples.yaml");
    let postgres = spec_of(&examples, "postgres-server");
    assert_eq!(
        postgres["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "postgres-secret"
    );
    let quickstart = convert("mcp-io/readme-quickstart.yaml");
    let filesystem = spec_of(&quickstart, "filesystem-server");
    assert_eq!(filesystem["port"], 8080);
    assert_eq!(filesystem["args"][1], "/app/data");

    // Seed 001: the gateway keeps its selector; its tools keep their labels.
    let gateway = convert("mcp-example/gateway.yaml");
    let kinds: Vec<&str> = objects(&gateway)
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["MCPGateway", "MCPTool", "MCPPrompt", "MCPResource"]);
    assert_eq!(
        spec_of(&gateway, "platform")["toolSelector"]["matchLabels"]["gateway"],
        "platform"
    );
    for object in &objects(&gateway)[1..] {
        assert_eq!(object["metadata"]["labels"]["gateway"], "platform");
    }
}

#[test]
fn toolhive_groups_become_labels_the_gateway_selects() {
    let conversion = convert("toolhive/virtual.yaml");
    let group = &conversion.items[0];
    assert_eq!(group.origin.kind, "MCPGroup");
    assert!(group.object.is_none());
    let fetch = objects(&conversion)
        .into_iter()
        .find(|o| o["metadata"]["name"] == "fetch")
        .unwrap();
    assert_eq!(
        fetch["metadata"]["labels"]["mcp-hangar.io/toolhive-group"],
        "my-services"
    );
    let gateway = spec_of(&conversion, "vmcp-prefix-strategy");
    assert_eq!(
        gateway["serverSelector"]["matchLabels"]["mcp-hangar.io/toolhive-group"],
        "my-services"
    );
    // The same OIDC tokens, never an open gateway.
    assert_eq!(
        gateway["auth"]["oidc"]["issuer"],
        "https://idp.example.com/realms/platform"
    );
    assert_eq!(gateway["auth"]["oidc"]["audiences"][0], "vmcp-api");
}

#[test]
fn the_same_input_gives_the_same_output_whatever_its_key_order() {
    for file in example_files() {
        let documents = documents(&file);
        let first = output::yaml(&hangar_convert::convert(&documents).unwrap()).unwrap();
        // Reverse every map's key order (serde_json keeps insertion order
        // when built with preserve_order; sorted otherwise: both must give one output).
        let reversed: Vec<_> = documents
            .iter()
            .map(|d| hangar_manifests::Document {
                value: reverse_keys(&d.value),
                ..d.clone()
            })
            .collect();
        let second = output::yaml(&hangar_convert::convert(&reversed).unwrap()).unwrap();
        assert_eq!(first, second, "{file}");
    }
}

fn reverse_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map.iter().rev() {
                out.insert(key.clone(), reverse_keys(value));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reverse_keys).collect()),
        other => other.clone(),
    }
}
