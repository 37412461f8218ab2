//! The official MCP conformance suite (`@modelcontextprotocol/conformance`,
//! server mode) against the gateway, for the 2025-11-25 and 2026-07-28
//! requirement sets. The gateway federates the fixture upstream with names
//! unprefixed, so the suite sees the tools, prompts and resources it expects.
//!
//! Every failing scenario must be listed in `conformance/expected-failures.yaml`
//! with a reason; the test fails on an unlisted failure and on a listed
//! scenario that passes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hangar_testenv::tools::{Tool, locate, node_bin};
use serde::Deserialize;
use support::*;

#[derive(Debug, Deserialize)]
struct Expected {
    scenario: String,
    reason: String,
}

fn expected_failures() -> BTreeMap<String, Vec<Expected>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/expected-failures.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug, Default)]
struct Outcome {
    passed: bool,
    failures: Vec<String>,
}

/// Whether `text` starts like `-2026-11-21T…`.
fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 12
        && bytes[0] == b'-'
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b'-'
        && bytes[8] == b'-'
        && bytes[11] == b'T'
}

/// Reads `checks.json` of every scenario the suite ran. A scenario passes when
/// at least one check succeeded and none failed (the suite's own rule).
fn outcomes(dir: &Path) -> BTreeMap<String, Outcome> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let checks_file = entry.path().join("checks.json");
        let Ok(text) = std::fs::read_to_string(&checks_file) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().to_string();
        // Directories are named `server-<scenario>-<YYYY-MM-DD>T<time>Z`.
        let without_mode = name.strip_prefix("server-").unwrap_or(&name);
        let stamp = (0..without_mode.len())
            .rev()
            .find(|&i| is_timestamp(&without_mode[i..]));
        let scenario = stamp
            .map_or(without_mode, |i| &without_mode[..i])
            .to_string();
        let checks: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        let successes = checks.iter().filter(|c| c["status"] == "SUCCESS").count();
        let failures: Vec<String> = checks
            .iter()
            .filter(|c| c["status"] == "FAILURE")
            .map(|c| {
                format!(
                    "{}: {}",
                    c["id"].as_str().unwrap_or("?"),
                    c["errorMessage"].as_str().unwrap_or("")
                )
            })
            .collect();
        found.insert(
            scenario,
            Outcome {
                passed: successes > 0 && failures.is_empty(),
                failures,
            },
        );
    }
    found
}

/// The scenarios a requirement set scores (its `server` list).
fn scored(revision: &str) -> BTreeSet<String> {
    #[derive(Deserialize)]
    struct Requirements {
        server: Vec<String>,
    }
    let path = locate(Tool::NodeModules).join(format!(
        "@modelcontextprotocol/conformance/requirements/{revision}.yaml"
    ));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `scripts/test-deps.sh node`", path.display()));
    let requirements: Requirements = serde_saphyr::from_str(&text).unwrap();
    requirements.server.into_iter().collect()
}

/// Runs the suite for one requirement set and returns whether it exited with success.
async fn run_suite(url: &str, revision: &str, out: &Path) -> bool {
    let suite = locate(Tool::NodeModules).join("@modelcontextprotocol/conformance/dist/index.js");
    let output = tokio::process::Command::new(node_bin("node"))
        .arg(&suite)
        .args([
            "server",
            "--url",
            url,
            "--requirements",
            revision,
            "--timeout",
            "30000",
            "-o",
        ])
        .arg(out)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), output)
        .await
        .expect("the conformance suite finishes")
        .expect("run the conformance suite");
    if !out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        panic!(
            "the conformance suite wrote no results:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_against_the_gateway() {
    let (fixture, _) = fixture("conformance-fixture").await;
    let gw = TestGateway::start(&format!(
        "{HEAD}naming: {{prefix: false}}\nservers:\n  - {{name: fixture, transport: streamable-http, url: \"{}\"}}\n",
        fixture.url("/mcp")
    ))
    .await;
    // The DNS-rebinding scenario needs a localhost URL.
    let url = format!("http://localhost:{}/mcp", gw.served.addr.port());
    let expected = expected_failures();
    let mut report = Vec::new();
    let mut problems = Vec::new();
    for revision in ["2025-11-25", "2026-07-28"] {
        let out: PathBuf = tempfile::tempdir().unwrap().keep();
        let exited_ok = run_suite(&url, revision, &out).await;
        let results = outcomes(&out);
        let scored = scored(revision);
        assert!(
            !scored.is_empty(),
            "requirement set {revision} scores no scenario"
        );
        let listed: BTreeMap<&str, &str> = expected
            .get(revision)
            .map(|list| {
                list.iter()
                    .map(|e| (e.scenario.as_str(), e.reason.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut passed = 0;
        for scenario in &scored {
            let outcome = results.get(scenario);
            let ok = outcome.is_some_and(|o| o.passed);
            passed += usize::from(ok);
            match (ok, listed.get(scenario.as_str())) {
                (true, Some(_)) => problems.push(format!(
                    "{revision} {scenario} passes but is listed in expected-failures.yaml; remove it"
                )),
                (false, None) => problems.push(format!(
                    "{revision} {scenario} fails: {}",
                    outcome.map_or("it did not run".to_string(), |o| o.failures.join("; "))
                )),
                (false, Some(reason)) => {
                    report.push(format!("  expected failure {revision} {scenario}: {reason}"));
                }
                (true, None) => {}
            }
        }
        for scenario in listed.keys() {
            if !scored.contains(*scenario) {
                problems.push(format!(
                    "{revision} {scenario} is listed but not a scored scenario of this revision"
                ));
            }
        }
        // Every scored scenario passes but those listed, and the suite's exit code agrees.
        if passed + listed.len() != scored.len() {
            problems.push(format!(
                "{revision}: {passed} of {} scored scenarios pass and {} are listed as failing",
                scored.len(),
                listed.len()
            ));
        }
        if exited_ok != listed.is_empty() {
            problems.push(format!(
                "{revision}: the suite exited with {} although {} scenarios are listed as failing",
                if exited_ok { "success" } else { "failure" },
                listed.len()
            ));
        }
        let unscored: Vec<String> = results
            .iter()
            .filter(|(s, _)| !scored.contains(*s))
            .map(|(s, o)| format!("{s}={}", if o.passed { "pass" } else { "fail" }))
            .collect();
        report.insert(
            0,
            format!(
                "conformance {revision}: {passed}/{} scored scenarios pass (not scored: {})",
                scored.len(),
                unscored.join(", ")
            ),
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    println!("{}", report.join("\n"));
    assert!(
        problems.is_empty(),
        "conformance problems:\n{}\n\n{}",
        problems.join("\n"),
        report.join("\n")
    );
    for entries in expected.values() {
        for entry in entries {
            assert!(
                entry.reason.trim().len() > 10,
                "{}: give a real reason",
                entry.scenario
            );
        }
    }
}
