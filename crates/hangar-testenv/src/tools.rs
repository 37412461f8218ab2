//! Where the external tools the tests run against are installed.
//!
//! `scripts/test-deps.sh` installs them outside the repository and records their
//! locations in `$HANGAR_CACHE/test-env` (default `~/.cache/hangar/test-env`).
//! An environment variable of the same name overrides the file. A missing tool
//! is a test failure that says how to install it, never a silent skip.

use std::path::PathBuf;

/// A tool recorded by `scripts/test-deps.sh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// Directory holding `kube-apiserver`, `etcd`, `helm`, `kustomize`.
    KubeBin,
    /// The `redis-server` binary.
    RedisServer,
    /// The Python interpreter of the venv with the `mcp` SDK and reference servers.
    Python,
    /// The `node_modules` directory with the TypeScript SDK, reference servers and conformance suite.
    NodeModules,
    /// The `nginx` binary: a real reverse proxy in front of the gateway.
    Nginx,
    /// The `runc` binary the test node's containerd runs containers with.
    Runc,
    /// The directory of the CNI plugins (bridge, host-local, loopback, portmap).
    CniBin,
    /// The directory of PostgreSQL's server binaries (`initdb`, `postgres`).
    PostgresBin,
    /// The official MCP Registry server (`registry`), built from its Go module.
    McpRegistry,
}

impl Tool {
    pub fn key(self) -> &'static str {
        match self {
            Tool::KubeBin => "HANGAR_KUBE_BIN",
            Tool::RedisServer => "HANGAR_REDIS_SERVER",
            Tool::Python => "HANGAR_PYTHON",
            Tool::NodeModules => "HANGAR_NODE_MODULES",
            Tool::Nginx => "HANGAR_NGINX",
            Tool::Runc => "HANGAR_RUNC",
            Tool::CniBin => "HANGAR_CNI_BIN",
            Tool::PostgresBin => "HANGAR_POSTGRES_BIN",
            Tool::McpRegistry => "HANGAR_MCP_REGISTRY",
        }
    }

    /// The part of `scripts/test-deps.sh` that installs this tool.
    pub fn part(self) -> &'static str {
        match self {
            Tool::KubeBin => "kube",
            Tool::RedisServer => "redis",
            Tool::Python => "python",
            Tool::NodeModules => "node",
            Tool::Nginx => "proxy",
            Tool::Runc | Tool::CniBin => "cluster",
            Tool::PostgresBin | Tool::McpRegistry => "registry",
        }
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("HANGAR_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/hangar"))
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Looks a tool up, or explains how to get it.
pub fn try_locate(tool: Tool) -> Result<PathBuf, String> {
    let (key, part) = (tool.key(), tool.part());
    let recorded = std::env::var(key).ok().or_else(|| {
        let file = std::fs::read_to_string(cache_dir().join("test-env")).ok()?;
        file.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    });
    let path = recorded.map(PathBuf::from).ok_or_else(|| {
        format!("{key} is not set and not recorded in {}; run `scripts/test-deps.sh {part}` to install it", cache_dir().join("test-env").display())
    })?;
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{key}={} does not exist; run `scripts/test-deps.sh {part}` to (re)install it",
            path.display()
        ))
    }
}

/// Looks a tool up; panics (failing the test) with instructions when it is missing.
pub fn locate(tool: Tool) -> PathBuf {
    try_locate(tool).unwrap_or_else(|why| panic!("{why}"))
}

/// A binary inside `node_modules/.bin`, e.g. `mcp-server-everything`.
pub fn node_bin(name: &str) -> PathBuf {
    let path = locate(Tool::NodeModules).join(".bin").join(name);
    assert!(
        path.exists(),
        "{} is missing; run `scripts/test-deps.sh node`",
        path.display()
    );
    path
}

/// The command `name` of `node_modules/.bin` run by the pinned Node.js
/// (`node_modules/.bin/node`, from the `node` package), not by whichever
/// `node` comes first on PATH, as the script's `#!/usr/bin/env node` would.
pub fn node_command(name: &str) -> std::process::Command {
    let mut command = std::process::Command::new(node_bin("node"));
    command.arg(node_bin(name));
    command
}

/// A binary built by `scripts/control-plane.sh`: `kube-apiserver`, `etcd`, `helm`, `kustomize`.
pub fn kube_bin(name: &str) -> PathBuf {
    try_kube_bin(name).unwrap_or_else(|why| panic!("{why}"))
}

/// Like [`kube_bin`], but returns the explanation instead of panicking.
pub fn try_kube_bin(name: &str) -> Result<PathBuf, String> {
    let path = try_locate(Tool::KubeBin)?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing; run `scripts/test-deps.sh kube` to build it",
            path.display()
        ))
    }
}

/// Where `scripts/image.sh` writes its OCI archives: `$HANGAR_E2E_IMAGES`,
/// else `e2e-images` in the Cargo target directory this test binary was built in.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HANGAR_E2E_IMAGES") {
        return PathBuf::from(dir);
    }
    // A test binary is <target>/<profile>/deps/<name>-<hash>.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("e2e-images")
}

/// A console script installed in the Python venv, e.g. `mcp-server-time`.
pub fn python_bin(name: &str) -> PathBuf {
    let python = locate(Tool::Python);
    let path = python.parent().expect("venv bin dir").join(name);
    assert!(
        path.exists(),
        "{} is missing; run `scripts/test-deps.sh python`",
        path.display()
    );
    path
}
