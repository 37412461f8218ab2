//! The gateway end to end, in process, with rmcp clients in both protocol
//! eras: declared items, federation, change propagation, failures, reload.
//!
//! Long on purpose: one test binary (one link, one shared fixture upstream)
//! holds every in-process scenario, each test standing on its own.

mod support;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ErrorCode, GetPromptRequestParams, ReadResourceRequestParams,
    ResourceContents, SubscriptionFilter,
};
use rmcp::service::ServiceError;
use serde_json::json;
use support::*;

fn call(name: &str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args(arguments))
}

/// The secrets `declared_config` names, handed to the gateway explicitly.
fn declared_environment() -> hangar_config::Environment {
    hangar_config::Environment::fixed([("HANGAR_TEST_API_KEY", "sekret")])
}

fn declared_config(backend: &Served) -> String {
    format!(
        r##"{HEAD}
gateway: {{pageSize: 2}}
tools:
  - name: echo
    description: Echoes the arguments
    inputSchema: {{type: object, properties: {{text: {{type: string}}}}, required: [text]}}
    annotations: {{readOnlyHint: true}}
    backend:
      url: {echo}
      headers: [{{name: X-Api-Key, valueFromEnv: HANGAR_TEST_API_KEY}}]
  - name: search
    inputSchema: {{type: object, properties: {{q: {{type: string}}, n: {{type: integer}}}}}}
    backend: {{url: "{query}", method: GET}}
  - name: words
    backend: {{url: "{text}"}}
  - name: numbers
    backend: {{url: "{array}"}}
  - name: broken
    backend: {{url: "{fail}"}}
  - name: stuck
    backend: {{url: "{hang}", timeout: 300ms}}
  - name: typed
    outputSchema: {{type: object, properties: {{received: {{type: object}}}}, required: [received]}}
    backend: {{url: "{echo}"}}
prompts:
  - name: greet
    description: Greets someone
    arguments: [{{name: who, title: Who to greet, required: true}}, {{name: mood}}]
    messages:
      - {{text: "Say hello to {{{{who}}}} in a {{{{ mood }}}} way."}}
      - {{role: assistant, text: "Hello, {{{{who}}}}!"}}
resources:
  - {{uri: "docs://readme", name: readme, mimeType: text/markdown, text: "# Readme"}}
  - {{uri: "img://pixel", name: pixel, mimeType: image/png, blob: "{pixel}"}}
  - {{uri: "docs://remote", name: remote, http: {{url: "{doc}"}}}}
  - {{uri: "docs://posted", name: posted, http: {{url: "{array}", method: POST}}}}
"##,
        echo = backend.url("/echo"),
        query = backend.url("/query?fixed=1"),
        text = backend.url("/text"),
        array = backend.url("/array"),
        fail = backend.url("/fail"),
        hang = backend.url("/hang"),
        doc = backend.url("/doc"),
        pixel = fixture::RED_PIXEL_PNG,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_tools_prompts_and_resources_in_both_eras() {
    let backend = backend().await;
    let gw = TestGateway::start_in(&declared_config(&backend), declared_environment()).await;
    for stateless in [false, true] {
        let era = if stateless { "stateless" } else { "session" };
        let client = if stateless {
            stateless_client(&gw.mcp()).await
        } else {
            session_client(&gw.mcp()).await
        };

        // Lists are paged (pageSize 2) and complete.
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "echo", "search", "words", "numbers", "broken", "stuck", "typed"
            ],
            "{era}"
        );
        let first = client.list_tools(None).await.unwrap();
        assert_eq!(first.tools.len(), 2, "{era}: first page");
        assert!(
            first.next_cursor.is_some(),
            "{era}: a cursor to the next page"
        );
        assert_eq!(
            tools[0].annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );

        // A JSON object answer is structured content plus its text; headers come from the environment.
        let result = client
            .call_tool(call("echo", json!({"text": "hi"})))
            .await
            .unwrap();
        assert_ne!(result.is_error, Some(true), "{era}: {result:?}");
        let structured = result
            .structured_content
            .clone()
            .expect("structured content");
        assert_eq!(structured["received"]["text"], "hi");
        assert_eq!(structured["apiKey"], "sekret");
        assert!(first_text(&result).contains("\"received\""));

        // Arguments are validated before the backend is called.
        let result = client
            .call_tool(call("echo", json!({"text": 5})))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(true), "{era}");
        assert!(
            first_text(&result).contains("invalid arguments for tool echo"),
            "{}",
            first_text(&result)
        );

        // GET carries the arguments as query parameters.
        let result = client
            .call_tool(call("search", json!({"q": "rust mcp", "n": 3})))
            .await
            .unwrap();
        let query = &result.structured_content.unwrap()["query"];
        assert_eq!(query["q"], "rust mcp");
        assert_eq!(query["n"], "3");
        assert_eq!(query["fixed"], "1");

        // Text and non-object JSON answers stay text.
        let result = client.call_tool(call("words", json!({}))).await.unwrap();
        assert_eq!(first_text(&result), "plain words");
        assert!(result.structured_content.is_none());
        let result = client.call_tool(call("numbers", json!({}))).await.unwrap();
        assert_eq!(first_text(&result), "[1,2,3]");

        // Backend errors and timeouts are tool errors, not hung requests.
        let result = client.call_tool(call("broken", json!({}))).await.unwrap();
        assert_eq!(result.is_error, Some(true));
        assert!(
            first_text(&result).contains("502") && first_text(&result).contains("database is down"),
            "{}",
            first_text(&result)
        );
        let result = client.call_tool(call("stuck", json!({}))).await.unwrap();
        assert_eq!(result.is_error, Some(true));
        assert!(
            first_text(&result).contains("did not answer within 300ms"),
            "{}",
            first_text(&result)
        );

        // outputSchema is checked.
        let result = client
            .call_tool(call("typed", json!({"a": 1})))
            .await
            .unwrap();
        assert_ne!(result.is_error, Some(true), "{result:?}");

        // Unknown tools are a protocol error.
        match client.call_tool(call("nope", json!({}))).await {
            Err(ServiceError::McpError(e)) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS),
            other => panic!("{era}: expected invalid params, got {other:?}"),
        }

        // Prompts render their templates; a missing required argument is invalid params.
        let prompts = client.list_all_prompts().await.unwrap();
        assert_eq!(prompts.len(), 1);
        let arguments = prompts[0].arguments.as_deref().unwrap_or_default();
        assert_eq!(arguments[0].title.as_deref(), Some("Who to greet"), "{era}");
        let mut request = GetPromptRequestParams::new("greet");
        request.arguments = Some(args(json!({"who": "Ada", "mood": "cheerful"})));
        let prompt = client.get_prompt(request).await.unwrap();
        let messages = serde_json::to_value(&prompt.messages).unwrap();
        assert_eq!(
            messages[0]["content"]["text"],
            "Say hello to Ada in a cheerful way."
        );
        assert_eq!(messages[1]["role"], "assistant");
        match client
            .get_prompt(GetPromptRequestParams::new("greet"))
            .await
        {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS);
                assert!(e.message.contains("who"), "{}", e.message);
            }
            other => panic!("{era}: expected invalid params, got {other:?}"),
        }

        // Resources: inline text, inline blob, fetched over HTTP.
        let resources = client.list_all_resources().await.unwrap();
        assert_eq!(resources.len(), 4);
        let read = |uri: &str| client.read_resource(ReadResourceRequestParams::new(uri));
        match &read("docs://readme").await.unwrap().contents[0] {
            ResourceContents::TextResourceContents {
                text, mime_type, ..
            } => {
                assert_eq!(text, "# Readme");
                assert_eq!(mime_type.as_deref(), Some("text/markdown"));
            }
            other => panic!("{other:?}"),
        }
        match &read("img://pixel").await.unwrap().contents[0] {
            ResourceContents::BlobResourceContents {
                blob, mime_type, ..
            } => {
                assert_eq!(blob, fixture::RED_PIXEL_PNG);
                assert_eq!(mime_type.as_deref(), Some("image/png"));
            }
            other => panic!("{other:?}"),
        }
        match &read("docs://remote").await.unwrap().contents[0] {
            ResourceContents::TextResourceContents {
                text, mime_type, ..
            } => {
                assert!(text.starts_with("# Fetched"));
                assert_eq!(mime_type.as_deref(), Some("text/markdown"));
            }
            other => panic!("{other:?}"),
        }
        // Read with the method it declares (the backend answers only POST).
        match &read("docs://posted").await.unwrap().contents[0] {
            ResourceContents::TextResourceContents { text, .. } => assert_eq!(text, "[1,2,3]"),
            other => panic!("{other:?}"),
        }
        match read("docs://missing").await {
            Err(ServiceError::McpError(e)) => assert!(
                e.code == ErrorCode::RESOURCE_NOT_FOUND || e.code == ErrorCode::INVALID_PARAMS,
                "{era}: {e:?}"
            ),
            other => panic!("{era}: expected not found, got {other:?}"),
        }
        client.cancel().await.unwrap();
    }
    let metrics = gw.gateway.metrics().render();
    assert!(
        metrics.contains("hangar_gateway_mcp_requests_total{method=\"tools/call\",outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hangar_gateway_backend_errors_total{tool=\"stuck\",kind=\"timeout\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_prefixes_routes_and_pages() {
    let (upstream, state) = fixture("fixture-one").await;
    *state.bulk_tools.lock().unwrap() = 120;
    let gw = TestGateway::start(&format!(
        "{HEAD}gateway: {{pageSize: 40}}\nservers:\n  - {{name: fix, transport: streamable-http, url: \"{}\"}}\n",
        upstream.url("/mcp")
    ))
    .await;
    for stateless in [false, true] {
        let client = if stateless {
            stateless_client(&gw.mcp()).await
        } else {
            session_client(&gw.mcp()).await
        };
        let tools = client.list_all_tools().await.unwrap();
        assert!(
            tools.len() > 120 + 20,
            "every upstream page arrives: {}",
            tools.len()
        );
        assert!(
            tools.iter().all(|t| t.name.starts_with("fix_")),
            "all names are prefixed"
        );
        assert!(tools.iter().any(|t| t.name == "fix_bulk_0119"));

        let result = client
            .call_tool(call("fix_echo", json!({"text": "routed"})))
            .await
            .unwrap();
        assert_eq!(first_text(&result), "routed");
        let result = client
            .call_tool(call("fix_bulk_0042", json!({})))
            .await
            .unwrap();
        assert_eq!(first_text(&result), "bulk_0042 ran");

        let prompts = client.list_all_prompts().await.unwrap();
        assert!(prompts.iter().any(|p| p.name == "fix_test_simple_prompt"));
        let prompt = client
            .get_prompt(GetPromptRequestParams::new("fix_test_simple_prompt"))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&prompt.messages).unwrap()[0]["content"]["text"],
            "This is a simple prompt for testing."
        );

        let resources = client.list_all_resources().await.unwrap();
        assert!(
            resources
                .iter()
                .any(|r| r.uri == "test://static-text" && r.name == "fix_static-text")
        );
        let text = client
            .read_resource(ReadResourceRequestParams::new("test://template/7/data"))
            .await
            .unwrap();
        assert!(
            serde_json::to_string(&text.contents)
                .unwrap()
                .contains("Data for ID: 7")
        );
        let templates = client.list_all_resource_templates().await.unwrap();
        assert_eq!(templates[0].uri_template, "test://template/{id}/data");
        client.cancel().await.unwrap();
    }
    assert!(
        state.calls.lock().unwrap().contains(&"echo".to_string()),
        "the upstream saw its own tool name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_list_changes_reach_clients_in_both_eras() {
    // One upstream link per era: `up` speaks 2026-07-28 (changes arrive on a
    // subscriptions/listen stream), `old` the initialize handshake (plain notifications).
    let (modern, _) = fixture("changing").await;
    let (legacy, _) = fixture("changing-legacy").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: up, transport: streamable-http, url: \"{}\"}}\n  - {{name: old, transport: streamable-http, url: \"{}\", protocol: legacy}}\n",
        modern.url("/mcp"),
        legacy.url("/mcp")
    ))
    .await;
    let (_, detail) = gw.gateway.readiness();
    assert_eq!(
        detail["servers"]["up"]["protocolVersion"], "2026-07-28",
        "{detail}"
    );
    assert_eq!(
        detail["servers"]["old"]["protocolVersion"], "2025-11-25",
        "{detail}"
    );
    let recorder = Recorder::default();
    let session = recorder
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            gw.mcp(),
        ))
        .await
        .unwrap();
    let stateless = stateless_client(&gw.mcp()).await;
    let mut subscription = stateless
        .peer()
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await
        .expect("subscriptions/listen through the gateway");

    for (prefix, trigger) in [
        ("up", "up_test_trigger_tool_change"),
        ("old", "old_test_trigger_tool_change"),
    ] {
        recorder.0.lock().unwrap().clear();
        session.call_tool(call(trigger, json!({}))).await.unwrap();
        let seen = recorder.0.clone();
        eventually(
            "the session to hear tools/list_changed",
            Duration::from_secs(10),
            || seen.lock().unwrap().contains(&"tools"),
        )
        .await;
        let notification = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("a notification on the listen stream")
            .unwrap()
            .expect("the stream is open");
        assert!(
            matches!(
                notification,
                rmcp::model::ServerNotification::ToolListChangedNotification(_)
            ),
            "{notification:?}"
        );
        let tools = session.list_all_tools().await.unwrap();
        let added = format!("{prefix}_dynamic_tool_1");
        assert!(tools.iter().any(|t| t.name == added), "{added} is listed");
        let result = session.call_tool(call(&added, json!({}))).await.unwrap();
        assert_eq!(first_text(&result), "dynamic_tool_1 ran");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_fails_fast_while_the_rest_work() {
    let (healthy, _) = fixture("healthy").await;
    let (dying, dying_state) = fixture("dying").await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: ok, transport: streamable-http, url: \"{}\"}}\n  - {{name: dying, transport: streamable-http, url: \"{}\"}}\n  - {{name: dead, transport: streamable-http, url: \"http://{closed}/mcp\", connectTimeout: 2s}}\n",
        healthy.url("/mcp"),
        dying.url("/mcp"),
    ))
    .await;
    let client = session_client(&gw.mcp()).await;

    // Never connected: its names are unknown, but a prefixed call says why it fails.
    let result = client
        .call_tool(call("dead_anything", json!({})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        first_text(&result).contains("MCP server dead is unavailable"),
        "{}",
        first_text(&result)
    );

    // An upstream dying in the middle of a call ends that call with a clear error.
    let slow = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            peer.call_tool(call("dying_sleep", json!({"ms": 60000})))
                .await
        })
    };
    let seen = dying_state.clone();
    eventually(
        "the upstream to receive the call",
        Duration::from_secs(10),
        move || seen.calls.lock().unwrap().iter().any(|c| c == "sleep"),
    )
    .await;
    dying.stop();
    let result = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the call ends")
        .unwrap()
        .unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert!(
        first_text(&result).contains("dying"),
        "{}",
        first_text(&result)
    );

    // Known tools of a down server stay listed and fail fast.
    let result = client
        .call_tool(call("dying_echo", json!({"text": "x"})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        first_text(&result).contains("MCP server dying"),
        "{}",
        first_text(&result)
    );

    // Everyone else is unaffected.
    let result = client
        .call_tool(call("ok_echo", json!({"text": "still here"})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "still here");
    let (_, detail) = gw.gateway.readiness();
    assert_eq!(detail["servers"]["dead"]["state"], "down", "{detail}");
    assert_eq!(detail["servers"]["ok"]["state"], "ready", "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_clashes_are_reported_when_prefixing_is_off() {
    let (a, _) = fixture("a").await;
    let (b, _) = fixture("b").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}naming: {{prefix: false}}\nservers:\n  - {{name: a, transport: streamable-http, url: \"{}\"}}\n  - {{name: b, transport: streamable-http, url: \"{}\", prefix: \"b_\"}}\n  - {{name: c, transport: streamable-http, url: \"{}\"}}\n",
        a.url("/mcp"),
        b.url("/mcp"),
        a.url("/mcp"),
    ))
    .await;
    let client = session_client(&gw.mcp()).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        !tools.iter().any(|t| t.name == "echo"),
        "clashing names are withheld"
    );
    assert!(
        tools.iter().any(|t| t.name == "b_echo"),
        "a distinct prefix avoids the clash"
    );
    match client.call_tool(call("echo", json!({"text": "x"}))).await {
        Err(ServiceError::McpError(e)) => {
            assert!(
                e.message.contains("offered by server a and server c"),
                "{}",
                e.message
            );
            assert!(e.message.contains("naming.prefix"), "{}", e.message);
        }
        other => panic!("expected a clash error, got {other:?}"),
    }
    let (_, detail) = gw.gateway.readiness();
    assert!(
        detail["clashes"]
            .to_string()
            .contains("tool `echo` is offered by server a and server c"),
        "{detail}"
    );
}

/// Lays a config out the way the kubelet mounts a ConfigMap: the file is a
/// symlink through `..data`, which is swapped atomically on every update.
struct ConfigMapDir {
    dir: tempfile::TempDir,
    version: usize,
}

impl ConfigMapDir {
    fn new(content: &str) -> Self {
        let mut this = Self {
            dir: tempfile::tempdir().unwrap(),
            version: 0,
        };
        this.publish(content);
        std::os::unix::fs::symlink("..data/gateway.yaml", this.dir.path().join("gateway.yaml"))
            .unwrap();
        this
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("gateway.yaml")
    }

    fn publish(&mut self, content: &str) {
        self.version += 1;
        let versioned = format!("..2026_01_01_00_00_{:02}", self.version);
        std::fs::create_dir(self.dir.path().join(&versioned)).unwrap();
        std::fs::write(
            self.dir.path().join(&versioned).join("gateway.yaml"),
            content,
        )
        .unwrap();
        let tmp = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&versioned, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("..data")).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_sessions_and_calls_in_flight() {
    let (upstream, upstream_state) = fixture("reloaded").await;
    let backend = backend().await;
    let server = format!(
        "servers:\n  - {{name: up, transport: streamable-http, url: \"{}\"}}\n",
        upstream.url("/mcp")
    );
    let tool = |name: &str| {
        format!(
            "  - {{name: {name}, backend: {{url: \"{}\"}}}}\n",
            backend.url("/text")
        )
    };
    let v1 = format!("{HEAD}{server}tools:\n{}", tool("first"));
    let mut mount = ConfigMapDir::new(&v1);
    let gw = TestGateway::start(&v1).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    tokio::spawn(hangar_gateway::reload::watch(
        gw.gateway.clone(),
        mount.path(),
        cancel.clone(),
    ));

    let recorder = Recorder::default();
    let session = recorder
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            gw.mcp(),
        ))
        .await
        .unwrap();
    let in_flight = {
        let peer = session.peer().clone();
        tokio::spawn(async move { peer.call_tool(call("up_sleep", json!({"ms": 1500}))).await })
    };
    let calls = upstream_state.clone();
    eventually(
        "the upstream to receive the first call",
        Duration::from_secs(10),
        move || calls.calls.lock().unwrap().len() == 1,
    )
    .await;

    // A new declared tool arrives; the upstream connection is reused.
    mount.publish(&format!(
        "{HEAD}{server}tools:\n{}{}",
        tool("first"),
        tool("second")
    ));
    let seen = recorder.0.clone();
    eventually(
        "tools/list_changed after the ConfigMap swap",
        Duration::from_secs(15),
        || seen.lock().unwrap().contains(&"tools"),
    )
    .await;
    let names: Vec<String> = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        names.contains(&"second".to_string()) && names.contains(&"up_echo".to_string()),
        "{names:?}"
    );
    let result = in_flight.await.unwrap().unwrap();
    assert_eq!(
        first_text(&result),
        "slept 1500 ms",
        "the call in flight finished normally"
    );

    // A broken config is refused; the gateway keeps serving the last good one.
    let digest = gw.gateway.config().digest();
    mount.publish(&format!(
        "{HEAD}tools:\n  - {{name: \"bad name\", backend: {{url: nope}}}}\n"
    ));
    let metrics = gw.gateway.metrics().clone();
    eventually(
        "the broken config to be rejected",
        Duration::from_secs(15),
        || {
            metrics
                .render()
                .contains("hangar_gateway_config_reloads_total{outcome=\"error\"} 1")
        },
    )
    .await;
    assert_eq!(gw.gateway.config().digest(), digest);

    // Removing the upstream lets its call in flight finish before disconnecting.
    let in_flight = {
        let peer = session.peer().clone();
        tokio::spawn(async move { peer.call_tool(call("up_sleep", json!({"ms": 1000}))).await })
    };
    let calls = upstream_state.clone();
    eventually(
        "the upstream to receive the second call",
        Duration::from_secs(10),
        move || calls.calls.lock().unwrap().len() == 2,
    )
    .await;
    seen.lock().unwrap().clear();
    mount.publish(&format!("{HEAD}tools:\n{}", tool("first")));
    let result = in_flight.await.unwrap().unwrap();
    assert_eq!(first_text(&result), "slept 1000 ms");
    eventually(
        "tools/list_changed after removing the server",
        Duration::from_secs(15),
        || seen.lock().unwrap().contains(&"tools"),
    )
    .await;
    let names: Vec<String> = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["first"]);
    cancel.cancel();
}

/// Sends one raw HTTP request to the gateway and returns the status and body.
async fn raw(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

const JSON_AND_SSE: (&str, &str) = ("accept", "application/json, text/event-stream");
const JSON_BODY: (&str, &str) = ("content-type", "application/json");

/// The first JSON-RPC message in a JSON or SSE body.
fn message(body: &str) -> serde_json::Value {
    let data = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|d| !d.is_empty())
        .unwrap_or(body);
    serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"))
}

/// A 2026-07-28 request with its routing headers: the HTTP status, the
/// JSON-RPC error code, and the body.
async fn stateless(
    url: &str,
    routing: &[(&str, &str)],
    request: &serde_json::Value,
) -> (u16, Option<i64>, String) {
    let mut headers = vec![
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-protocol-version", "2026-07-28"),
    ];
    headers.extend_from_slice(routing);
    let (status, body, _) = raw(url, &headers, request.to_string()).await;
    let code = message(&body)["error"]["code"].as_i64();
    (status, code, body)
}

fn stateless_meta() -> serde_json::Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
    })
}

/// Begins a session of `revision` over raw HTTP; returns its id.
async fn raw_session(url: &str, revision: &str) -> String {
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": revision, "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, body, headers) =
        raw(url, &[JSON_AND_SSE, JSON_BODY], initialize.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        message(&body)["result"]["protocolVersion"],
        revision,
        "{body}"
    );
    let session = headers["mcp-session-id"].to_str().unwrap().to_string();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let headers = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", session.as_str()),
    ];
    let (status, body, _) = raw(url, &headers, initialized.to_string()).await;
    assert_eq!(status, 202, "{body}");
    session
}

/// A session begins at rest: `initialize` and `notifications/initialized`
/// leave it no worker, and requests the gateway answers itself (a declared
/// tool, a list, ping) keep it so. The first request that needs its worker
/// restores it; idle, it rests again and leaves the list of live sessions
/// (its peer held its channel, about 10 KB, until the next session began).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_begin_at_rest_and_wake_when_a_request_needs_their_worker() {
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}gateway: {{sessionIdleTimeout: 20s}}\ntools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n  \
         - {{name: stuck, backend: {{url: \"{}\", timeout: 1s}}}}\n",
        backend.url("/echo"),
        backend.url("/hang"),
    ))
    .await;
    let url = gw.mcp();
    let readiness = || gw.gateway.readiness().1;
    let live = || readiness()["liveSessions"].as_u64().unwrap();
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(raw_session(&url, "2025-11-25").await);
    }
    assert_eq!(readiness()["awakeSessions"], 3);
    let requests = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "at rest"}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    ];
    for session in &sessions {
        let headers = [
            JSON_AND_SSE,
            JSON_BODY,
            ("mcp-session-id", session.as_str()),
        ];
        for request in &requests {
            let (status, body, answer_headers) = raw(&url, &headers, request.to_string()).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(answer_headers["content-type"], "application/json", "{body}");
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(answer["id"], request["id"], "{body}");
            assert!(answer.get("result").is_some(), "{body}");
        }
    }
    let (_, called, _) = raw(
        &url,
        &[JSON_AND_SSE, JSON_BODY, ("mcp-session-id", &sessions[0])],
        requests[0].to_string(),
    )
    .await;
    assert!(called.contains("at rest"), "{called}");
    // A session no one began is not found, as rmcp answers.
    let (status, body, _) = raw(
        &url,
        &[
            JSON_AND_SSE,
            JSON_BODY,
            ("mcp-session-id", "no-such-session"),
        ],
        requests[0].to_string(),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(readiness()["awakeSessions"], 3);
    // A call answered without the worker is cancelled without one too.
    let in_first = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", sessions[0].as_str()),
    ];
    let stuck = json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
                       "params": {"name": "stuck", "arguments": {}}});
    let call = tokio::spawn({
        let (url, in_first) = (url.clone(), in_first.map(|(k, v)| (k, v.to_string())));
        async move {
            let headers: Vec<_> = in_first.iter().map(|(k, v)| (*k, v.as_str())).collect();
            raw(&url, &headers, stuck.to_string()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": "slow"}});
    let (status, body, _) = raw(&url, &in_first, cancel.to_string()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body, _) = call.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(live(), 0);
    // Completion is rmcp's: the session's worker is restored for it.
    let complete = json!({"jsonrpc": "2.0", "id": 4, "method": "completion/complete", "params": {
        "ref": {"type": "ref/prompt", "name": "none"},
        "argument": {"name": "a", "value": ""}}});
    let headers = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", sessions[1].as_str()),
    ];
    let (status, body, _) = raw(&url, &headers, complete.to_string()).await;
    assert_eq!(status, 200, "{body}");
    // It registers as the replayed `notifications/initialized` is handled;
    // the two sessions still at rest do not.
    eventually("one live session", Duration::from_secs(5), || live() == 1).await;
    // The client's own `notifications/initialized`, late, reaches the
    // restored worker, which heard the replayed one: still one session in
    // the list (else it would hear each log message twice).
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, body, _) = raw(&url, &headers, initialized.to_string()).await;
    assert_eq!(status, 202, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(live(), 1);
    // It rests 5 s after its last request; the sweep runs every 2.5 s.
    eventually("the idle session rests", Duration::from_secs(20), || {
        live() == 0
    })
    .await;
    // Still there, at rest: answered without its worker.
    let (status, body, _) = raw(&url, &headers, requests[1].to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(live(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_answered_in_2025_03_26_sessions_and_refused_elsewhere() {
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: echo, backend: {{url: \"{}\"}}}}\n",
        backend.url("/echo")
    ))
    .await;
    let url = gw.mcp();
    let session = raw_session(&url, "2025-03-26").await;
    let in_session = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", session.as_str()),
    ];
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
        {"jsonrpc": "2.0", "id": "second", "method": "tools/call",
         "params": {"name": "echo", "arguments": {"text": "batched"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "no/such"},
    ]);
    let (status, body, headers) = raw(&url, &in_session, batch.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    // One answer per request, in order; none for the notification.
    let ids: Vec<_> = answers.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!("second"), json!(3)], "{body}");
    assert!(
        answers[0]["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(body.contains("batched"), "{body}");
    assert_eq!(answers[2]["error"]["code"], -32601, "{body}");
    // Only notifications: accepted, nothing to answer.
    let notes = json!([{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]);
    let (status, body, _) = raw(&url, &in_session, notes.to_string()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body, _) = raw(&url, &in_session, "[]").await;
    assert_eq!(
        (status, message(&body)["error"]["code"].as_i64()),
        (400, Some(-32600)),
        "{body}"
    );

    // A later revision, by its header or its session: refused, saying why.
    let later = raw_session(&url, "2025-11-25").await;
    let later_headers = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", later.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let (status, body, _) = raw(&url, &later_headers, batch.to_string()).await;
    assert_eq!(
        (status, message(&body)["error"]["code"].as_i64()),
        (400, Some(-32600)),
        "{body}"
    );
    assert!(body.contains("not part of MCP 2025-11-25"), "{body}");
    let stateless_headers = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-protocol-version", "2026-07-28"),
    ];
    let (status, body, _) = raw(&url, &stateless_headers, batch.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not part of MCP 2026-07-28"), "{body}");
    let (status, body, _) = raw(&url, &[JSON_AND_SSE, JSON_BODY], batch.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("initialize one first"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_status_and_error() {
    let (upstream, _) = fixture("target").await;
    let backend = backend().await;
    let gw = TestGateway::start(&format!(
        "{HEAD}gateway: {{maxRequestBodyBytes: 4096}}\nservers:\n  - {{name: up, transport: streamable-http, url: \"{}\", timeout: 700ms}}\ntools:\n  - {{name: stuck, backend: {{url: \"{}\", timeout: 500ms}}}}\n",
        upstream.url("/mcp"),
        backend.url("/hang"),
    ))
    .await;
    let url = gw.mcp();
    let headers = [JSON_AND_SSE, JSON_BODY];

    // Malformed JSON: 400 with a JSON-RPC parse error.
    let (status, body, _) = raw(
        &url,
        &headers,
        "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\"",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(message(&body)["error"]["code"], -32700, "{body}");

    // Not a JSON-RPC message.
    let (status, body, _) = raw(&url, &headers, "{\"hello\": 1}").await;
    assert_eq!(
        (status, message(&body)["error"]["code"].as_i64()),
        (400, Some(-32600)),
        "{body}"
    );

    // Oversized bodies: 413, whether announced or streamed.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(8000)
    );
    let (status, _, _) = raw(&url, &headers, big.clone()).await;
    assert_eq!(status, 413);
    let chunks = futures::stream::iter(vec![Ok::<_, std::io::Error>(big.into_bytes())]);
    let (status, _, _) = raw(&url, &headers, reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(status, 413);

    // Wrong media types.
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let (status, _, _) = raw(
        &url,
        &[JSON_AND_SSE, ("content-type", "text/plain")],
        ping.clone(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, _) = raw(&url, &[("accept", "text/html"), JSON_BODY], ping.clone()).await;
    assert_eq!(status, 406);

    // DNS rebinding guards: foreign Host and Origin are refused.
    let (status, _, _) = raw(
        &url,
        &[JSON_AND_SSE, JSON_BODY, ("host", "evil.example")],
        ping.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = raw(
        &url,
        &[JSON_AND_SSE, JSON_BODY, ("origin", "https://evil.example")],
        ping.clone(),
    )
    .await;
    assert_eq!(status, 403);

    // A session, then errors inside it.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, body, response_headers) = raw(&url, &headers, init.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let session = response_headers["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let in_session = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let (status, _, _) = raw(
        &url,
        &in_session,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
    )
    .await;
    assert_eq!(status, 202);

    let (_, body, _) = raw(
        &url,
        &in_session,
        json!({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}).to_string(),
    )
    .await;
    assert_eq!(message(&body)["error"]["code"], -32601, "{body}");
    assert_eq!(message(&body)["id"], 2);

    // Wrong params: a tools/call whose name is not a string, and one without a name.
    for params in [json!({"name": 5}), json!({"arguments": {}})] {
        let request = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params});
        let (_, body, _) = raw(&url, &in_session, request.to_string()).await;
        assert_eq!(message(&body)["error"]["code"], -32602, "{body}");
        assert_eq!(message(&body)["id"], 3, "{body}");
    }
    let unknown =
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "missing"}});
    let (_, body, _) = raw(&url, &in_session, unknown.to_string()).await;
    assert_eq!(message(&body)["error"]["code"], -32602, "{body}");

    // A hanging backend and a hanging upstream end within their timeouts as tool errors.
    let stuck =
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "stuck"}});
    let (_, body, _) = raw(&url, &in_session, stuck.to_string()).await;
    assert_eq!(message(&body)["result"]["isError"], true, "{body}");
    assert!(body.contains("did not answer within 500ms"), "{body}");
    let slow = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "up_sleep", "arguments": {"ms": 30000}}});
    let (_, body, _) = raw(&url, &in_session, slow.to_string()).await;
    assert_eq!(message(&body)["result"]["isError"], true, "{body}");
    assert!(body.contains("did not answer within 700ms"), "{body}");

    // Unknown and deleted sessions are 404.
    let gone = [
        JSON_AND_SSE,
        JSON_BODY,
        ("mcp-session-id", "no-such-session"),
    ];
    let (status, _, _) = raw(&url, &gone, ping.clone()).await;
    assert_eq!(status, 404);
    let deleted = reqwest::Client::new()
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let (status, _, _) = raw(&url, &in_session, ping.clone()).await;
    assert_eq!(status, 404);

    // The stateless era: unknown methods are HTTP 404 with -32601; bad _meta is 400.
    let request = json!({"jsonrpc": "2.0", "id": 7, "method": "no/such", "params": {"_meta": stateless_meta()}});
    let (status, code, body) = stateless(&url, &[("mcp-method", "no/such")], &request).await;
    assert_eq!((status, code), (404, Some(-32601)), "{body}");
    let request = json!({"jsonrpc": "2.0", "id": 8, "method": "server/discover", "params": {}});
    let (status, code, body) =
        stateless(&url, &[("mcp-method", "server/discover")], &request).await;
    assert_eq!((status, code), (400, Some(-32602)), "{body}");

    // Routing headers must agree with the body.
    let request = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"_meta": stateless_meta()}});
    let (status, code, body) = stateless(&url, &[("mcp-method", "prompts/list")], &request).await;
    assert_eq!((status, code), (400, Some(-32020)), "{body}");
    let request = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "up_echo", "arguments": {"text": "x"}, "_meta": stateless_meta()}});
    let (status, code, body) = stateless(
        &url,
        &[("mcp-method", "tools/call"), ("mcp-name", "up_other")],
        &request,
    )
    .await;
    assert_eq!((status, code), (400, Some(-32020)), "{body}");

    // After all that, the gateway still serves.
    let client = session_client(&url).await;
    let result = client
        .call_tool(call("up_echo", json!({"text": "fine"})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "fine");
    let http = gw.gateway.metrics().render();
    assert!(
        http.contains("hangar_gateway_http_requests_total{method=\"POST\",status=\"413\"} 2"),
        "{http}"
    );
}

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local")
}

#[test]
fn the_local_examples_compile_without_anything_left_out() {
    let manifests = hangar_manifests::load(&[examples_dir()], Default::default())
        .complete()
        .expect("examples/local parses");
    let compiled = hangar_gateway::up::plan(&manifests, None, &Default::default()).unwrap();
    assert!(compiled.skipped.is_empty(), "{:?}", compiled.skipped);
    let config = &compiled.config;
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let servers: Vec<(&str, Option<&str>)> = config
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.command.as_deref()))
        .collect();
    assert_eq!(
        servers,
        [("everything", Some("npx")), ("memory", Some("npx"))]
    );
    assert!(
        config
            .servers
            .iter()
            .all(|s| s.transport == hangar_config::Transport::Stdio)
    );
    assert_eq!(config.tools[0].name, "weather");
    assert_eq!(
        config.tools[0].backend.method,
        hangar_config::HttpMethod::Get
    );
    assert_eq!(config.prompts[0].name, "code-review");
    assert_eq!(config.resources[0].uri, "docs://hangar/getting-started");
    let summary =
        hangar_gateway::up::describe(&compiled, "examples/local", "http://127.0.0.1:8080/mcp");
    assert!(
        summary.contains("npx -y @modelcontextprotocol/server-everything"),
        "{summary}"
    );
    assert!(
        summary.contains("MCP endpoint: http://127.0.0.1:8080/mcp"),
        "{summary}"
    );
}

#[test]
fn hangar_up_runs_the_curated_example_with_its_curation() {
    let examples = examples_dir().join("..");
    let manifests = hangar_manifests::load(
        &[
            examples.join("local/everything.yaml"),
            examples.join("kubernetes/curated-gateway.yaml"),
        ],
        Default::default(),
    )
    .complete()
    .expect("the curated example parses");
    let compiled = hangar_gateway::up::plan(&manifests, None, &Default::default()).unwrap();
    assert!(compiled.skipped.is_empty(), "{:?}", compiled.skipped);
    assert!(compiled.uncurated.is_empty(), "{:?}", compiled.uncurated);
    let config = &compiled.config;
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert_eq!(config.servers[0].command.as_deref(), Some("npx"));
    let tools = &config.curation.exposed.tools;
    assert_eq!(tools.allow, ["everything_*"]);
    assert_eq!(
        tools
            .override_for("everything_get-sum")
            .unwrap()
            .fixed_arguments["b"],
        40
    );
    assert_eq!(
        config.curation.servers["everything"].tools.deny,
        ["trigger-*"]
    );
    let summary = hangar_gateway::up::describe(&compiled, "examples", "http://127.0.0.1:8080/mcp");
    for line in [
        "curation  exposed names: tools allow everything_*, deny everything_get-env *toggle*",
        "tool everything_echo as shout",
        "curation  server everything: tools deny trigger-*",
    ] {
        assert!(summary.contains(line), "missing {line:?} in:\n{summary}");
    }
}

#[test]
fn hangar_up_runs_the_search_example_with_tool_search() {
    let examples = examples_dir().join("..");
    let manifests = hangar_manifests::load(
        &[
            examples.join("local/everything.yaml"),
            examples.join("kubernetes/search-gateway.yaml"),
        ],
        Default::default(),
    )
    .complete()
    .expect("the search example parses");
    let compiled = hangar_gateway::up::plan(&manifests, None, &Default::default()).unwrap();
    let config = &compiled.config;
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert_eq!(config.servers[0].name, "everything");
    let search = config.tool_search.as_ref().expect("a toolSearch section");
    assert_eq!((search.default_results, search.max_results), (5, 20));
    let summary = hangar_gateway::up::describe(&compiled, "examples", "http://127.0.0.1:8080/mcp");
    let line = "search    clients list search_tools and call_tool instead of the tools; \
                a search returns 5 unless asked for more, at most 20";
    assert!(summary.contains(line), "missing {line:?} in:\n{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_what_it_can_and_explains_the_rest() {
    let (fixture, _) = fixture("remote-one").await;
    let backend = backend().await;
    let manifests = hangar_manifests::parse(
        &format!(
            r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: remote-one}}
spec: {{mode: remote, endpoint: "{fixture}"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: image-only}}
spec: {{image: ghcr.io/acme/tools, tag: "1.2"}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {{name: web-server}}
spec: {{image: ghcr.io/acme/web, command: [my-mcp-server], port: 9123, path: /mcp}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {{name: pool}}
spec: {{selector: {{matchLabels: {{pool: a}}}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {{name: in-cluster}}
spec: {{backend: {{service: {{name: search, port: 80}}, path: /q}}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {{name: keyed}}
spec:
  backend:
    url: "{echo}"
    headers: [{{name: X-Api-Key, valueFrom: {{secretKeyRef: {{name: api, key: token}}}}}}]
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPTool
metadata: {{name: plain}}
spec: {{backend: {{url: "{echo}"}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: api}}
stringData: {{token: x}}
"#,
            fixture = fixture.url("/mcp"),
            echo = backend.url("/echo"),
        ),
        "inline manifests",
    )
    .unwrap();
    let mut compiled = hangar_gateway::up::plan(&manifests, None, &Default::default()).unwrap();
    hangar_gateway::up::avoid_port(&mut compiled, 9123);
    let reasons: Vec<String> = compiled
        .skipped
        .iter()
        .map(|s| format!("{} {}: {}", s.kind, s.name, s.reason))
        .collect();
    let all = reasons.join("\n");
    for expected in [
        "MCPServer image-only: it runs the image ghcr.io/acme/tools:1.2, and hangar up runs no containers; add spec.command",
        "MCPServer web-server: it would listen on port 9123, which the gateway uses",
        "MCPServerGroup pool:",
        "MCPTool in-cluster: its backend is the Kubernetes Service search:80, which only exists in a cluster",
        "MCPTool keyed: X-Api-Key comes from Secret api key token; export HANGAR_SECRET_API_TOKEN",
        "object Secret api: v1 is not a Hangar kind",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
    let names: Vec<&str> = compiled
        .config
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["plain"]);
    let gw = TestGateway::start(&compiled.config.to_yaml()).await;
    let client = session_client(&gw.mcp()).await;
    let result = client
        .call_tool(call("remote-one_echo", json!({"text": "from up"})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "from up");
    let result = client
        .call_tool(call("plain", json!({"x": 1})))
        .await
        .unwrap();
    assert_eq!(result.structured_content.unwrap()["received"]["x"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_origin_allowlists_work_behind_a_service() {
    let gw = TestGateway::start(&format!(
        "{HEAD}gateway: {{allowedHosts: [\"gateway.team.svc\", \"gateway.team.svc.cluster.local:8080\"]}}\n"
    ))
    .await;
    let url = gw.mcp();
    let headers = [JSON_AND_SSE, JSON_BODY];
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
    .to_string();
    let with = |extra: (&'static str, &'static str)| [headers[0], headers[1], extra];
    // The Service names the operator lists are accepted, with or without the port as configured.
    let (status, _, _) = raw(&url, &with(("host", "gateway.team.svc")), init.clone()).await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(&url, &with(("host", "gateway.team.svc:8080")), init.clone()).await;
    assert_eq!(status, 200, "a name without a port accepts any port");
    let (status, _, _) = raw(
        &url,
        &with(("host", "gateway.team.svc.cluster.local:8080")),
        init.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(
        &url,
        &with(("host", "gateway.team.svc.cluster.local:9999")),
        init.clone(),
    )
    .await;
    assert_eq!(status, 403, "a name with a port accepts only that port");
    // Loopback is not implied once hosts are configured.
    let (status, _, _) = raw(&url, &with(("host", "localhost")), init.clone()).await;
    assert_eq!(status, 403);
    // Browser origins must name an allowed host (any scheme and port by default).
    let ok = [
        headers[0],
        headers[1],
        ("host", "gateway.team.svc"),
        ("origin", "https://gateway.team.svc"),
    ];
    let (status, _, _) = raw(&url, &ok, init.clone()).await;
    assert_eq!(status, 200);
    let evil = [
        headers[0],
        headers[1],
        ("host", "gateway.team.svc"),
        ("origin", "https://evil.example"),
    ];
    let (status, _, _) = raw(&url, &evil, init.clone()).await;
    assert_eq!(status, 403);

    // "*" accepts any host, e.g. behind an ingress that rewrites nothing.
    let open = TestGateway::start(&format!("{HEAD}gateway: {{allowedHosts: [\"*\"]}}\n")).await;
    let (status, _, _) = raw(&open.mcp(), &with(("host", "anything.example:1234")), init).await;
    assert_eq!(status, 200);
}
