//! `make bench`: the `hangar gateway` binary (release) under `wrk`, side by
//! side in one run with the backend called directly (the floor), nginx
//! proxying the same backend, and ToolHive's vMCP federating the same
//! upstream. `wrk` runs on core 0; everything measured shares core 1.
//!
//! Prints one table per path (a declared tool, a federated server, and
//! `search_tools` over 1,000 tools) and protocol era (1/16/64 connections: req/s,
//! p50, p99 and CPU µs per call of the measured process, median of
//! HANGAR_BENCH_RUNS runs of HANGAR_BENCH_SECONDS each, default 3 × 3 s),
//! then memory: RSS idle, after the load, with idle legacy sessions (just
//! begun, and again shortly before they time out) and after they expired;
//! then the goals of issue 14, each met or not with its figure. Needs
//! `scripts/bench-deps.sh` (wrk, nginx, the Go peer, vMCP) and
//! `cargo build --release -p hangar`.

#[path = "../../tests/support/catalog.rs"]
mod catalog;
mod goals;
mod load;
mod targets;

use std::collections::BTreeMap;
use std::time::Duration;

use load::{Measured, Proc, Shape, median};
use targets::{Era, openapi_call, plain_post, search_tools, tools_call};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const CONNECTIONS: [usize; 3] = [1, 16, 64];

/// The two request paths measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A declared tool with a plain HTTP backend.
    Declared,
    /// A tool an OpenAPI document became (MCPToolSet), arguments placed in
    /// the query, a header and the body.
    OpenApi,
    /// A federated MCP server.
    Federated,
    /// `search_tools` with tool search on over 1,000 declared tools.
    Search,
}

/// Where each target sits in a table (its row order).
const DIRECT: usize = 0;
const NGINX: usize = 1;
const HANGAR: usize = 2;
const VMCP: usize = 3;

/// One table: a path in one era, each target at each connection count.
struct Table {
    title: String,
    route: Route,
    era: Era,
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
            if order <= NGINX {
                // The floor and the bare proxy: the same whatever era the client speaks.
                self.floors.insert(key, measured);
            }
            let table = self.tables.last_mut().expect("a table");
            table
                .rows
                .insert((connections, order), (name.to_string(), measured));
        }
    }

    fn table(&mut self, title: String, route: Route, era: Era) {
        self.tables.push(Table {
            title,
            route,
            era,
            rows: BTreeMap::new(),
        });
    }
}

/// What memory one gateway holds: idle, after load, with idle sessions
/// (just begun, then idle for most of their timeout), after expiry.
struct Memory {
    name: &'static str,
    idle_kib: u64,
    after_load_kib: u64,
    sessions: usize,
    /// How long beginning the sessions took.
    begun_in: Duration,
    begun_kib: u64,
    /// Once the sessions sat idle for most of their timeout (Hangar's have
    /// been put to rest by then).
    idled_kib: u64,
    after_expiry_kib: u64,
}

impl Memory {
    /// What one idle session holds, once idle.
    fn per_session_kib(&self) -> f64 {
        self.idled_kib.saturating_sub(self.after_load_kib) as f64 / self.sessions as f64
    }
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
    let started = tokio::time::Instant::now();
    targets::sessions(http, url, count).await;
    let begun_in = started.elapsed();
    let begun_kib = proc.rss_kib();
    // Just before the first session expires.
    tokio::time::sleep_until(started + targets::SESSION_IDLE - Duration::from_secs(2)).await;
    let idled_kib = proc.rss_kib();
    // Every session has been idle past its timeout (plus the sweep's slack).
    tokio::time::sleep_until(started + begun_in + targets::SESSION_IDLE + Duration::from_secs(10))
        .await;
    Memory {
        name,
        idle_kib,
        after_load_kib,
        sessions: count,
        begun_in,
        begun_kib,
        idled_kib,
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
    let (mut searching, searching_port) = targets::hangar_searching(dir.path(), &backends);
    // Upstreams connect in the background; give them a moment, then idle RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hangar_idle = hangar.rss_kib();
    let vmcp_idle = vmcp.rss_kib();
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let (echo, mcp) = (backends.echo_port, backends.mcp_port);

    for era in [Era::Stateless, Era::Session] {
        let session = |port: u16| (era == Era::Session).then(|| url(port, "/mcp"));
        bench.table(
            format!(
                "declared tool (plain HTTP backend), client speaks {}",
                era.label()
            ),
            Route::Declared,
            era,
        );
        bench
            .target(
                DIRECT,
                "direct (backend)",
                &mut backends.proc,
                |_| plain_post(url(echo, "/echo")),
                None,
            )
            .await;
        bench
            .target(
                NGINX,
                "nginx → backend",
                &mut nginx,
                |_| plain_post(url(nginx_port, "/echo")),
                None,
            )
            .await;
        bench
            .target(
                HANGAR,
                "Hangar",
                &mut hangar,
                |s| tools_call(url(hangar_port, "/mcp"), "echo", era, s),
                session(hangar_port).as_deref(),
            )
            .await;

        bench.table(
            format!(
                "OpenAPI-derived tool (MCPToolSet: query, header and body arguments), client speaks {}",
                era.label()
            ),
            Route::OpenApi,
            era,
        );
        bench
            .target(
                DIRECT,
                "direct (backend)",
                &mut backends.proc,
                |_| plain_post(url(echo, "/echo")),
                None,
            )
            .await;
        bench
            .target(
                HANGAR,
                "Hangar",
                &mut hangar,
                |s| openapi_call(url(hangar_port, "/mcp"), era, s),
                session(hangar_port).as_deref(),
            )
            .await;

        bench.table(
            format!(
                "federated MCP server (Go SDK), client speaks {}",
                era.label()
            ),
            Route::Federated,
            era,
        );
        // The Go SDK server speaks the session revisions only: called
        // directly (and through nginx) it is always called in its own era.
        let upstream_session = Some(url(mcp, "/mcp"));
        bench
            .target(
                DIRECT,
                "direct (upstream, 2025-11-25)",
                &mut backends.proc,
                |s| tools_call(url(mcp, "/mcp"), "echo", Era::Session, s),
                upstream_session.as_deref(),
            )
            .await;
        bench
            .target(
                NGINX,
                "nginx → upstream (2025-11-25)",
                &mut nginx,
                |s| tools_call(url(nginx_port, "/mcp"), "echo", Era::Session, s),
                Some(url(nginx_port, "/mcp")).as_deref(),
            )
            .await;
        bench
            .target(
                HANGAR,
                "Hangar",
                &mut hangar,
                |s| tools_call(url(hangar_port, "/mcp"), "up_echo", era, s),
                session(hangar_port).as_deref(),
            )
            .await;
        bench
            .target(
                VMCP,
                "ToolHive vMCP",
                &mut vmcp,
                |s| tools_call(url(vmcp_port, "/mcp"), "up_echo", era, s),
                session(vmcp_port).as_deref(),
            )
            .await;

        bench.table(
            format!(
                "search_tools over 1,000 declared tools (tool search on), client speaks {}",
                era.label()
            ),
            Route::Search,
            era,
        );
        bench
            .target(
                HANGAR,
                "Hangar",
                &mut searching,
                |s| search_tools(url(searching_port, "/mcp"), era, s),
                session(searching_port).as_deref(),
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
    goals::print(&bench.tables, &memories[0]);
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
        println!(
            "| conns | target | req/s | p50 ms | p99 ms | CPU µs/call | req/s vs direct | stolen % |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|---:|");
        for ((connections, _), (name, m)) in &table.rows {
            // A search has no backend to call directly.
            let versus_direct = table.rows.get(&(*connections, DIRECT)).map_or_else(
                || "—".to_string(),
                |(_, d)| format!("{:.2}×", m.requests_per_second / d.requests_per_second),
            );
            println!(
                "| {connections} | {name} | {:.0} | {:.2} | {:.2} | {:.0} | {versus_direct} | {:.0} |",
                m.requests_per_second, m.p50_ms, m.p99_ms, m.cpu_us_per_call, m.stolen_percent,
            );
        }
    }
    println!(
        "\nmemory (RSS); sessions time out after {} s idle\n",
        targets::SESSION_IDLE.as_secs()
    );
    let count = memories.first().map_or(0, |m| m.sessions);
    println!(
        "| gateway | idle | after the load | {count} sessions just begun | the same {} s later | per idle session | after they expired |",
        (targets::SESSION_IDLE - Duration::from_secs(2)).as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mib = |kib: u64| kib as f64 / 1024.0;
    for m in memories {
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB (in {:.1} s) | {:.1} MiB | {:.1} KiB | {:.1} MiB |",
            m.name,
            mib(m.idle_kib),
            mib(m.after_load_kib),
            mib(m.begun_kib),
            m.begun_in.as_secs_f64(),
            mib(m.idled_kib),
            m.per_session_kib(),
            mib(m.after_expiry_kib),
        );
    }
}
