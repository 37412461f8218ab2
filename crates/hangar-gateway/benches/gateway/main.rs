//! `make bench`: the `hangar gateway` binary (release) under `wrk`, side by
//! side in one run with the backend called directly (the floor), nginx
//! proxying the same backend, and ToolHive's vMCP federating the same
//! upstream. `wrk` runs on core 0; everything measured shares core 1.
//!
//! Prints one table per path and protocol era (1/16/64 connections: req/s,
//! p50, p99 and CPU µs per call of the measured process, median of
//! HANGAR_BENCH_RUNS runs of HANGAR_BENCH_SECONDS each, default 3 × 3 s),
//! then memory: RSS idle, after the load, per idle legacy session, and after
//! those sessions expired. Needs `scripts/bench-deps.sh` (wrk, nginx, the Go
//! peer, vMCP) and `cargo build --release -p hangar`.

mod load;
mod targets;

use std::collections::BTreeMap;
use std::time::Duration;

use load::{Measured, Proc, Shape, median};
use targets::{Era, plain_post, tools_call};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CONNECTIONS: [usize; 3] = [1, 16, 64];

/// One table: a path in one era, each target at each connection count.
struct Table {
    title: String,
    /// (connections, target) -> measured
    rows: BTreeMap<(usize, usize), (String, Measured)>,
}

struct Bench {
    script: std::path::PathBuf,
    seconds: u64,
    runs: u64,
    http: reqwest::Client,
    tables: Vec<Table>,
    /// Rows that do not depend on the client's era, measured once.
    floors: BTreeMap<(String, usize), Measured>,
}

impl Bench {
    /// Measures one target at each connection count into the last table.
    async fn target(
        &mut self,
        order: usize,
        name: &str,
        proc: &mut Proc,
        shape: impl Fn(Vec<String>) -> Shape,
        session_url: Option<&str>,
    ) {
        for connections in CONNECTIONS {
            let key = (name.to_string(), connections);
            if let Some(measured) = self.floors.get(&key).copied() {
                let table = self.tables.last_mut().expect("a table");
                table
                    .rows
                    .insert((connections, order), (name.to_string(), measured));
                continue;
            }
            let sessions = match session_url {
                Some(url) => targets::sessions(&self.http, url, connections).await,
                None => vec![],
            };
            let shape = shape(sessions);
            targets::check(&self.http, &shape).await;
            let runs: Vec<Measured> = (0..self.runs)
                .map(|_| load::wrk(&self.script, &shape, connections, self.seconds, proc))
                .collect();
            let measured = median(&runs);
            if order <= 1 {
                // The floor and the bare proxy: the same whatever era the client speaks.
                self.floors.insert(key, measured);
            }
            let table = self.tables.last_mut().expect("a table");
            table
                .rows
                .insert((connections, order), (name.to_string(), measured));
        }
    }

    fn table(&mut self, title: String) {
        self.tables.push(Table {
            title,
            rows: BTreeMap::new(),
        });
    }
}

/// What memory one gateway holds: idle, after load, per idle session, after expiry.
struct Memory {
    name: &'static str,
    idle_kib: u64,
    after_load_kib: u64,
    sessions: usize,
    with_sessions_kib: u64,
    after_expiry_kib: u64,
}

async fn memory(
    name: &'static str,
    proc: &Proc,
    idle_kib: u64,
    http: &reqwest::Client,
    url: &str,
) -> Memory {
    let count = env_number("HANGAR_BENCH_SESSIONS", 5000) as usize;
    let after_load_kib = proc.rss_kib();
    let started = std::time::Instant::now();
    targets::sessions(http, url, count).await;
    let with_sessions_kib = proc.rss_kib();
    // Every session has been idle past its timeout (plus the sweep's slack).
    let expired = started.elapsed() + targets::SESSION_IDLE + Duration::from_secs(10);
    tokio::time::sleep(expired.saturating_sub(started.elapsed())).await;
    Memory {
        name,
        idle_kib,
        after_load_kib,
        sessions: count,
        with_sessions_kib,
        after_expiry_kib: proc.rss_kib(),
    }
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("calls.lua");
    std::fs::write(&script, include_str!("calls.lua")).unwrap();
    load::require("wrk", targets::DEPS);
    load::require("taskset", "install util-linux");
    let mut bench = Bench {
        script,
        seconds: env_number("HANGAR_BENCH_SECONDS", 3),
        runs: env_number("HANGAR_BENCH_RUNS", 3),
        http: reqwest::Client::new(),
        tables: vec![],
        floors: BTreeMap::new(),
    };

    let mut backends = targets::backends(dir.path());
    let (mut nginx, nginx_port) = targets::nginx(dir.path(), &backends);
    let (mut hangar, hangar_port) = targets::hangar(dir.path(), &backends);
    let (mut vmcp, vmcp_port) = targets::vmcp(dir.path(), &backends);
    // Upstreams connect in the background; give them a moment, then idle RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hangar_idle = hangar.rss_kib();
    let vmcp_idle = vmcp.rss_kib();
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let (echo, mcp) = (backends.echo_port, backends.mcp_port);

    for era in [Era::Stateless, Era::Session] {
        let session = |port: u16| (era == Era::Session).then(|| url(port, "/mcp"));
        bench.table(format!(
            "declared tool (plain HTTP backend), client speaks {}",
            era.label()
        ));
        bench
            .target(
                0,
                "direct (backend)",
                &mut backends.proc,
                |_| plain_post(url(echo, "/echo")),
                None,
            )
            .await;
        bench
            .target(
                1,
                "nginx → backend",
                &mut nginx,
                |_| plain_post(url(nginx_port, "/echo")),
                None,
            )
            .await;
        bench
            .target(
                2,
                "Hangar",
                &mut hangar,
                |s| tools_call(url(hangar_port, "/mcp"), "echo", era, s),
                session(hangar_port).as_deref(),
            )
            .await;

        bench.table(format!(
            "federated MCP server (Go SDK), client speaks {}",
            era.label()
        ));
        // The Go SDK server speaks the session revisions only: called
        // directly (and through nginx) it is always called in its own era.
        let upstream_session = Some(url(mcp, "/mcp"));
        bench
            .target(
                0,
                "direct (upstream, 2025-11-25)",
                &mut backends.proc,
                |s| tools_call(url(mcp, "/mcp"), "echo", Era::Session, s),
                upstream_session.as_deref(),
            )
            .await;
        bench
            .target(
                1,
                "nginx → upstream (2025-11-25)",
                &mut nginx,
                |s| tools_call(url(nginx_port, "/mcp"), "echo", Era::Session, s),
                Some(url(nginx_port, "/mcp")).as_deref(),
            )
            .await;
        bench
            .target(
                2,
                "Hangar",
                &mut hangar,
                |s| tools_call(url(hangar_port, "/mcp"), "up_echo", era, s),
                session(hangar_port).as_deref(),
            )
            .await;
        bench
            .target(
                3,
                "ToolHive vMCP",
                &mut vmcp,
                |s| tools_call(url(vmcp_port, "/mcp"), "up_echo", era, s),
                session(vmcp_port).as_deref(),
            )
            .await;
    }

    let memories = [
        memory(
            "Hangar",
            &hangar,
            hangar_idle,
            &bench.http,
            &url(hangar_port, "/mcp"),
        )
        .await,
        memory(
            "ToolHive vMCP",
            &vmcp,
            vmcp_idle,
            &bench.http,
            &url(vmcp_port, "/mcp"),
        )
        .await,
    ];
    print(&bench, &memories);
}

fn print(bench: &Bench, memories: &[Memory]) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n`make bench`: wrk -t1 on core {}, the measured process and the backends on core {}; \
         median of {} runs of {} s; load average before printing: {}",
        load::LOAD_CORE,
        load::SERVER_CORE,
        bench.runs,
        bench.seconds,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for table in &bench.tables {
        println!("\n{}\n", table.title);
        println!("| conns | target | req/s | p50 ms | p99 ms | CPU µs/call | req/s vs direct |");
        println!("|---:|---|---:|---:|---:|---:|---:|");
        for ((connections, _), (name, m)) in &table.rows {
            let direct = table
                .rows
                .get(&(*connections, 0))
                .map_or(0.0, |(_, d)| d.requests_per_second);
            println!(
                "| {connections} | {name} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2}× |",
                m.requests_per_second,
                m.p50_ms,
                m.p99_ms,
                m.cpu_us_per_call,
                m.requests_per_second / direct
            );
        }
    }
    println!("\nmemory (RSS)\n");
    println!(
        "| gateway | idle | after the load | {} idle legacy sessions | per 1,000 sessions | after they expired |",
        memories.first().map_or(0, |m| m.sessions)
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for m in memories {
        let per_thousand = (m.with_sessions_kib.saturating_sub(m.after_load_kib)) as f64 * 1000.0
            / m.sessions as f64;
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB ({:.1} KiB each) | {:.1} MiB |",
            m.name,
            m.idle_kib as f64 / 1024.0,
            m.after_load_kib as f64 / 1024.0,
            m.with_sessions_kib as f64 / 1024.0,
            per_thousand / 1024.0,
            per_thousand / 1000.0,
            m.after_expiry_kib as f64 / 1024.0,
        );
    }
}
