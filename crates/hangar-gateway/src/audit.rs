//! The audit trail: one JSON record per `tools/call`, `prompts/get` and
//! `resources/read` (denied and rate-limited ones too), written to its own
//! stream — standard output and/or an append-only file — apart from the
//! gateway's logs on standard error.
//!
//! A record names who called what, where the call went and how it ended; it
//! carries a SHA-256 of the arguments, and the arguments themselves only when
//! `audit.includeArguments` is set. Never a token, a header or a result.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hangar_config::AuditSettings;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::access::Caller;
use crate::gateway::Gateway;

/// The `target` of every record, telling it apart from log lines.
pub const TARGET: &str = "hangar::audit";

/// How an audited call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A result.
    Ok,
    /// A tool result with `isError` (the tool ran and failed, or its server
    /// could not be reached and the gateway said why).
    ToolError,
    /// A JSON-RPC error answer.
    RpcError,
    /// No authorization rule grants the caller the item.
    Denied,
    /// Refused by a rate limit before reaching the handler.
    RateLimited,
    /// Refused because the server's circuit breaker is open.
    CircuitOpen,
}

impl Outcome {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::RpcError => "rpc_error",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
            Outcome::CircuitOpen => "circuit_open",
        }
    }
}

/// What forwarding learns about a call while it runs, for its record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trail {
    /// The MCPServer or MCPServerGroup the name routed to.
    pub upstream: Option<String>,
    /// The server that was last tried (a group's member; the server itself otherwise).
    pub member: Option<String>,
    pub denied: bool,
    /// The last server tried refused the call with its circuit open.
    pub circuit_open: bool,
}

tokio::task_local! {
    static TRAIL: RefCell<Trail>;
}

/// Runs `work` and returns what it noted on its [`Trail`].
pub async fn traced<F: Future>(work: F) -> (F::Output, Trail) {
    TRAIL
        .scope(RefCell::new(Trail::default()), async {
            let output = work.await;
            (output, TRAIL.with(|trail| trail.take()))
        })
        .await
}

/// Notes something on the running call's trail; nothing outside [`traced`].
pub fn note(change: impl FnOnce(&mut Trail)) {
    let _ = TRAIL.try_with(|trail| change(&mut trail.borrow_mut()));
}

/// The call as the client made it.
pub struct Attempt<'a> {
    pub method: &'static str,
    /// The tool or prompt name, or the resource URI, as the client sent it.
    pub name: &'a str,
    /// What the record says of the arguments ([`Auditor::arguments`]).
    pub arguments: Option<Arguments>,
    pub caller: &'a Caller,
    /// `None` for stateless (2026-07-28) requests.
    pub session_id: Option<&'a str>,
    pub request_id: &'a str,
}

/// A call's arguments as its record holds them: their digest, and the
/// arguments themselves only with `includeArguments`.
pub struct Arguments {
    sha256: String,
    shown: Option<Map<String, Value>>,
}

/// How the call ended.
pub struct Verdict {
    pub outcome: Outcome,
    /// The JSON-RPC error code of an error answer (never its message, which
    /// may repeat what the client sent).
    pub error_code: Option<i32>,
    pub trail: Trail,
    pub elapsed: Duration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    time: String,
    target: &'static str,
    gateway: &'a str,
    subject: Option<&'a str>,
    groups: &'a [String],
    client_address: Option<String>,
    session_id: Option<&'a str>,
    request_id: &'a str,
    method: &'static str,
    name: &'a str,
    upstream: Option<&'a str>,
    member: Option<&'a str>,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<i32>,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Map<String, Value>>,
}

/// Writes records where the config's `audit` section says.
pub struct Auditor {
    settings: AuditSettings,
    file: Option<Mutex<File>>,
}

impl Auditor {
    /// Opens the file, if any, for appending.
    pub fn open(settings: &AuditSettings) -> Result<Self, String> {
        let file = match &settings.file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        format!("audit.file: cannot open {} to append: {e}", path.display())
                    })?,
            )),
            None => None,
        };
        Ok(Self {
            settings: settings.clone(),
            file,
        })
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// What a record of a call with `arguments` says of them; taken before
    /// the call, so only what is shown is copied.
    pub fn arguments(&self, arguments: Option<&Map<String, Value>>) -> Option<Arguments> {
        arguments.map(|arguments| Arguments {
            sha256: digest(arguments),
            shown: self.settings.include_arguments.then(|| arguments.clone()),
        })
    }

    /// Writes one record. A failed write is logged, never the call's failure.
    pub fn write(&self, gateway: &str, attempt: &Attempt<'_>, verdict: &Verdict) {
        let record = Record {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            target: TARGET,
            gateway,
            subject: attempt.caller.subject.as_deref(),
            groups: &attempt.caller.groups,
            client_address: attempt.caller.address.map(|a| a.to_string()),
            session_id: attempt.session_id,
            request_id: attempt.request_id,
            method: attempt.method,
            name: attempt.name,
            upstream: verdict.trail.upstream.as_deref(),
            member: verdict.trail.member.as_deref(),
            outcome: verdict.outcome,
            error_code: verdict.error_code,
            latency_ms: (verdict.elapsed.as_secs_f64() * 1e6).round() / 1e3,
            arguments_sha256: attempt.arguments.as_ref().map(|a| a.sha256.as_str()),
            arguments: attempt.arguments.as_ref().and_then(|a| a.shown.as_ref()),
        };
        let mut line = serde_json::to_vec(&record).expect("an audit record always serialises");
        line.push(b'\n');
        if self.settings.stdout {
            // One write under the lock, so records never interleave.
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(&line).and_then(|()| stdout.flush()) {
                tracing::warn!(error = %e, "cannot write an audit record to standard output");
            }
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = file.write_all(&line) {
                tracing::warn!(error = %e, "cannot write an audit record to audit.file");
            }
        }
    }
}

impl Gateway {
    /// Counts a call in the per-tool metrics (tool calls only) and writes its
    /// audit record when the config asks for one. `timed` is false for calls
    /// refused before they ran (rate limits): counted, not timed.
    pub fn account(&self, attempt: &Attempt<'_>, verdict: &Verdict, timed: bool) {
        let runtime = self.runtime();
        if attempt.method == "tools/call" {
            // A name the catalog lacks is `unknown`, so callers cannot mint series.
            let known = runtime.catalog.tool_definition(attempt.name).is_some();
            self.metrics().observe_tool_call(
                known.then_some(attempt.name),
                &attempt.caller.groups,
                verdict.outcome.label(),
                timed.then_some(verdict.elapsed.as_secs_f64()),
            );
        }
        if let Some(auditor) = &runtime.audit {
            auditor.write(&runtime.config.gateway.name, attempt, verdict);
        }
    }
}

/// SHA-256 of the arguments' canonical JSON (object keys sorted at every
/// level), so equal arguments give equal digests whatever their key order.
pub fn digest(arguments: &Map<String, Value>) -> String {
    let mut hasher = sha2::Sha256::new();
    canonical_object(&mut hasher, arguments);
    hex::encode(hasher.finalize())
}

fn canonical_object(hasher: &mut sha2::Sha256, map: &Map<String, Value>) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    hasher.update(b"{");
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        hasher.update(
            serde_json::to_string(key)
                .expect("a string serialises")
                .as_bytes(),
        );
        hasher.update(b":");
        canonical(hasher, &map[key]);
    }
    hasher.update(b"}");
}

fn canonical(hasher: &mut sha2::Sha256, value: &Value) {
    match value {
        Value::Object(map) => canonical_object(hasher, map),
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                canonical(hasher, item);
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_key_order_and_tells_values_apart() {
        let a = serde_json::json!({"b": [1, {"y": 2, "x": "s"}], "a": null});
        let b = serde_json::json!({"a": null, "b": [1, {"x": "s", "y": 2}]});
        let c = serde_json::json!({"a": null, "b": [1, {"x": "t", "y": 2}]});
        let (a, b, c) = (
            a.as_object().unwrap(),
            b.as_object().unwrap(),
            c.as_object().unwrap(),
        );
        assert_eq!(digest(a), digest(b));
        assert_ne!(digest(a), digest(c));
        assert_eq!(digest(a).len(), 64);
    }

    #[tokio::test]
    async fn notes_reach_the_trail_of_their_own_call_only() {
        note(|t| t.denied = true);
        let ((), trail) = traced(async {
            note(|t| t.upstream = Some("search".into()));
            tokio::task::yield_now().await;
            note(|t| t.member = Some("search-1".into()));
        })
        .await;
        assert_eq!(trail.upstream.as_deref(), Some("search"));
        assert_eq!(trail.member.as_deref(), Some("search-1"));
        assert!(!trail.denied);
    }
}
