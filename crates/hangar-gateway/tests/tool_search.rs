//! Tool search (`toolSearch` in the config, MCPGateway `spec.toolSearch`)
//! through clients we did not write: the official Python and TypeScript SDK
//! clients in both protocol eras against a gateway serving a catalog of 1,000
//! declared tools (`support::catalog`) and `server-everything`. They list
//! only the two meta-tools, find the intended tool for natural-language
//! queries (recall@5 asserted against a floor, latency printed), and call
//! tools through `call_tool` as through `tools/call`: curation, rate limits
//! and the audit hold for the tool named. The Rust SDK checks that a caller
//! finds and calls only what authorization grants it, that the index
//! follows a reload and an upstream's own list change, and that turning
//! search on or off announces `list_changed`.

mod support;

use std::time::{Duration, Instant};

use hangar_config::GatewayConfig;
use hangar_gateway::search::ToolIndex;
use hangar_testenv::tools::{Tool, locate, node_bin};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use support::peers::{client_script, everything_js, run_client, run_every_client};
use support::*;

/// The share of queries whose intended tool must be among the first five.
const RECALL_FLOOR: f64 = 0.8;

/// Queries as a user would put them, each with the tool meant.
const QUERIES: &[(&str, &str)] = &[
    (
        "open a new bug report in our GitHub repository",
        "github_create_issue",
    ),
    (
        "show the open pull requests on GitHub",
        "github_list_pull_requests",
    ),
    (
        "publish a tagged GitHub release with release notes",
        "github_create_release",
    ),
    ("share a code snippet as a gist", "github_create_gist"),
    (
        "start a merge request on GitLab from my feature branch",
        "gitlab-create-merge-request",
    ),
    (
        "which CI/CD pipelines ran in the GitLab project",
        "gitlab-list-pipelines",
    ),
    ("remove a GitLab CI runner machine", "gitlab-delete-runner"),
    ("file a Jira ticket for the login bug", "jira_createIssue"),
    (
        "what sprints does the Scrum board have in Jira",
        "jira_listSprints",
    ),
    ("add a comment to a Jira issue", "jira_createComment"),
    ("post a message in a Slack channel", "slack_create_message"),
    ("remind me on Slack tomorrow at 9", "slack_create_reminder"),
    ("which Slack channels exist", "slack_list_channels"),
    (
        "save an email as a draft in Gmail without sending it",
        "gmail_createDraft",
    ),
    (
        "search my Gmail inbox for emails from Alice",
        "gmail_listEmails",
    ),
    (
        "set up a Gmail filter to archive newsletters automatically",
        "gmail_createFilter",
    ),
    (
        "schedule a meeting on Google Calendar with two attendees",
        "gcal_create_event",
    ),
    ("cancel a calendar event", "gcal_delete_event"),
    ("find a free meeting room to book", "gcal_list_rooms"),
    (
        "share a Google Drive file with a colleague by email",
        "drive_createPermission",
    ),
    (
        "restore an earlier version of a Drive file",
        "drive_getRevision",
    ),
    ("write a new page in Notion", "notion_create_page"),
    (
        "refund a customer's card payment in Stripe",
        "stripe_create_refund",
    ),
    (
        "put a customer on a monthly Stripe subscription plan",
        "stripe_create_subscription",
    ),
    ("which Stripe invoices are due", "stripe_list_invoices"),
    (
        "show recent orders in the Shopify store",
        "shopify_listOrders",
    ),
    (
        "make a 20% off discount code for checkout",
        "shopify_createDiscountCode",
    ),
    (
        "change the stock quantity of an item at a warehouse",
        "shopify_updateInventoryLevel",
    ),
    ("make a new S3 bucket in eu-west-1", "s3_create_bucket"),
    (
        "give someone a temporary download link for an S3 object",
        "s3_create_presigned_url",
    ),
    ("launch a new EC2 virtual machine", "ec2-create-instance"),
    (
        "back up an EC2 volume with a snapshot",
        "ec2-create-snapshot",
    ),
    (
        "scale a Kubernetes deployment to 5 replicas",
        "k8s.deployment.update",
    ),
    (
        "list the pods running in a Kubernetes namespace",
        "k8s.pods.list",
    ),
    (
        "add an index on a PostgreSQL table column to speed up queries",
        "postgres_create_index",
    ),
    (
        "dump the Postgres database to a backup",
        "postgres_create_backup",
    ),
    (
        "weather forecast for the next 3 days in Berlin",
        "weather_get_forecast",
    ),
    (
        "are there any severe storm warnings for my area",
        "weather_list_alerts",
    ),
    (
        "how polluted is the air today (AQI)",
        "weather_get_air_quality_report",
    ),
    (
        "driving directions from the airport to the hotel",
        "maps_getRoute",
    ),
    (
        "create a Spotify playlist for running",
        "spotify_create_playlist",
    ),
    (
        "queue a song to play next on my speaker",
        "spotify_create_queue_item",
    ),
    (
        "open a customer support ticket in Zendesk",
        "zendesk-create-ticket",
    ),
    (
        "search the help center knowledge base articles",
        "zendesk-list-help-center-articles",
    ),
    (
        "add a new sales lead to Salesforce",
        "salesforce_createLead",
    ),
    (
        "move a Salesforce opportunity to the closed won stage",
        "salesforce_updateOpportunity",
    ),
    (
        "create a deal in the HubSpot pipeline",
        "hubspot_create_deal",
    ),
    (
        "send a text message (SMS) to a phone number",
        "twilio_create_sms",
    ),
    (
        "which exceptions and crashes happened in Sentry",
        "sentry-list-issues",
    ),
    (
        "alert the team when error rates spike in Sentry",
        "sentry-create-alert-rule",
    ),
    (
        "create a Datadog monitor that alerts when CPU is above 90%",
        "datadog_create_monitor",
    ),
    (
        "page the on-call engineer about an outage with PagerDuty",
        "pagerduty_createIncident",
    ),
    (
        "cover someone's on-call shift next weekend",
        "pagerduty_createOverride",
    ),
    ("write a wiki page in Confluence", "confluence_create_page"),
    ("add a card to a Trello board", "trello_createCard"),
    (
        "assign a task with a due date in Asana",
        "asana_create_task",
    ),
    (
        "create a Linear issue for the engineering team",
        "linear_createIssue",
    ),
    (
        "get a shareable Dropbox link for a file",
        "dropbox_create_shared_link",
    ),
    (
        "set up a Zoom meeting with a join link for Friday",
        "zoom-create-meeting",
    ),
    (
        "find the cloud recordings of past Zoom meetings",
        "zoom-list-cloud-recordings",
    ),
    (
        "which tags does a Docker Hub image repository have",
        "dockerhub_list_tags",
    ),
    (
        "plan and apply infrastructure changes in a Terraform workspace",
        "terraform.run.create",
    ),
    (
        "export a Figma frame as a PNG image",
        "figma_createImageExport",
    ),
    ("add a row to an Airtable table", "airtable_create_record"),
    (
        "send a newsletter campaign to my Mailchimp audience",
        "mailchimp-create-campaign",
    ),
    (
        "record a business expense with its receipt in QuickBooks",
        "quickbooks_createExpense",
    ),
    (
        "which meetings have people booked with me on Calendly",
        "calendly_list_scheduled_events",
    ),
    ("upload a video to YouTube", "youtube_createVideo"),
    (
        "add subtitles to a YouTube video",
        "youtube_createCaptionTrack",
    ),
    ("tweet a short message", "x_create_post"),
    (
        "point a CNAME DNS record at my server on Cloudflare",
        "cloudflare-create-dns-record",
    ),
    (
        "clear the CDN cache for some files",
        "cloudflare-create-cache-purge",
    ),
];

/// Curation leaves this one out: never found, never callable.
const DENIED: &str = "stripe_delete_customer";
/// Limited to two calls an hour, all callers together.
const LIMITED: &str = "weather_get_forecast";

fn config(backend: &str, extra: &str) -> String {
    let tools: String = support::catalog::tools(backend)
        .iter()
        .map(|tool| format!("  - {tool}\n"))
        .collect();
    format!(
        r#"{HEAD}toolSearch: {{defaultResults: 5, maxResults: 10}}
tools:
{tools}servers:
  - {{name: everything, transport: stdio, command: "{node}", args: ["{everything}", stdio]}}
curation:
  exposed:
    tools: {{deny: ["{DENIED}"]}}
{extra}"#,
        node = node_bin("node").display(),
        everything = everything_js().display(),
    )
}

fn search(query: &str) -> Value {
    json!({"op": "call_tool", "name": "search_tools", "arguments": {"query": query, "limit": 5}, "timed": true})
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"op": "call_tool", "name": "call_tool", "arguments": {"name": name, "arguments": arguments}})
}

/// The plan each client runs: the list, every query, then calls.
fn plan() -> Value {
    let mut steps = vec![json!({"op": "list_tools"})];
    steps.extend(QUERIES.iter().map(|(query, _)| search(query)));
    steps.extend([
        call("everything_echo", json!({"message": "through call_tool"})),
        call("github_create_issue", json!({"repository": "acme/app", "title": "crash"})),
        json!({"op": "call_tool", "name": "everything_echo", "arguments": {"message": "direct"}}),
        call(DENIED, json!({"customer_id": "cus_1"})),
        search("delete a Stripe customer"),
        call("no_such_tool", json!({})),
        json!({"op": "call_tool", "name": "call_tool", "arguments": {}}),
        json!({"op": "call_tool", "name": "search_tools", "arguments": {"query": "delete", "limit": 50}}),
        json!({"op": "call_tool", "name": "search_tools", "arguments": {"query": "word ".repeat(300)}}),
    ]);
    Value::Array(steps)
}

/// The names each search found, in order.
fn found(result: &Value) -> Vec<String> {
    result["structured"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a search answer: {result}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// What one client's searches found: per query, the rank (1-based) of the
/// intended tool within the five found and the first found; and latencies in ms.
type Searched = (Vec<(Option<usize>, String)>, Vec<f64>);

/// Checks one client's run.
fn check(report: &Value, who: &str) -> Searched {
    let results = report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{who}: {report}"));
    assert_eq!(
        results[0]["names"],
        json!(["search_tools", "call_tool"]),
        "{who}: only the meta-tools are listed"
    );
    let searches = &results[1..=QUERIES.len()];
    let mut ranks = Vec::new();
    let mut latencies = Vec::new();
    for ((_, intended), result) in QUERIES.iter().zip(searches) {
        let names = found(result);
        assert!(names.len() <= 5, "{who}: {names:?}");
        let rank = names.iter().position(|n| n == intended).map(|i| i + 1);
        ranks.push((rank, names.first().cloned().unwrap_or_default()));
        latencies.push(result["ms"].as_f64().unwrap_or_default());
        let first = &result["structured"]["tools"][0];
        for field in ["name", "title", "description", "inputSchema"] {
            assert!(
                first.get(field).is_some(),
                "{who}: full definitions: {first}"
            );
        }
    }
    let calls = &results[QUERIES.len() + 1..];
    let text = |i: usize| calls[i]["content"][0]["text"].as_str().unwrap_or_default();
    assert_eq!(text(0), "Echo: through call_tool", "{who}: {}", calls[0]);
    assert_eq!(
        calls[1]["structured"]["received"],
        json!({"repository": "acme/app", "title": "crash"}),
        "{who}: {}",
        calls[1]
    );
    assert_eq!(text(2), "Echo: direct", "{who}: direct calls still work");
    assert_eq!(calls[3]["error"]["code"], -32602, "{who}: {}", calls[3]);
    assert!(
        !found(&calls[4]).contains(&DENIED.to_string()),
        "{who}: {}",
        calls[4]
    );
    assert_eq!(calls[5]["error"]["code"], -32602, "{who}: {}", calls[5]);
    assert_eq!(calls[6]["isError"], true, "{who}: {}", calls[6]);
    assert_eq!(
        found(&calls[7]).len(),
        10,
        "{who}: maxResults bounds a limit of 50"
    );
    assert!(
        calls[8]["isError"] == true && text(8).contains("at most 1024"),
        "{who}: {}",
        calls[8]
    );
    (ranks, latencies)
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    let at = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len());
    sorted[at - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_the_intended_tool_among_a_thousand_with_both_sdks_in_both_eras() {
    assert!(QUERIES.len() >= 50);
    let backend = backend().await;
    let catalog = support::catalog::tools(&backend.url("/echo"));
    assert_eq!(catalog.len(), 1_000);
    for (_, intended) in QUERIES {
        assert!(
            catalog.iter().any(|t| t["name"] == *intended),
            "{intended} is not in the catalog"
        );
    }
    let gw = TestGateway::start(&config(&backend.url("/echo"), "")).await;
    eventually(
        "server-everything's first listing",
        Duration::from_secs(30),
        || gw.gateway.readiness().1["curation"]["notListedYet"] == json!([]),
    )
    .await;
    let mut rankings = Vec::new();
    let mut latencies = Vec::new();
    for (label, report) in run_every_client(&gw.mcp(), &plan()).await {
        let (ranks, ms) = check(&report, &label);
        rankings.push((label, ranks));
        latencies.extend(ms);
    }
    let (_, ranks) = &rankings[0];
    for (label, other) in &rankings[1..] {
        assert_eq!(other, ranks, "{label}: the same ranking in every run");
    }
    let hits = ranks.iter().filter(|(r, _)| r.is_some()).count();
    let recall = hits as f64 / QUERIES.len() as f64;
    let first = ranks.iter().filter(|(r, _)| *r == Some(1)).count();
    println!(
        "tool search over {} tools: recall@5 {recall:.3} ({hits} of {} queries; {first} first)",
        gw.gateway.catalog().tools().len(),
        QUERIES.len()
    );
    for ((query, intended), (rank, top)) in QUERIES.iter().zip(ranks) {
        if rank.is_none() {
            println!("  missed: {query:?} (meant {intended}, found first {top})");
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "search_tools round trip through the gateway ({} searches, debug build): p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    // The index alone, in this (debug) process: what a catalog change costs, and a search.
    let tools = gw.gateway.catalog().tools().to_vec();
    let started = Instant::now();
    let index = ToolIndex::new(&tools);
    let built = started.elapsed();
    let mut ranking: Vec<f64> = QUERIES
        .iter()
        .map(|(query, _)| {
            let started = Instant::now();
            index.search(query);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ranking.sort_by(f64::total_cmp);
    println!(
        "the index alone (debug build): built in {:.1} ms; a search ranks in p50 {:.2} ms, p99 {:.2} ms",
        built.as_secs_f64() * 1000.0,
        percentile(&ranking, 0.5),
        percentile(&ranking, 0.99)
    );
    assert!(
        recall >= RECALL_FLOOR,
        "recall@5 {recall:.3} is under the floor {RECALL_FLOOR}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_tool_counts_against_the_named_tools_rate_limit_and_audit_record() {
    let python = locate(Tool::Python);
    let script = client_script("python_client.py");
    let backend = backend().await;
    let records = tempfile::tempdir().unwrap();
    let audit = records.path().join("audit.jsonl");
    let extra = format!(
        "rateLimit:\n  tools: {{{LIMITED}: {{requests: 2, period: 1h}}}}\naudit: {{stdout: false, file: \"{}\"}}\n",
        audit.display()
    );
    let gw = TestGateway::start(&config(&backend.url("/echo"), &extra)).await;
    let forecast = json!({"forecast_id": "berlin"});
    let session = json!([
        call(LIMITED, forecast.clone()),
        {"op": "call_tool", "name": LIMITED, "arguments": forecast},
        call(LIMITED, forecast.clone()),
    ]);
    let report = run_client(&python, &script, &gw.mcp(), "legacy", &session).await;
    let results = &report["results"];
    assert_eq!(results[0]["isError"], false, "{report}");
    assert_eq!(results[1]["isError"], false, "{report}");
    assert_eq!(results[2]["error"]["code"], -32029, "{report}");
    let stateless = json!([call(LIMITED, forecast)]);
    let report = run_client(&python, &script, &gw.mcp(), "auto", &stateless).await;
    assert_eq!(
        report["results"][0]["error"]["code"], -32029,
        "the limit holds in the stateless era too: {report}"
    );

    let written = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let outcomes: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (LIMITED, "ok"),
            (LIMITED, "ok"),
            (LIMITED, "rate_limited"),
            (LIMITED, "rate_limited")
        ],
        "{written}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_reloads_and_switching_search_announces_list_changed() {
    let backend = backend().await;
    let echo = backend.url("/echo");
    let declared = |names: &[&str]| -> String {
        names
            .iter()
            .map(|name| {
                format!("  - {{name: {name}, description: Feeds the animals of the zoo., backend: {{url: \"{echo}\"}}}}\n")
            })
            .collect()
    };
    let with = |search: &str, names: &[&str]| format!("{HEAD}{search}tools:\n{}", declared(names));
    let searching = "toolSearch: {}\n";
    let gw = TestGateway::start(&with(searching, &["feed_lions"])).await;
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
            gw.mcp(),
        ))
        .await
        .unwrap();
    let search = |query: &str| {
        let arguments = json!({"query": query});
        CallToolRequestParams::new("search_tools")
            .with_arguments(arguments.as_object().cloned().unwrap_or_default())
    };
    let names = |result: rmcp::model::CallToolResult| -> Vec<String> {
        let tools = &result.structured_content.unwrap_or_default()["tools"];
        tools
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let found = names(client.call_tool(search("zebras")).await.unwrap());
    assert!(found.is_empty(), "{found:?}");

    let reload = |yaml: String| {
        gw.gateway
            .reload(GatewayConfig::parse(&yaml, "reloaded").unwrap(), "reloaded")
            .unwrap();
    };
    reload(with(searching, &["feed_lions", "feed_zebras"]));
    let found = names(client.call_tool(search("zebras")).await.unwrap());
    assert_eq!(found, ["feed_zebras"]);

    recorder.0.lock().unwrap().clear();
    reload(with("", &["feed_lions", "feed_zebras"]));
    let seen = recorder.0.clone();
    eventually(
        "tools/list_changed when search is switched off",
        Duration::from_secs(10),
        || seen.lock().unwrap().contains(&"tools"),
    )
    .await;
    let listed = client.list_all_tools().await.unwrap();
    let listed: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(listed, ["feed_lions", "feed_zebras"]);
    let refused = client.call_tool(search("zebras")).await.unwrap_err();
    assert!(refused.to_string().contains("unknown tool"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_list_change_reaches_the_index() {
    // tests/servers/growing.py (official Python SDK) adds a tool when `grow`
    // is called and announces it.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/growing.py");
    let gw = TestGateway::start(&format!(
        "{HEAD}toolSearch: {{}}\nservers:\n  - {{name: growing, transport: stdio, command: \"{}\", args: [\"{script}\"]}}\n",
        locate(Tool::Python).display()
    ))
    .await;
    let client = stateless_client(&gw.mcp()).await;
    let call = |name: &str, arguments: Value| {
        let arguments = json!({"name": name, "arguments": arguments});
        CallToolRequestParams::new("call_tool")
            .with_arguments(arguments.as_object().cloned().unwrap_or_default())
    };
    let grown = client
        .call_tool(call("growing_grow", json!({"name": "water_the_plants"})))
        .await
        .unwrap();
    assert_ne!(grown.is_error, Some(true), "{grown:?}");
    let search = json!({"query": "water plants"});
    let search = CallToolRequestParams::new("search_tools")
        .with_arguments(search.as_object().cloned().unwrap_or_default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = client.call_tool(search.clone()).await.unwrap();
        let first = found.structured_content.unwrap_or_default()["tools"][0]["name"].clone();
        if first == "growing_water_the_plants" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new tool was not found within 10 s: {first}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = client
        .call_tool(call("growing_water_the_plants", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&answer), "water_the_plants answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_finds_and_calls_only_what_authorization_grants_in_both_eras() {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let backend = backend().await;
    let echo = backend.url("/echo");
    let environment = hangar_config::Environment::fixed([(
        "SEARCH_TEST_TOKENS",
        "forecaster-token ana forecasters\n",
    )]);
    let config = format!(
        r#"{HEAD}toolSearch: {{}}
auth:
  bearerTokens: {{valueFromEnv: SEARCH_TEST_TOKENS}}
  authorization:
    default: Deny
    rules: [{{groups: [forecasters], tools: ["weather_*"]}}]
tools:
  - {{name: weather_get_forecast, description: The weather forecast for a city., backend: {{url: "{echo}"}}}}
  - {{name: github_create_issue, description: Opens an issue in a GitHub repository for a city's bug., backend: {{url: "{echo}"}}}}
"#
    );
    let gw = TestGateway::start_in(&config, environment).await;
    let transport = || {
        StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(gw.mcp()).auth_header("forecaster-token"),
        )
    };
    let session = ().serve(transport()).await.expect("a session with the token");
    let stateless = ()
        .serve_with_lifecycle(
            transport(),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover with the token");
    let arguments = |value: Value| value.as_object().cloned().unwrap_or_default();
    for client in [session.peer(), stateless.peer()] {
        let listed = client.list_all_tools().await.unwrap();
        let listed: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            listed,
            ["search_tools", "call_tool"],
            "listed to every caller"
        );
        let found = client
            .call_tool(
                CallToolRequestParams::new("search_tools")
                    .with_arguments(arguments(json!({"query": "city"}))),
            )
            .await
            .unwrap();
        let tools = found.structured_content.unwrap_or_default()["tools"].clone();
        assert_eq!(
            tools.as_array().map(|t| t.len()),
            Some(1),
            "only the granted tool: {tools}"
        );
        assert_eq!(tools[0]["name"], "weather_get_forecast");
        let call = |name: &str| {
            CallToolRequestParams::new("call_tool").with_arguments(arguments(
                json!({"name": name, "arguments": {"city": "Oslo"}}),
            ))
        };
        let granted = client
            .call_tool(call("weather_get_forecast"))
            .await
            .unwrap();
        assert_eq!(granted.is_error, Some(false), "{granted:?}");
        let refused = client
            .call_tool(call("github_create_issue"))
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("no authorization rule"),
            "{refused}"
        );
    }
}
