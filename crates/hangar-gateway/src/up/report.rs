//! What `hangar up` prints: the summary before serving, and a line per server.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_compile::Compiled;
use hangar_config::{DurationSpec, Environment, Transport};

use crate::gateway::Gateway;
use crate::upstream::{Status, Upstream};

/// The summary printed before serving.
pub fn describe(compiled: &Compiled, source: &str, endpoint: &str) -> String {
    let config = &compiled.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hangar up: {} server(s), {} tool(s), {} prompt(s), {} resource(s) from {source}",
        config.servers.len(),
        config.tools.len(),
        config.prompts.len(),
        config.resources.len()
    );
    for server in &config.servers {
        let how = match (&server.command, &server.url) {
            (Some(command), _) => format!("{} {}", command, server.args.join(" ")),
            (None, Some(url)) => {
                match compiled.processes.iter().find(|p| p.server == server.name) {
                    Some(process) => format!(
                        "{url} (started here: {} {})",
                        process.command,
                        process.args.join(" ")
                    ),
                    None => url.clone(),
                }
            }
            (None, None) => String::new(),
        };
        let mut how = how.trim_end().to_string();
        if let Some(scale) = &server.scale_to_zero {
            how.push_str(&format!(
                " [replicas 0: started by the first call, stopped after {} idle]",
                scale.idle_ttl
            ));
        }
        let _ = writeln!(
            out,
            "  server    {:<24} {:<15} {how}",
            server.name,
            server.transport.to_string(),
        );
    }
    for group in &config.groups {
        let _ = writeln!(
            out,
            "  group     {:<24} {:<15} members {}",
            group.name,
            format!("{:?}", group.strategy),
            group.members.join(", ")
        );
    }
    for tool in &config.tools {
        let method = format!("{:?}", tool.backend.method).to_uppercase();
        let _ = writeln!(
            out,
            "  tool      {:<24} {method} {}",
            tool.name, tool.backend.url
        );
    }
    for prompt in &config.prompts {
        let args: Vec<&str> = prompt.arguments.iter().map(|a| a.name.as_str()).collect();
        let _ = writeln!(out, "  prompt    {:<24} ({})", prompt.name, args.join(", "));
    }
    for resource in &config.resources {
        let source = if resource.http.is_some() {
            "http"
        } else {
            "inline"
        };
        let mime = resource.mime_type.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "  resource  {:<24} {source} {mime}",
            resource.uri.as_str()
        );
    }
    for line in config.curation.describe() {
        let _ = writeln!(out, "  curation  {line}");
    }
    for uncurated in &compiled.uncurated {
        let _ = writeln!(out, "  curation  not applied as written: {uncurated}");
    }
    if let Some(search) = &config.tool_search {
        let _ = writeln!(out, "  search    {}", search.describe());
    }
    if !compiled.skipped.is_empty() {
        let _ = writeln!(out, "not run locally:");
        for skipped in &compiled.skipped {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                skipped.kind, skipped.name, skipped.reason
            );
        }
    }
    let missing: Vec<_> = compiled
        .secret_env
        .iter()
        .filter(|s| !Environment::Process.contains(&s.env))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "Secrets not set (hangar up reads each from an environment variable):"
        );
        let tokens = config
            .auth
            .as_ref()
            .and_then(|a| a.bearer_tokens.as_ref())
            .map(|t| t.value_from_env.as_str());
        for secret in missing {
            let effect = if tokens == Some(secret.env.as_str()) {
                "the gateway's bearer tokens: every call is refused and /readyz is not ready until it is set"
            } else {
                "what needs it is not run: see above"
            };
            let _ = writeln!(
                out,
                "  Secret {} key {}: export {}=…  ({effect})",
                secret.secret, secret.key, secret.env
            );
        }
    }
    let _ = writeln!(out, "MCP endpoint: {endpoint}");
    out
}

/// One line per server: connected (with what it offers) or why not.
pub fn server_report(gateway: &Gateway) -> String {
    let mut out = String::new();
    for upstream in &gateway.runtime().upstreams {
        let _ = writeln!(out, "{}", server_line(upstream));
    }
    out
}

/// `  name  transport  state`, the state in words (with the next try when down).
pub fn server_line(upstream: &Upstream) -> String {
    let line = match upstream.status() {
        Status::Ready { protocol, .. } => {
            let listing = upstream.listing().unwrap_or_default();
            format!(
                "ready ({} tools, {} prompts, {} resources; protocol {protocol})",
                listing.tools.len(),
                listing.prompts.len(),
                listing.resources.len()
            )
        }
        Status::Down {
            error, next_try, ..
        } => format!(
            "not available: {error}; next try in {}",
            DurationSpec(Duration::from_secs(
                next_try
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
                    .ceil() as u64
            ))
        ),
        Status::Starting => "still starting".into(),
        Status::Idle { .. } => "scaled to zero: started on the first call".into(),
        Status::Stopped => "stopped".into(),
    };
    let transport = match upstream.spec().transport {
        Transport::Stdio => "stdio",
        Transport::StreamableHttp => "http",
        Transport::Sse => "sse",
    };
    format!("  {:<24} {transport:<6} {line}", upstream.name())
}

/// What a status is, without its details: a line is printed when this changes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Ready,
    Down(String),
    Idle,
    Stopped,
}

fn phase(status: &Status) -> Phase {
    match status {
        Status::Starting => Phase::Starting,
        Status::Ready { .. } => Phase::Ready,
        Status::Down { error, .. } => Phase::Down(error.clone()),
        Status::Idle { .. } => Phase::Idle,
        Status::Stopped => Phase::Stopped,
    }
}

/// How long startup waits for all servers before saying it is ready anyway.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(20);
/// How often startup says which servers it still waits for.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Prints a server's line whenever its state changes, until `stop`: at
/// startup each as it comes up or fails (none waits for another), every
/// [`PROGRESS_EVERY`] the ones still starting; `ready` fires once every
/// server has tried, or after `patience`.
pub async fn follow_servers(
    gateway: Gateway,
    patience: Duration,
    ready: tokio::sync::oneshot::Sender<Vec<String>>,
    stop: tokio_util::sync::CancellationToken,
) {
    let upstreams: Vec<Arc<Upstream>> = gateway.runtime().upstreams.clone();
    if upstreams.is_empty() {
        let _ = ready.send(Vec::new());
        return;
    }
    let mut changes: Vec<_> = upstreams.iter().map(|u| u.status_changes()).collect();
    let mut printed: Vec<Phase> = vec![Phase::Starting; upstreams.len()];
    let started = Instant::now();
    let mut ready = Some(ready);
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        for (upstream, last) in upstreams.iter().zip(printed.iter_mut()) {
            let now = phase(&upstream.status());
            if now != *last && now != Phase::Starting {
                println!("{}", server_line(upstream));
                *last = now;
            }
        }
        let waiting: Vec<String> = upstreams
            .iter()
            .filter(|u| !u.is_settled())
            .map(|u| u.name().to_string())
            .collect();
        if ready.is_some() {
            if waiting.is_empty() || started.elapsed() >= patience {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(waiting);
                }
            } else if Instant::now() >= next_progress {
                println!(
                    "  … still starting after {}s: {}",
                    started.elapsed().as_secs(),
                    waiting.join(", ")
                );
                next_progress += PROGRESS_EVERY;
            }
        }
        let any_change = futures::future::select_all(
            changes
                .iter_mut()
                .map(|c| Box::pin(c.changed()))
                .collect::<Vec<_>>(),
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            // Progress lines while starting; afterwards only changes wake this.
            _ = tokio::time::sleep(Duration::from_millis(500)), if ready.is_some() => {}
            (changed, _, _) = any_change => {
                if changed.is_err() {
                    // The gateway is shutting down.
                    return stop.cancelled().await;
                }
            }
        }
    }
}
