//! The local processes of HTTP servers `hangar up` starts itself, and those
//! of scale-to-zero servers, started by their first call and stopped when idle.

use std::collections::HashMap;

use anyhow::Context;
use futures::future::BoxFuture;
use hangar_compile::LocalProcess;
use hangar_config::{Environment, ServerSpec};

use crate::activity::ActivitySink;

/// Starts the local processes of scale-to-zero HTTP servers when calls need
/// them and stops them when they go idle.
pub struct OnDemandProcesses {
    processes: Vec<LocalProcess>,
    running: tokio::sync::Mutex<HashMap<String, tokio::process::Child>>,
}

impl OnDemandProcesses {
    pub fn new(processes: Vec<LocalProcess>) -> Self {
        Self {
            processes,
            running: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Whether the process of `server` runs now.
    pub async fn is_running(&self, server: &str) -> bool {
        let mut running = self.running.lock().await;
        running
            .get_mut(server)
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops every process (on shutdown).
    pub async fn stop_all(&self) {
        for (_, mut child) in self.running.lock().await.drain() {
            let _ = child.kill().await;
        }
    }
}

impl ActivitySink for OnDemandProcesses {
    fn report<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let Some(process) = self.processes.iter().find(|p| p.server == server.name) else {
                return Ok(());
            };
            let mut running = self.running.lock().await;
            let alive = running
                .get_mut(&server.name)
                .is_some_and(|child| matches!(child.try_wait(), Ok(None)));
            if !alive {
                let child = spawn_process(process).map_err(|e| format!("{e:#}"))?;
                println!("started {} (first call after idle)", server.name);
                running.insert(server.name.clone(), child);
            }
            Ok(())
        })
    }

    fn idle<'a>(&'a self, server: &'a ServerSpec) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(mut child) = self.running.lock().await.remove(&server.name) {
                let _ = child.kill().await;
                println!("stopped {} (idle)", server.name);
            }
        })
    }
}

pub(super) fn spawn_process(process: &LocalProcess) -> anyhow::Result<tokio::process::Child> {
    let mut command = crate::child::command(
        &process.command,
        &process.args,
        &process.env,
        &Environment::Process,
    )
    .map_err(anyhow::Error::msg)?;
    command.stdin(std::process::Stdio::null());
    command.spawn().with_context(|| {
        format!(
            "cannot start `{}` for MCPServer {}",
            process.command, process.server
        )
    })
}
