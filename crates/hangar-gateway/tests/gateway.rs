//! The gateway end to end, in process, with rmcp clients in both protocol
//! eras: declared items, federation, change propagation, failures, reload.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ErrorCode, GetPromptRequestParams, ReadResourceRequestParams,
    ResourceContents, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RoleClient, ServiceError};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::json;
use support::*;

fn call(name: &str, arguments: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args(arguments))
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
    arguments: [{{name: who, required: true}}, {{name: mood}}]
    messages:
      - {{text: "Say hello to {{{{who}}}} in a {{{{ mood }}}} way."}}
      - {{role: assistant, text: "Hello, {{{{who}}}}!"}}
resources:
  - {{uri: "docs://readme", name: readme, mimeType: text/markdown, text: "# Readme"}}
  - {{uri: "img://pixel", name: pixel, mimeType: image/png, blob: "{pixel}"}}
  - {{uri: "docs://remote", name: remote, http: {{url: "{doc}"}}}}
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
    // SAFETY: set before any other thread reads the environment in this test binary.
    unsafe { std::env::set_var("HANGAR_TEST_API_KEY", "sekret") };
    let backend = backend().await;
    let gw = TestGateway::start(&declared_config(&backend)).await;
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
        assert_eq!(resources.len(), 3);
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
            tools.iter().all(|t| t.name.starts_with("fix__")),
            "all names are prefixed"
        );
        assert!(tools.iter().any(|t| t.name == "fix__bulk_0119"));

        let result = client
            .call_tool(call("fix__echo", json!({"text": "routed"})))
            .await
            .unwrap();
        assert_eq!(first_text(&result), "routed");
        let result = client
            .call_tool(call("fix__bulk_0042", json!({})))
            .await
            .unwrap();
        assert_eq!(first_text(&result), "bulk_0042 ran");

        let prompts = client.list_all_prompts().await.unwrap();
        assert!(prompts.iter().any(|p| p.name == "fix__test_simple_prompt"));
        let prompt = client
            .get_prompt(GetPromptRequestParams::new("fix__test_simple_prompt"))
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
                .any(|r| r.uri == "test://static-text" && r.name == "fix__static-text")
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

/// Records the list_changed notifications a client hears.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<&'static str>>>);

impl ClientHandler for Recorder {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push("tools");
    }
    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push("prompts");
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push("resources");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_list_changes_reach_clients_in_both_eras() {
    let (upstream, _state) = fixture("changing").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: up, transport: streamable-http, url: \"{}\"}}\n",
        upstream.url("/mcp")
    ))
    .await;
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

    session
        .call_tool(call("up__test_trigger_tool_change", json!({})))
        .await
        .unwrap();
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
    assert!(tools.iter().any(|t| t.name == "up__dynamic_tool_1"));
    let result = session
        .call_tool(call("up__dynamic_tool_1", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "dynamic_tool_1 ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_upstream_fails_fast_while_the_rest_work() {
    let (healthy, _) = fixture("healthy").await;
    let (dying, _) = fixture("dying").await;
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
        .call_tool(call("dead__anything", json!({})))
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
            peer.call_tool(call("dying__sleep", json!({"ms": 60000})))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
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
        .call_tool(call("dying__echo", json!({"text": "x"})))
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
        .call_tool(call("ok__echo", json!({"text": "still here"})))
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
