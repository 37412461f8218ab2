//! `hangar operator` against a cluster without Hangar's CRDs stops at once and
//! says how to install them.

use std::process::Stdio;
use std::time::Duration;

use hangar_testenv::ControlPlane;

#[tokio::test]
async fn the_operator_explains_missing_crds_and_exits() {
    // A plane of its own: the shared one has the CRDs installed.
    let plane = ControlPlane::start().await;
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args([
            "operator",
            "--metrics-addr",
            "127.0.0.1:0",
            "--log-format",
            "text",
        ])
        .env("KUBECONFIG", plane.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the operator kept running without its CRDs")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status {:?}", output.status);
    assert!(
        stderr.contains("the mcp-hangar.io CRDs are not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MCPServer"),
        "names what is missing: {stderr}"
    );
    assert!(
        stderr.contains("kubectl apply --server-side -f deploy/crds/"),
        "says how to fix it: {stderr}"
    );
}
