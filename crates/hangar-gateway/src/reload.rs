//! Follows the config file and applies changes without a restart.
//!
//! A Kubernetes ConfigMap volume updates by swapping a `..data` symlink in the
//! mount directory, so the file's own inode never changes: the watcher
//! watches the directory and compares content digests. A slow poll backs up
//! filesystem events, which some volume types never deliver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::Watcher;
use sha2::Digest;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gateway::Gateway;
use hangar_config::GatewayConfig;

const POLL: Duration = Duration::from_secs(5);
/// Editors and the kubelet write in several steps; wait for them to settle.
const SETTLE: Duration = Duration::from_millis(150);

fn digest(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// Watches `path` until `cancel`, applying each new valid version to `gateway`.
pub async fn watch(gateway: Gateway, path: PathBuf, cancel: CancellationToken) {
    let mut seen = std::fs::read(&path).map(|b| digest(&b)).ok();
    let (tx, mut events) = mpsc::unbounded_channel();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .and_then(|mut watcher| {
        watcher
            .watch(&dir, notify::RecursiveMode::NonRecursive)
            .map(|()| watcher)
    });
    // Dropping the watcher stops it; keep it alive for the loop.
    let _watcher = match watcher {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the config directory; polling only");
            None
        }
    };
    let mut poll = tokio::time::interval(POLL);
    poll.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = poll.tick() => {}
            Some(()) = events.recv() => {
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let current = digest(&bytes);
        if seen == Some(current) {
            continue;
        }
        seen = Some(current);
        let text = String::from_utf8_lossy(&bytes);
        let outcome = GatewayConfig::parse(&text, &path.display().to_string())
            .and_then(|config| gateway.reload(config, &path.display().to_string()));
        match outcome {
            Ok(()) => {
                gateway.metrics().reload(true);
                tracing::info!(path = %path.display(), "config reloaded");
            }
            Err(e) => {
                gateway.metrics().reload(false);
                tracing::error!(path = %path.display(), error = %e, "config change rejected; still serving the previous config");
            }
        }
    }
}
