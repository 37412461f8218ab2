//! Manifests are untrusted input: every example in the repository, mutated
//! at random, is read, planned as `hangar up` plans it and rendered as
//! `hangar render` renders it. Each answer is a result or an error, never a
//! panic (an overlong duration once panicked both).

use std::path::{Path, PathBuf};

use hangar_testenv::fuzz::{self, Unstructured};

fn example_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 10, "found only {files:?}");
    files
}

/// Values that have broken readers: huge and odd numbers and durations,
/// non-ASCII text, YAML syntax in the wrong place.
const SPLICES: &[&str] = &[
    "99999999999999999999h",
    "1e400",
    "-1",
    "18446744073709551616",
    "é",
    "{",
    "[",
    ": :",
    "*anchor",
    "&anchor x",
    "!!binary AAAA",
    "\t",
    "~",
    "idleTTL: 99999999999999999999h",
    "timeout: 0s",
    "replicas: -5",
    "image: a:b:c@sha256:xyz",
    "apiVersion: mcp-hangar.io/v9",
];

/// `text` with a few random edits: numeric values (counts, ports,
/// durations) replaced by troublemakers, then bytes replaced, removed or
/// inserted, runs copied elsewhere, troublemakers spliced in anywhere.
fn mutate(u: &mut Unstructured<'_>, text: &str) -> fuzz::Result<String> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let numeric_value = line
            .split_once(": ")
            .filter(|(_, value)| value.trim_start().starts_with(|c: char| c.is_ascii_digit()));
        match numeric_value {
            Some((key, _)) if u.ratio(1, 3)? => {
                lines.push(format!("{key}: {}", u.choose(SPLICES)?));
            }
            _ => lines.push(line.to_string()),
        }
    }
    let mut bytes = lines.join("\n").into_bytes();
    for _ in 0..u.int_in_range(0..=4)? {
        if bytes.is_empty() {
            break;
        }
        let at = u.choose_index(bytes.len())?;
        match u.int_in_range(0..=3)? {
            0 => bytes[at] = u.arbitrary()?,
            1 => {
                bytes.remove(at);
            }
            2 => {
                let splice = u.choose(SPLICES)?;
                bytes.splice(at..at, splice.bytes());
            }
            _ => {
                let end = (at + u.int_in_range(1..=64)?).min(bytes.len());
                let copied = bytes[at..end].to_vec();
                let to = u.choose_index(bytes.len())?;
                bytes.splice(to..to, copied);
            }
        }
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[test]
fn fuzz_mutated_examples_are_read_planned_and_rendered_without_panicking() {
    let examples: Vec<String> = example_files()
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    let settings = hangar_operator::server::build::BuildSettings::default();
    fuzz::run("manifests", |u| {
        let original = u.choose(&examples)?;
        let text = mutate(u, original)?;
        if let Ok(manifests) = hangar_manifests::parse(&text, "fuzzed.yaml") {
            let _ = hangar_gateway::up::plan(&manifests, None, &Default::default());
            let _ = hangar_operator::render::render(&manifests, &settings);
        }
        Ok(())
    });
}
