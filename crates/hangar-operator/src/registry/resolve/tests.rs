use super::*;
use crate::registry::schema::read_entry;
use serde_json::json;

fn entry(detail: serde_json::Value) -> ServerDetail {
    read_entry(detail).unwrap().server
}

fn spec(yaml: &str) -> MCPServerSpec {
    let value: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    serde_json::from_value(value).unwrap()
}

fn weather() -> ServerDetail {
    entry(json!({
        "name": "io.github.acme/weather", "version": "1.2.0",
        "packages": [{
            "registryType": "npm", "identifier": "@acme/weather-mcp", "version": "1.2.0",
            "runtimeHint": "npx",
            "runtimeArguments": [{"type": "named", "name": "--registry", "value": "https://npm.acme.dev"}],
            "transport": {"type": "stdio"},
            "packageArguments": [
                {"type": "named", "name": "--units", "default": "metric"},
                {"type": "named", "name": "--verbose"},
                {"type": "positional", "valueHint": "region", "value": "{area}-1",
                 "variables": {"area": {"default": "eu"}}}
            ],
            "environmentVariables": [
                {"name": "WEATHER_API_KEY", "description": "API key of the weather service", "isRequired": true, "isSecret": true},
                {"name": "WEATHER_CACHE", "default": "/tmp/weather"},
                {"name": "WEATHER_PROXY"}
            ]
        }]
    }))
}

const WITH_KEY: &str =
    "env: [{name: WEATHER_API_KEY, valueFrom: {secretKeyRef: {name: weather, key: api-key}}}]";

#[test]
fn npm_runs_with_npx_in_node() {
    let resolved = resolve(&weather(), &spec(WITH_KEY)).unwrap();
    let out = resolved.spec;
    assert_eq!(
        (out.image.as_deref(), out.tag.as_deref().unwrap_or_default()),
        (Some("node"), "22-slim")
    );
    assert_eq!(
        out.command,
        [
            "npx",
            "-y",
            "--registry=https://npm.acme.dev",
            "@acme/weather-mcp@1.2.0"
        ]
    );
    assert_eq!(out.args, ["--units=metric", "eu-1"]);
    assert_eq!(out.transport, Transport::Stdio);
    let names: Vec<&str> = out.env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["WEATHER_API_KEY", "WEATHER_CACHE"]);
    assert!(out.env[0].value_from.is_some());
    assert_eq!(out.env[1].value.as_deref(), Some("/tmp/weather"));
    assert_eq!(
        resolved.summary,
        "npm package @acme/weather-mcp@1.2.0 run with npx in node:22-slim"
    );
}

#[test]
fn fields_set_in_the_spec_win() {
    let own = spec(&format!(
        "{{image: registry.acme.dev/node, tag: '20', command: [node, /app/index.js], args: [--fast], transport: sse, port: 3000, {WITH_KEY}}}"
    ));
    let out = resolve(&weather(), &own).unwrap().spec;
    assert_eq!(out.image.as_deref(), Some("registry.acme.dev/node"));
    assert_eq!(out.tag.as_deref(), Some("20"));
    assert_eq!(out.command, ["node", "/app/index.js"]);
    assert_eq!(out.args, ["--fast"]);
    assert_eq!(out.transport, Transport::Sse);
    assert_eq!(out.port, 3000);

    // A tag alone pins the runtime image.
    let tagged = spec(&format!("{{tag: 20-alpine, {WITH_KEY}}}"));
    let out = resolve(&weather(), &tagged).unwrap().spec;
    assert_eq!(
        (out.image.as_deref(), out.tag.as_deref().unwrap_or_default()),
        (Some("node"), "20-alpine")
    );
}

#[test]
fn required_and_secret_variables_are_enforced() {
    let missing = resolve(&weather(), &spec("{}")).unwrap_err();
    assert_eq!(missing.reason(), "MissingEnvironmentVariable");
    assert_eq!(
        missing.to_string(),
        "it needs the environment variable WEATHER_API_KEY (API key of the weather service): add it to spec.env from a Secret with valueFrom.secretKeyRef"
    );
    let literal = resolve(
        &weather(),
        &spec("env: [{name: WEATHER_API_KEY, value: hunter2}]"),
    )
    .unwrap_err();
    assert_eq!(
        literal.to_string(),
        "environment variable WEATHER_API_KEY is a secret: take it from a Secret with valueFrom.secretKeyRef"
    );
    let from_config_map = resolve(
        &weather(),
        &spec("env: [{name: WEATHER_API_KEY, valueFrom: {configMapKeyRef: {name: settings, key: key}}}]"),
    )
    .unwrap_err();
    assert_eq!(from_config_map, literal);
}

#[test]
fn pypi_runs_with_uvx() {
    let time = entry(json!({
        "name": "io.github.acme/time", "version": "0.6.2",
        "packages": [{
            "registryType": "pypi", "identifier": "mcp-server-time", "version": "0.6.2",
            "transport": {"type": "stdio"},
            "packageArguments": [{"type": "named", "name": "--local-timezone", "default": "UTC"}]
        }]
    }));
    let out = resolve(&time, &spec("{}")).unwrap().spec;
    assert_eq!(
        (out.image.as_deref(), out.tag.as_deref().unwrap_or_default()),
        (Some(UV_IMAGE.0), UV_IMAGE.1)
    );
    assert_eq!(out.command, ["uvx", "mcp-server-time==0.6.2"]);
    assert_eq!(out.args, ["--local-timezone=UTC"]);
}

#[test]
fn oci_runs_the_image_as_is_and_listens_where_its_url_says() {
    let search = entry(json!({
        "name": "io.github.acme/search", "version": "2.1.0",
        "packages": [{
            "registryType": "oci", "identifier": "ghcr.io/acme/search-mcp:2.1.0",
            "runtimeHint": "docker",
            "runtimeArguments": [{"type": "named", "name": "-p", "value": "9000:9000"}],
            "transport": {"type": "streamable-http", "url": "http://localhost:{PORT}/api/mcp"},
            "packageArguments": [{"type": "named", "name": "--index", "value": "/data"}],
            "environmentVariables": [{"name": "PORT", "default": "9000"}]
        }]
    }));
    let out = resolve(&search, &spec("{}")).unwrap().spec;
    assert_eq!(
        (out.image.as_deref(), out.tag.as_deref().unwrap_or_default()),
        (Some("ghcr.io/acme/search-mcp"), "2.1.0")
    );
    assert!(out.command.is_empty(), "the image's entrypoint runs");
    assert_eq!(out.args, ["--index=/data"]);
    assert_eq!(out.transport, Transport::StreamableHttp);
    assert_eq!((out.port, out.path.as_str()), (9000, "/api/mcp"));

    // The port variable follows the spec's value for it.
    let out = resolve(&search, &spec("env: [{name: PORT, value: '7000'}]"))
        .unwrap()
        .spec;
    assert_eq!(out.port, 7000);
}

#[test]
fn oci_stdio_needs_the_command() {
    let fs = entry(json!({
        "name": "io.github.acme/fs", "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": "docker.io/acme/fs@sha256:abc", "transport": {"type": "stdio"}}]
    }));
    let error = resolve(&fs, &spec("{}")).unwrap_err();
    assert_eq!(error.reason(), "CommandRequired");
    assert!(
        error.to_string().contains("docker.io/acme/fs@sha256:abc"),
        "{error}"
    );
    let out = resolve(&fs, &spec("{command: [/bin/fs-mcp]}"))
        .unwrap()
        .spec;
    assert_eq!(out.command, ["/bin/fs-mcp"]);
    assert_eq!(out.tag.as_deref(), Some("sha256:abc"));
}

#[test]
fn a_remote_only_entry_becomes_a_remote_server() {
    let analytics = entry(json!({
        "name": "com.example/analytics", "version": "3.0.0",
        "remotes": [
            {"type": "sse", "url": "https://{tenant}.mcp.example.com/sse",
             "variables": {"tenant": {"default": "acme"}}},
            {"type": "streamable-http", "url": "https://{tenant}.mcp.example.com/mcp",
             "variables": {"tenant": {"default": "acme"}},
             "headers": [
                {"name": "X-Region", "default": "eu-west-1"},
                {"name": "Authorization", "isRequired": true, "isSecret": true}
             ]}
        ]
    }));
    // Streamable HTTP is preferred; that remote wants a token.
    let error = resolve(&analytics, &spec("{}")).unwrap_err();
    assert_eq!(error.reason(), "MissingHeader");
    let with_token = spec(
        "headers: [{name: authorization, valueFrom: {secretKeyRef: {name: analytics, key: token}}}]",
    );
    let out = resolve(&analytics, &with_token).unwrap().spec;
    assert_eq!(out.mode, ServerMode::Remote);
    assert_eq!(out.transport, Transport::StreamableHttp);
    assert_eq!(
        out.endpoint.as_deref(),
        Some("https://acme.mcp.example.com/mcp")
    );
    let names: Vec<&str> = out.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["X-Region", "authorization"]);

    // A spec that asks for SSE gets the SSE remote, which wants no header.
    let out = resolve(&analytics, &spec("{transport: sse}")).unwrap().spec;
    assert_eq!(out.transport, Transport::Sse);
    assert_eq!(
        out.endpoint.as_deref(),
        Some("https://acme.mcp.example.com/sse")
    );
    assert!(out.headers.is_empty());
}

#[test]
fn remote_headers_and_variables() {
    let api = entry(json!({
        "name": "com.example/api", "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": "https://{tenant}.example.com/mcp",
            "variables": {"tenant": {"isRequired": true, "description": "your tenant"}},
            "headers": [
                {"name": "X-Region", "default": "eu-west-1"},
                {"name": "Authorization", "isRequired": true, "isSecret": true}
            ]}]
    }));
    let error = resolve(&api, &spec("{}")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "it needs a value for {tenant} in the URL https://{tenant}.example.com/mcp (your tenant), which has no default: set spec.endpoint to the complete URL"
    );
    let error = resolve(
        &api,
        &spec("{mode: remote, endpoint: 'https://acme.example.com/mcp'}"),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "it needs the header Authorization: add it to spec.headers with valueFrom.secretKeyRef"
    );
    let out = resolve(
        &api,
        &spec("{mode: remote, endpoint: 'https://acme.example.com/mcp', headers: [{name: authorization, valueFrom: {secretKeyRef: {name: api, key: token}}}, {name: X-Trace, value: '1'}]}"),
    )
    .unwrap()
    .spec;
    let names: Vec<&str> = out.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["X-Region", "authorization", "X-Trace"]);
    assert_eq!(
        out.endpoint.as_deref(),
        Some("https://acme.example.com/mcp")
    );
}

#[test]
fn entries_hangar_cannot_run_say_so() {
    let nuget = entry(json!({
        "name": "io.github.acme/dotnet", "version": "1.0.0",
        "packages": [{"registryType": "nuget", "identifier": "Acme.Mcp", "version": "1.0.0"}]
    }));
    assert_eq!(
        resolve(&nuget, &spec("{}")).unwrap_err().to_string(),
        "it has no package Hangar can run (it has: nuget) and no remote endpoint; Hangar runs oci, npm and pypi packages"
    );
    let required = entry(json!({
        "name": "io.github.acme/files", "version": "1.0.0",
        "packages": [{"registryType": "npm", "identifier": "@acme/files",
            "packageArguments": [{"type": "positional", "valueHint": "root_dir", "isRequired": true, "description": "directory to serve"}]}]
    }));
    assert_eq!(
        resolve(&required, &spec("{}")).unwrap_err().to_string(),
        "it needs the package argument root_dir (directory to serve): set spec.args to the complete argument list"
    );
    let out = resolve(&required, &spec("{args: [/data]}")).unwrap().spec;
    assert_eq!(out.command, ["npx", "-y", "@acme/files"]);
    assert_eq!(out.args, ["/data"]);
}

#[test]
fn templates_keep_unknown_names() {
    let values = BTreeMap::from([("a".to_string(), "1".to_string())]);
    assert_eq!(substitute("x{a}y{b}z{", &values), "x1y{b}z{");
    assert_eq!(
        split_oci_identifier("localhost:5000/acme/app", Some("3")),
        ("localhost:5000/acme/app".into(), "3".into())
    );
}
