//! `scripts/test-deps.sh` stops at the first part that fails, with that
//! part's error, and records nothing for it (once a failed control-plane
//! build was recorded as an empty path and later tests failed with a
//! misleading message).

use std::path::Path;
use std::process::Command;

#[test]
fn a_failed_control_plane_build_stops_the_script_with_its_error() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cache = tempfile::tempdir().unwrap();
    // A PATH without Go: the control-plane build fails at once.
    let output = Command::new("bash")
        .arg(repo.join("scripts/test-deps.sh"))
        .arg("kube")
        .env("HANGAR_CACHE", cache.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("run scripts/test-deps.sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the script succeeded:\n{stderr}");
    assert!(stderr.contains("Go is not installed"), "{stderr}");
    let recorded = std::fs::read_to_string(cache.path().join("test-env")).unwrap_or_default();
    assert!(
        !recorded.contains("HANGAR_KUBE_BIN"),
        "a failed build was recorded: {recorded}"
    );
}
