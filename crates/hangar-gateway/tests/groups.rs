//! Groups, circuit breakers and scale to zero in the gateway, with real MCP
//! servers as members: `tests/servers/member.py` (official Python SDK) runs
//! once per member on its own port and answers `whoami` with its name.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hangar_config::GatewayConfig;
use hangar_config::ServerSpec;
use hangar_gateway::Gateway;
use hangar_gateway::activity::ActivitySink;
use hangar_testenv::tools::{Tool, locate};
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams};
use serde_json::{Value, json};
use support::peers::{free_port, member_script, python_member};
use support::*;
use tokio::process::Child;

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string()).with_arguments(args(arguments))
}

/// One member server process.
struct Member {
    name: &'static str,
    port: u16,
    child: Option<Child>,
}

impl Member {
    async fn start(name: &'static str) -> Self {
        let (child, port) = python_member(name).await;
        Member {
            name,
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// What the member counted, asked directly (not through the gateway).
    async fn counts(&self) -> Value {
        let client = session_client(&self.url()).await;
        let result = client.call_tool(call("calls", json!({}))).await.unwrap();
        let counts: Value = serde_json::from_str(&first_text(&result)).unwrap();
        let _ = client.cancel().await;
        counts
    }

    async fn started(&self, tool: &str) -> u64 {
        self.counts().await["started"][tool].as_u64().unwrap()
    }
}

async fn members() -> [Member; 3] {
    let (a, b, c) = tokio::join!(Member::start("a"), Member::start("b"), Member::start("c"));
    [a, b, c]
}

/// A config with the members unexposed in group `pool`.
fn group_config(members: &[Member], group: &str, server_extra: &str) -> String {
    let mut text = format!("{HEAD}servers:\n");
    for member in members {
        text.push_str(&format!(
            "  - {{name: {}, transport: streamable-http, url: \"{}\", expose: false{server_extra}}}\n",
            member.name,
            member.url()
        ));
    }
    let names: Vec<&str> = members.iter().map(|m| m.name).collect();
    text.push_str(&format!(
        "groups:\n  - {{name: pool, members: [{}], {group}}}\n",
        names.join(", ")
    ));
    text
}

/// Who answered each of `n` `whoami` calls through the group.
async fn who_answers(client: &Client, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let result = client
            .call_tool(call("pool_whoami", json!({})))
            .await
            .unwrap();
        assert_ne!(result.is_error, Some(true), "{}", first_text(&result));
        *counts.entry(first_text(&result)).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_listed_once_and_round_robin_spreads_calls_evenly() {
    let members = members().await;
    let gw = TestGateway::start(&group_config(&members, "strategy: RoundRobin", "")).await;
    let client = session_client(&gw.mcp()).await;
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["pool_calls", "pool_fail", "pool_slow", "pool_whoami"],
        "the members' tools once, under the group's prefix; no member on its own"
    );

    let counts = who_answers(&client, 300).await;
    println!("RoundRobin, 300 calls: {counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (member, n) in &counts {
        assert!(
            (90..=110).contains(n),
            "{member} got {n} of 300: {counts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_sends_everything_to_the_first_member_and_moves_on_when_it_dies() {
    let mut members = members().await;
    let gw = TestGateway::start(&group_config(&members, "strategy: Failover", "")).await;
    let client = session_client(&gw.mcp()).await;
    let before = who_answers(&client, 20).await;
    println!("Failover, all members up: {before:?}");
    assert_eq!(before, BTreeMap::from([("a".to_string(), 20)]));

    members[0].kill().await;
    let after = who_answers(&client, 20).await;
    println!("Failover, a killed: {after:?}");
    assert_eq!(
        after,
        BTreeMap::from([("b".to_string(), 20)]),
        "every call is answered, by the next member in name order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_prefers_the_idle_member() {
    let members = members().await;
    let gw = TestGateway::start(&group_config(&members, "strategy: LeastConnections", "")).await;
    let client = session_client(&gw.mcp()).await;
    // Two long calls keep two members busy.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let peer = client.peer().clone();
            tokio::spawn(async move {
                let result = peer
                    .call_tool(call("pool_slow", json!({"seconds": 4})))
                    .await
                    .unwrap();
                first_text(&result)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut running = Vec::new();
    while running.len() < 2 {
        assert!(Instant::now() < deadline, "the slow calls did not start");
        running.clear();
        for member in &members {
            if member.counts().await["running"]["slow"].as_u64() == Some(1) {
                running.push(member.name);
            }
        }
    }
    let idle = members
        .iter()
        .map(|m| m.name)
        .find(|name| !running.contains(name))
        .unwrap();
    let meanwhile = who_answers(&client, 10).await;
    println!("LeastConnections, {running:?} busy: {meanwhile:?}");
    assert_eq!(meanwhile, BTreeMap::from([(idle.to_string(), 10)]));
    let mut slow_answers = Vec::new();
    for call in busy {
        slow_answers.push(call.await.unwrap());
    }
    slow_answers.sort();
    running.sort();
    assert_eq!(slow_answers, running, "each slow call had its own member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_touches_every_member() {
    let members = members().await;
    let gw = TestGateway::start(&group_config(&members, "strategy: Random", "")).await;
    // A member that is not ready is passed over by any strategy; this test is about the choice among ready ones.
    eventually("every member ready", Duration::from_secs(30), || {
        let (_, readiness) = gw.gateway.readiness();
        members
            .iter()
            .all(|m| readiness["servers"][m.name]["state"] == "ready")
    })
    .await;
    let client = session_client(&gw.mcp()).await;
    let counts = who_answers(&client, 60).await;
    println!("Random, 60 calls: {counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_retries_and_answers_are_never_retried() {
    let members = members().await;
    let gw = TestGateway::start(&group_config(
        &members,
        "strategy: Failover, maxRetries: 1",
        ", timeout: 1s",
    ))
    .await;
    let client = session_client(&gw.mcp()).await;

    // Every member is too slow: the first and one more are tried, then the call fails.
    let result = client
        .call_tool(call("pool_slow", json!({"seconds": 3})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let message = first_text(&result);
    println!("{message}");
    assert!(
        message.contains("MCP server group pool: 2 of its members failed")
            && message.contains("MCP server a did not answer within 1s")
            && message.contains("MCP server b did not answer within 1s")
            && message.contains("no more tries: maxRetries is 1"),
        "{message}"
    );
    let mut tried = Vec::new();
    for member in &members {
        tried.push(member.started("slow").await);
    }
    assert_eq!(tried, [1, 1, 0], "a, then b; never c");

    // A tool's own error is an answer: one member, no retry.
    let result = client
        .call_tool(call("pool_fail", json!({})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert!(
        first_text(&result).contains("Error executing tool fail"),
        "{result:?}"
    );
    // So is a JSON-RPC error.
    let error = client
        .get_prompt(GetPromptRequestParams::new("pool_refuse"))
        .await
        .unwrap_err();
    println!("JSON-RPC error passed through: {error}");
    for tool in ["fail", "refuse"] {
        let mut tried = Vec::new();
        for member in &members {
            tried.push(member.started(tool).await);
        }
        assert_eq!(tried, [1, 0, 0], "{tool}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_server_opens_its_circuit_fails_fast_and_closes_after_a_good_trial() {
    let member = Member::start("solo").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}servers:\n  - {{name: solo, transport: streamable-http, url: \"{}\", timeout: 500ms, circuitBreaker: {{failureThreshold: 2, resetTimeout: 3s}}}}\n",
        member.url()
    ))
    .await;
    let client = session_client(&gw.mcp()).await;
    for _ in 0..2 {
        let result = client
            .call_tool(call("solo_slow", json!({"seconds": 2})))
            .await
            .unwrap();
        assert!(
            first_text(&result).contains("did not answer within 500ms"),
            "{result:?}"
        );
    }
    let (_, detail) = gw.gateway.readiness();
    assert_eq!(detail["servers"]["solo"]["circuit"], "open", "{detail}");

    // Open: refused at once, without reaching the server.
    let started = Instant::now();
    let result = client
        .call_tool(call("solo_whoami", json!({})))
        .await
        .unwrap();
    let message = first_text(&result);
    println!("fails fast in {:?}: {message}", started.elapsed());
    assert_eq!(result.is_error, Some(true));
    assert!(
        message.contains("circuit breaker opened after 2 consecutive failed calls")
            && message.contains("did not answer within 500ms")
            && message.contains("refuses its calls for another"),
        "{message}"
    );
    assert_eq!(member.started("whoami").await, 0);

    // After resetTimeout one trial goes through; it answers, so the circuit closes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let result = client
        .call_tool(call("solo_whoami", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "solo");
    let (_, detail) = gw.gateway.readiness();
    assert_eq!(detail["servers"]["solo"]["circuit"], "closed", "{detail}");
    let result = client
        .call_tool(call("solo_whoami", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "solo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_passes_over_members_whose_circuit_is_open() {
    let members = members().await;
    let gw = TestGateway::start(&group_config(
        &members,
        "strategy: RoundRobin, maxRetries: 0",
        ", timeout: 1s, circuitBreaker: {failureThreshold: 1, resetTimeout: 1m}",
    ))
    .await;
    let client = session_client(&gw.mcp()).await;
    // Round robin starts at a: its slow call times out and opens its circuit.
    let result = client
        .call_tool(call("pool_slow", json!({"seconds": 3})))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let (_, detail) = gw.gateway.readiness();
    assert_eq!(detail["servers"]["a"]["circuit"], "open", "{detail}");
    let counts = who_answers(&client, 20).await;
    println!("RoundRobin with a's circuit open: {counts:?}");
    assert_eq!(
        counts,
        BTreeMap::from([("b".to_string(), 10), ("c".to_string(), 10)])
    );
    assert_eq!(members[0].started("whoami").await, 0);
}

/// Counts activity reports instead of renewing a Lease.
#[derive(Default)]
struct CountingSink {
    reports: AtomicUsize,
    idles: AtomicUsize,
}

impl ActivitySink for CountingSink {
    fn report<'a>(&'a self, _server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>> {
        self.reports.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn idle<'a>(&'a self, _server: &'a ServerSpec) -> BoxFuture<'a, ()> {
        self.idles.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {})
    }
}

async fn gateway_with(yaml: &str, sink: Arc<CountingSink>) -> (Gateway, Served) {
    init_logs();
    let config = GatewayConfig::parse(yaml, "test").unwrap();
    let gateway = Gateway::start_with(
        config,
        Arc::new(hangar_gateway::metrics::Metrics::new()),
        Some(sink),
        hangar_config::Environment::Process,
    )
    .unwrap();
    gateway.settled().await;
    let served = serve(hangar_gateway::http::router(
        gateway.clone(),
        Default::default(),
    ))
    .await;
    (gateway, served)
}

fn state(gateway: &Gateway, server: &str) -> Value {
    gateway.readiness().1["servers"][server]["state"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_calls_report_activity_a_bounded_number_of_times() {
    let member = Member::start("busy").await;
    let sink = Arc::new(CountingSink::default());
    // idleTTL 4s: activity is reported at most once a second.
    let (gateway, served) = gateway_with(
        &format!(
            "{HEAD}servers:\n  - {{name: busy, transport: streamable-http, url: \"{}\", scaleToZero: {{idleTTL: 4s}}}}\n",
            member.url()
        ),
        sink.clone(),
    )
    .await;
    let client = session_client(&served.url("/mcp")).await;
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let result = client
            .call_tool(call("busy_whoami", json!({})))
            .await
            .unwrap();
        assert_eq!(first_text(&result), "busy");
        calls += 1;
    }
    let elapsed = started.elapsed();
    // Let the trailing report (covering the last call) happen.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reports = sink.reports.load(Ordering::SeqCst);
    println!("{calls} calls in {elapsed:?}: {reports} activity reports");
    let bound = elapsed.as_secs() as usize + 2;
    assert!(calls >= 50, "only {calls} calls");
    assert!(
        (1..=bound).contains(&reports),
        "{reports} reports for {calls} calls in {elapsed:?} (at most {bound})"
    );
    assert_eq!(
        gateway.runtime().upstreams[0].activity_reports(),
        reports as u64
    );

    // After idleTTL without calls the gateway lets go of the server.
    let deadline = Instant::now() + Duration::from_secs(15);
    while state(&gateway, "busy") != "idle" {
        assert!(Instant::now() < deadline, "{:?}", gateway.readiness().1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sink.idles.load(Ordering::SeqCst), 1);
    // Its tools stay listed while it is idle, and a call wakes it again.
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "busy_whoami"));
    let result = client
        .call_tool(call("busy_whoami", json!({})))
        .await
        .unwrap();
    assert_eq!(first_text(&result), "busy");
    gateway.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_server_runs_only_while_used() {
    let sink = Arc::new(CountingSink::default());
    let (gateway, served) = gateway_with(
        &format!(
            "{HEAD}servers:\n  - {{name: lazy, transport: stdio, command: \"{}\", args: [\"{}\", lazy, stdio], scaleToZero: {{idleTTL: 2s}}}}\n",
            locate(Tool::Python).display(),
            member_script()
        ),
        sink,
    )
    .await;
    assert_eq!(state(&gateway, "lazy"), "idle", "not started before a call");
    let client = session_client(&served.url("/mcp")).await;
    // Never listed: the prefixed name still reaches it, and the call wakes it.
    let started = Instant::now();
    let result = client
        .call_tool(call("lazy_whoami", json!({})))
        .await
        .unwrap();
    println!("woken stdio server answered in {:?}", started.elapsed());
    assert_eq!(first_text(&result), "lazy");
    assert_eq!(state(&gateway, "lazy"), "ready");
    let deadline = Instant::now() + Duration::from_secs(15);
    while state(&gateway, "lazy") != "idle" {
        assert!(Instant::now() < deadline, "{:?}", gateway.readiness().1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("idle {:?} after the call", started.elapsed());
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "lazy_slow"),
        "learnt while it ran"
    );
    gateway.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_wake_in_time_gets_a_clear_error() {
    let closed = free_port();
    let sink = Arc::new(CountingSink::default());
    let (gateway, served) = gateway_with(
        &format!(
            "{HEAD}servers:\n  - {{name: never, transport: streamable-http, url: \"http://127.0.0.1:{closed}/mcp\", scaleToZero: {{idleTTL: 1m, wakeTimeout: 2s}}}}\n"
        ),
        sink.clone(),
    )
    .await;
    let client = session_client(&served.url("/mcp")).await;
    let started = Instant::now();
    let result = client
        .call_tool(call("never_whoami", json!({})))
        .await
        .unwrap();
    let waited = started.elapsed();
    let message = first_text(&result);
    println!("after {waited:?}: {message}");
    assert_eq!(result.is_error, Some(true));
    assert!(
        message.contains("MCP server never did not answer within its wake timeout of 2s")
            && message.contains("the last attempt"),
        "{message}"
    );
    assert!(waited >= Duration::from_secs(2), "waited {waited:?}");
    assert!(
        sink.reports.load(Ordering::SeqCst) >= 1,
        "it was asked to start"
    );
    gateway.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_tools_wakes_a_cold_server_the_gateway_never_listed() {
    let sink = Arc::new(CountingSink::default());
    let (gateway, served) = gateway_with(
        &format!(
            "{HEAD}servers:\n  - {{name: lazy, transport: stdio, command: \"{}\", args: [\"{}\", lazy, stdio], scaleToZero: {{idleTTL: 1m}}}}\n",
            locate(Tool::Python).display(),
            member_script()
        ),
        sink,
    )
    .await;
    let client = session_client(&served.url("/mcp")).await;
    let first = client.list_all_tools().await.unwrap();
    assert!(first.is_empty(), "nothing known yet: {first:?}");
    // That listing woke it; its tools follow (announced with list_changed).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tools = client.list_all_tools().await.unwrap();
        if tools.iter().any(|t| t.name == "lazy_whoami") {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", gateway.readiness().1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state(&gateway, "lazy"), "ready");
    gateway.shutdown();
}
