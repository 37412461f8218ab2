//! `cargo bench -p hangar-gateway`: `tools/call` throughput and latency
//! through the gateway versus calling the backend directly, for an MCPTool
//! (plain HTTP backend) and for a federated upstream MCP server, in one run;
//! and session-based calls with sessions in memory versus in Redis (a real
//! `redis-server`, from `scripts/test-deps.sh redis`).
//!
//! Tune with HANGAR_BENCH_REQUESTS (default 3000) and
//! HANGAR_BENCH_CONCURRENCY (default 16).

#[path = "../tests/support/mod.rs"]
mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use support::*;

struct Row {
    name: &'static str,
    requests: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Row {
    fn percentile(&self, p: f64) -> f64 {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `requests` calls of `call` with `concurrency` in flight; returns sorted latencies and wall time.
async fn measure<F, Fut>(name: &'static str, requests: usize, concurrency: usize, call: F) -> Row
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    // Warm connections, caches and the allocator before measuring.
    for _ in 0..concurrency.max(50) {
        call().await;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let begun = Instant::now();
                    call().await;
                    latencies.push(begun.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.expect("a benchmark worker panicked"));
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    Row {
        name,
        requests,
        seconds,
        latencies,
    }
}

fn echo_call(name: &str) -> CallToolRequestParams {
    CallToolRequestParams::new(name.to_string())
        .with_arguments(args(serde_json::json!({"text": "benchmark"})))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let requests = env_usize("HANGAR_BENCH_REQUESTS", 3000);
    let concurrency = env_usize("HANGAR_BENCH_CONCURRENCY", 16);
    let backend = backend().await;
    let (upstream, _) = fixture("bench-upstream").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}tools:\n  - {{name: echo, inputSchema: {{type: object, properties: {{text: {{type: string}}}}}}, backend: {{url: \"{}\"}}}}\nservers:\n  - {{name: up, transport: streamable-http, url: \"{}\"}}\n",
        backend.url("/echo"),
        upstream.url("/mcp"),
    ))
    .await;

    let mut rows = Vec::new();

    let http = reqwest::Client::new();
    let echo_url = backend.url("/echo");
    rows.push(
        measure(
            "MCPTool backend, direct HTTP POST",
            requests,
            concurrency,
            move || {
                let request = http
                    .post(&echo_url)
                    .json(&serde_json::json!({"text": "benchmark"}));
                async move {
                    let response = request.send().await.expect("backend answers");
                    assert!(response.status().is_success());
                    response.bytes().await.unwrap();
                }
            },
        )
        .await,
    );

    for (name, stateless) in [
        ("MCPTool via gateway, session client", false),
        ("MCPTool via gateway, stateless client", true),
    ] {
        let client = if stateless {
            stateless_client(&gw.mcp()).await
        } else {
            session_client(&gw.mcp()).await
        };
        let peer = client.peer().clone();
        rows.push(
            measure(name, requests, concurrency, move || {
                let peer = peer.clone();
                async move {
                    let result = peer.call_tool(echo_call("echo")).await.expect("tools/call");
                    assert_ne!(result.is_error, Some(true), "{result:?}");
                }
            })
            .await,
        );
        client.cancel().await.unwrap();
    }

    let direct = session_client(&upstream.url("/mcp")).await;
    let peer = direct.peer().clone();
    rows.push(
        measure(
            "upstream MCP server, direct session client",
            requests,
            concurrency,
            move || {
                let peer = peer.clone();
                async move {
                    peer.call_tool(echo_call("echo")).await.expect("tools/call");
                }
            },
        )
        .await,
    );
    direct.cancel().await.unwrap();

    for (name, stateless) in [
        ("upstream via gateway, session client", false),
        ("upstream via gateway, stateless client", true),
    ] {
        let client = if stateless {
            stateless_client(&gw.mcp()).await
        } else {
            session_client(&gw.mcp()).await
        };
        let peer = client.peer().clone();
        rows.push(
            measure(name, requests, concurrency, move || {
                let peer = peer.clone();
                async move {
                    let result = peer
                        .call_tool(echo_call("up_echo"))
                        .await
                        .expect("tools/call");
                    assert_ne!(result.is_error, Some(true), "{result:?}");
                }
            })
            .await,
        );
        client.cancel().await.unwrap();
    }

    // Session-based calls with sessions (and their SSE events) in memory and in Redis.
    let redis = hangar_testenv::redis::RedisServer::start_in_memory();
    let shared = TestGateway::start(&format!(
        "{HEAD}redis: {{url: \"{}\"}}\ntools:\n  - {{name: echo, inputSchema: {{type: object, properties: {{text: {{type: string}}}}}}, backend: {{url: \"{}\"}}}}\n",
        redis.url(),
        backend.url("/echo"),
    ))
    .await;
    let link = shared
        .gateway
        .shared()
        .link
        .clone()
        .expect("a redis section");
    eventually(
        "the gateway to reach Redis",
        Duration::from_secs(30),
        || link.is_up(),
    )
    .await;
    // (sessions, calls in flight): one session with one call at a time, one
    // session with many calls at once, and many sessions with one call each.
    let mut stores = Vec::new();
    for (sessions, in_flight) in [(1, 1), (1, concurrency), (concurrency, concurrency)] {
        for (store, url) in [("memory", gw.mcp()), ("redis", shared.mcp())] {
            let mut clients = Vec::new();
            for _ in 0..sessions {
                clients.push(session_client(&url).await);
            }
            let peers: Arc<Vec<_>> = Arc::new(clients.iter().map(|c| c.peer().clone()).collect());
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let row = measure(store, requests, in_flight, move || {
                let turn = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let peer = peers[turn % peers.len()].clone();
                async move {
                    let result = peer.call_tool(echo_call("echo")).await.expect("tools/call");
                    assert_ne!(result.is_error, Some(true), "{result:?}");
                }
            })
            .await;
            stores.push((sessions, in_flight, row));
            for client in clients {
                client.cancel().await.unwrap();
            }
        }
    }

    println!(
        "\ntools/call, {requests} requests per row, {concurrency} in flight, {} CPU(s)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| {:<44} | {:>9} | {:>8} | {:>8} |",
        "path", "req/s", "p50 ms", "p99 ms"
    );
    println!("|{:-<46}|{:->11}|{:->10}|{:->10}|", "", "", "", "");
    for row in &rows {
        println!(
            "| {:<44} | {:>9.0} | {:>8.2} | {:>8.2} |",
            row.name,
            row.requests as f64 / row.seconds,
            row.percentile(0.50),
            row.percentile(0.99)
        );
    }
    println!(
        "\nsession-based tools/call of an MCPTool, sessions in memory vs in Redis (redis-server on this machine, no persistence)\n"
    );
    println!(
        "| {:<8} | {:>8} | {:>9} | {:>9} | {:>8} | {:>8} |",
        "store", "sessions", "in flight", "req/s", "p50 ms", "p99 ms"
    );
    println!(
        "|{:-<10}|{:->10}|{:->11}|{:->11}|{:->10}|{:->10}|",
        "", "", "", "", "", ""
    );
    for (sessions, in_flight, row) in &stores {
        println!(
            "| {:<8} | {:>8} | {:>9} | {:>9.0} | {:>8.2} | {:>8.2} |",
            row.name,
            sessions,
            in_flight,
            row.requests as f64 / row.seconds,
            row.percentile(0.50),
            row.percentile(0.99)
        );
    }
    for pair in stores.chunks(2) {
        let [(sessions, in_flight, memory), (_, _, redis)] = pair else {
            continue;
        };
        println!(
            "Redis adds {:+.2} ms per call at p50 ({sessions} session(s), {in_flight} in flight)",
            redis.percentile(0.50) - memory.percentile(0.50)
        );
    }
}
