//! The official MCP Registry server (modelcontextprotocol/registry, built from
//! its Go module) for tests, keeping its data in a PostgreSQL of its own, both
//! on free ports of 127.0.0.1. They die with the test process and stop when the
//! value is dropped.
//!
//! Entries get in the way any publisher's do: through the registry's API. Its
//! anonymous login (`POST /v0.1/auth/none`, enabled here as the registry does
//! for local development) grants a token that may publish and edit servers
//! named `io.modelcontextprotocol.anonymous/…`. Package registries are not
//! consulted on publish (the machine has no internet).
//!
//! Both come from `scripts/test-deps.sh registry`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::Instance;
use crate::redis::free_port;
use crate::tools::{self, Tool};

/// Upper bound on a start (database creation, then the registry's migrations).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The namespace the registry's anonymous token may publish to.
pub const ANONYMOUS_NAMESPACE: &str = "io.modelcontextprotocol.anonymous";

/// A running registry and its database.
pub struct McpRegistry {
    instance: Arc<Instance>,
    url: String,
}

impl McpRegistry {
    /// Starts PostgreSQL and the registry, and returns once the registry
    /// answers its health check; panics (failing the test) when it cannot.
    pub fn start() -> McpRegistry {
        let instance = Instance::create().unwrap_or_else(|why| panic!("{why}"));
        let db_port = start_postgres(&instance);
        let port = free_port();
        let mut registry = Command::new(tools::locate(Tool::McpRegistry));
        registry
            .env("MCP_REGISTRY_SERVER_ADDRESS", format!("127.0.0.1:{port}"))
            .env(
                "MCP_REGISTRY_DATABASE_URL",
                format!("postgres://registry@127.0.0.1:{db_port}/postgres?sslmode=disable"),
            )
            .env("MCP_REGISTRY_DATABASE_MIN_CONNECTIONS", "1")
            .env("MCP_REGISTRY_DATABASE_MAX_CONNECTIONS", "8")
            .env("MCP_REGISTRY_ENABLE_ANONYMOUS_AUTH", "true")
            .env("MCP_REGISTRY_ENABLE_REGISTRY_VALIDATION", "false")
            .env("MCP_REGISTRY_JWT_PRIVATE_KEY", random_hex(32));
        instance
            .spawn("registry", registry)
            .unwrap_or_else(|why| panic!("{why}"));
        let started = Instant::now();
        while !healthy(port) {
            if let Some(status) = instance.exited("registry") {
                panic!(
                    "the MCP Registry exited ({status}) while starting:\n{}\nPostgreSQL:\n{}",
                    instance.log_tail("registry", 20),
                    instance.log_tail("postgres", 20)
                );
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "the MCP Registry did not answer /v0.1/health within {START_DEADLINE:?}:\n{}",
                instance.log_tail("registry", 20)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        McpRegistry {
            instance,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The base URL (what an MCPRegistry's `spec.url` names).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for McpRegistry {
    fn drop(&mut self) {
        self.instance.release();
    }
}

/// Creates a database cluster in the instance's directory and starts
/// PostgreSQL on a free port (TCP only); returns the port. PostgreSQL refuses
/// to run as root, so as root it runs as the `postgres` user the Debian
/// package creates.
fn start_postgres(instance: &Instance) -> u16 {
    let bin = tools::locate(Tool::PostgresBin);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let owner = if unsafe { libc::geteuid() } == 0 {
        Some(postgres_user().unwrap_or_else(|why| panic!("{why}")))
    } else {
        None
    };
    let data = instance.dir().join("postgres");
    std::fs::create_dir(&data).expect("creating PostgreSQL's data directory");
    if let Some((uid, gid)) = owner {
        // The scratch directory is private to its creator; the database's
        // owner needs to pass through it.
        std::fs::set_permissions(instance.dir(), std::fs::Permissions::from_mode(0o711))
            .expect("opening the scratch directory to PostgreSQL's user");
        std::os::unix::fs::chown(&data, Some(uid), Some(gid))
            .expect("giving PostgreSQL's user its data directory");
    }
    let as_owner = |program: &str| {
        let mut command = Command::new(bin.join(program));
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
        command
    };
    let mut initdb = as_owner("initdb");
    initdb
        .arg("--pgdata")
        .arg(&data)
        .args(["--auth=trust", "--username=registry", "--encoding=UTF8"])
        .args(["--no-sync", "--no-instructions"]);
    let output = initdb
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.join("initdb").display()));
    assert!(
        output.status.success(),
        "initdb failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let mut postgres = as_owner("postgres");
    postgres
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        // No socket file: nothing here connects through one.
        .args(["-c", "unix_socket_directories="])
        // Data thrown away after the test: nothing waits for the disk.
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
    instance
        .spawn("postgres", postgres)
        .unwrap_or_else(|why| panic!("{why}"));
    port
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("reading /etc/passwd for PostgreSQL's user: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| {
            "there is no postgres user to run PostgreSQL as (it refuses root); run `scripts/test-deps.sh registry`".to_string()
        })
}

/// Whether the registry answers `GET /v0.1/health` with 200.
fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /v0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut reply = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut reply).is_ok()
        && reply.starts_with("HTTP/1.1 200")
}

/// `bytes` random bytes as hex (the registry's token signing key).
fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open(Path::new("/dev/urandom"))
        .and_then(|mut random| random.read_exact(&mut buffer))
        .expect("reading /dev/urandom");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}
