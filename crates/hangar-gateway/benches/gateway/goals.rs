//! The hot path's goals (issue 14) checked against this run's tables:
//! each printed as met or not met with the figure it was judged by.

use crate::load::Measured;
use crate::targets::Era;
use crate::{DIRECT, HANGAR, Memory, NGINX, Route, Table, VMCP};

/// Most p50 latency a session-era call may add over calling directly.
const SESSION_ADDED_P50_MS: f64 = 0.3;
/// Least req/s of a stateless declared call at 16 connections, against nginx.
const DECLARED_VS_NGINX: f64 = 0.5;
/// Most CPU of the gateway per stateless declared call at 16 connections.
const DECLARED_CPU_US: f64 = 50.0;
/// Least req/s of a federated call at 1 connection, against direct.
const FEDERATED_VS_DIRECT: f64 = 0.8;
/// Least req/s of a federated call on every row, against vMCP.
const FEDERATED_VS_VMCP: f64 = 2.0;
/// Most memory one idle legacy session may hold.
const SESSION_KIB: f64 = 10.0;
/// How far above idle RSS may stay once the sessions expired.
const AFTER_EXPIRY_OVER_IDLE: f64 = 1.2;

struct Verdict {
    goal: String,
    figure: String,
    met: bool,
}

fn row(tables: &[Table], route: Route, era: Era, connections: usize, target: usize) -> Measured {
    tables
        .iter()
        .find(|t| t.route == route && t.era == era)
        .and_then(|t| t.rows.get(&(connections, target)))
        .map(|(_, m)| *m)
        .expect("every table has every row")
}

fn verdicts(tables: &[Table], hangar: &Memory) -> Vec<Verdict> {
    let mut verdicts = vec![];
    for route in [Route::Declared, Route::Federated] {
        let direct = row(tables, route, Era::Session, 1, DIRECT);
        let ours = row(tables, route, Era::Session, 1, HANGAR);
        let added = ours.p50_ms - direct.p50_ms;
        verdicts.push(Verdict {
            goal: format!(
                "{route:?}, session era, 1 conn: p50 added over direct ≤ {SESSION_ADDED_P50_MS} ms"
            ),
            figure: format!("{added:.2} ms ({:.2} vs {:.2})", ours.p50_ms, direct.p50_ms),
            met: added <= SESSION_ADDED_P50_MS,
        });
    }

    let nginx = row(tables, Route::Declared, Era::Stateless, 16, NGINX);
    let ours = row(tables, Route::Declared, Era::Stateless, 16, HANGAR);
    let ratio = ours.requests_per_second / nginx.requests_per_second;
    verdicts.push(Verdict {
        goal: format!("declared, stateless, 16 conns: ≥ {DECLARED_VS_NGINX}× nginx's req/s"),
        figure: format!(
            "{ratio:.2}× ({:.0} vs {:.0})",
            ours.requests_per_second, nginx.requests_per_second
        ),
        met: ratio >= DECLARED_VS_NGINX,
    });
    verdicts.push(Verdict {
        goal: format!("declared, stateless, 16 conns: CPU per call ≤ {DECLARED_CPU_US} µs"),
        figure: format!("{:.0} µs", ours.cpu_us_per_call),
        met: ours.cpu_us_per_call <= DECLARED_CPU_US,
    });

    for era in [Era::Stateless, Era::Session] {
        let direct = row(tables, Route::Federated, era, 1, DIRECT);
        let ours = row(tables, Route::Federated, era, 1, HANGAR);
        let ratio = ours.requests_per_second / direct.requests_per_second;
        verdicts.push(Verdict {
            goal: format!(
                "federated, {}, 1 conn: ≥ {FEDERATED_VS_DIRECT}× direct's req/s",
                era.label()
            ),
            figure: format!(
                "{ratio:.2}× ({:.0} vs {:.0})",
                ours.requests_per_second, direct.requests_per_second
            ),
            met: ratio >= FEDERATED_VS_DIRECT,
        });
        let table = tables
            .iter()
            .find(|t| t.route == Route::Federated && t.era == era)
            .expect("a federated table per era");
        let ratios: Vec<f64> = table
            .rows
            .iter()
            .filter(|((_, target), _)| *target == HANGAR)
            .map(|((connections, _), (_, m))| {
                m.requests_per_second
                    / row(tables, Route::Federated, era, *connections, VMCP).requests_per_second
            })
            .collect();
        let least = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        verdicts.push(Verdict {
            goal: format!(
                "federated, {}: ≥ {FEDERATED_VS_VMCP}× vMCP's req/s on every row",
                era.label()
            ),
            figure: format!(
                "{} (1/16/64 conns)",
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}×"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            met: least >= FEDERATED_VS_VMCP,
        });
    }

    let per_session_kib = hangar.per_session_kib();
    verdicts.push(Verdict {
        goal: format!("≤ {SESSION_KIB} KiB per idle legacy session"),
        figure: format!("{per_session_kib:.1} KiB"),
        met: per_session_kib <= SESSION_KIB,
    });
    let over_idle = hangar.after_expiry_kib as f64 / hangar.idle_kib as f64;
    verdicts.push(Verdict {
        goal: format!("RSS after the sessions expired ≤ {AFTER_EXPIRY_OVER_IDLE}× idle"),
        figure: format!(
            "{over_idle:.2}× ({:.1} MiB vs {:.1} MiB)",
            hangar.after_expiry_kib as f64 / 1024.0,
            hangar.idle_kib as f64 / 1024.0
        ),
        met: over_idle <= AFTER_EXPIRY_OVER_IDLE,
    });
    verdicts
}

/// Prints the goals table.
pub fn print(tables: &[Table], hangar: &Memory) {
    println!("\ngoals (issue 14)\n");
    println!("| goal | this run | |");
    println!("|---|---|---|");
    for v in verdicts(tables, hangar) {
        let mark = if v.met { "met" } else { "not met" };
        println!("| {} | {} | {mark} |", v.goal, v.figure);
    }
}
