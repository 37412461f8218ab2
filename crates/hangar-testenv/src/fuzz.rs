//! Untrusted input for a bounded time: a property run on arbitrary inputs
//! until the budget is spent, as part of the ordinary test run.
//!
//! The budget per target is `HANGAR_FUZZ_SECONDS` (default 5; CI sets more).
//! A failure prints the seed; `ARBTEST_SEED=<seed>` replays it, and the
//! input it found belongs in a regression test of its own.

use std::time::{Duration, Instant};

pub use arbitrary::{Arbitrary, Result, Unstructured};

const DEFAULT_SECONDS: u64 = 5;

/// The time each fuzz target runs for.
pub fn budget() -> Duration {
    let seconds = std::env::var("HANGAR_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SECONDS);
    Duration::from_secs(seconds)
}

/// Runs `property` on arbitrary inputs for [`budget`] (or once on the seed
/// in `ARBTEST_SEED`) and prints how many inputs it tried.
pub fn run(target: &str, mut property: impl FnMut(&mut Unstructured<'_>) -> Result<()>) {
    let started = Instant::now();
    let mut cases = 0u64;
    let counted = |u: &mut Unstructured<'_>| {
        cases += 1;
        property(u)
    };
    arbtest::arbtest(counted).budget(budget()).run();
    println!(
        "fuzz {target}: {cases} inputs in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
