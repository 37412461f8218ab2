//! The committed JSON Schema of the config file must match the Rust types.

use std::path::Path;

#[test]
fn committed_schema_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway-config.schema.json");
    let current = hangar_config::json_schema();
    if std::env::var_os("HANGAR_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).expect("write the schema file");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "{} is out of date with the config types; regenerate it with\n  HANGAR_UPDATE_SCHEMA=1 cargo test -p hangar-config --test config_schema",
        path.display()
    );
}

#[test]
fn the_schema_accepts_a_full_config_and_rejects_a_wrong_kind() {
    let schema: serde_json::Value = serde_json::from_str(&hangar_config::json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let config = hangar_config::GatewayConfig::parse(
        r##"
apiVersion: gateway.mcp-hangar.io/v1alpha1
kind: GatewayConfig
gateway: {name: test, allowedHosts: ["*"], defaultTimeout: 10s}
naming: {prefix: true, separator: "__", onConflict: KeepFirst}
tools:
  - name: echo
    annotations: {readOnlyHint: true}
    inputSchema: {type: object}
    backend: {url: "http://127.0.0.1:1/echo", method: PUT, headers: [{name: X-Key, valueFromEnv: HOME}]}
prompts:
  - name: greet
    arguments: [{name: who, required: true}]
    messages: [{role: user, text: "hi {{who}}"}]
resources:
  - {uri: "docs://a", name: a, mimeType: text/markdown, text: "# a"}
servers:
  - {name: time, transport: stdio, command: mcp-server-time, env: [{name: TZ, value: UTC}]}
  - {name: web, transport: streamable-http, url: "http://127.0.0.1:1/mcp", timeout: 5s, protocol: legacy}
"##,
        "inline",
    )
    .expect("valid config");
    let json = serde_json::to_value(&config).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut wrong = json.clone();
    wrong["kind"] = "Gateway".into();
    assert!(!validator.is_valid(&wrong));
}
