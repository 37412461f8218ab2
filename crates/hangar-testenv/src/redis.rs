//! Real `redis-server`s for tests: one node, or a three-node Redis Cluster,
//! on free ports, with append-only files so data survives a restart. Stopping
//! kills the process the way a crash does; restarting starts it again on the
//! same port and data directory. The processes die with the test process and
//! stop when the value is dropped.
//!
//! `redis-server` and `redis-cli` come from `scripts/test-deps.sh redis`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::Instance;
use crate::tools::{self, Tool};

/// Upper bound on a start, so a broken one fails instead of hanging.
const START_DEADLINE: Duration = Duration::from_secs(30);
const NODE_NAMES: [&str; 3] = ["redis-0", "redis-1", "redis-2"];

/// A single Redis node.
pub struct RedisServer {
    instance: Arc<Instance>,
    port: u16,
    durable: bool,
    /// Arguments it runs with instead of the usual ones, see [`Self::start_with`].
    args: Option<Vec<String>>,
}

impl RedisServer {
    /// Starts one node that keeps its data across [`Self::restart`]; panics
    /// (failing the test) when it cannot.
    pub fn start() -> RedisServer {
        Self::launch_new(true)
    }

    /// Starts one node that keeps data in memory only, as Redis used as a
    /// cache runs (for measurements: no write waits for the disk).
    pub fn start_in_memory() -> RedisServer {
        Self::launch_new(false)
    }

    /// Starts one node with `args` (what a manifest runs `redis-server`
    /// with: a config file, `--protected-mode`, TLS files, …) listening on
    /// `port` (which `args` name, with `--port` or `--tls-port`; take one from
    /// [`free_port`]), bound to 127.0.0.1 with a scratch directory. It counts
    /// as started once it logs that it accepts connections (it may want a
    /// password, or TLS, before it answers).
    pub fn start_with(args: &[String], port: u16) -> RedisServer {
        let instance = Instance::create().unwrap_or_else(|why| panic!("{why}"));
        let server = RedisServer {
            instance,
            port,
            durable: false,
            args: Some(args.to_vec()),
        };
        server.launch();
        server
    }

    fn launch_new(durable: bool) -> RedisServer {
        let instance = Instance::create().unwrap_or_else(|why| panic!("{why}"));
        let port = free_port_for(false);
        let server = RedisServer {
            instance,
            port,
            durable,
            args: None,
        };
        server.launch();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the node, like a crash. Its data stays for [`Self::restart`].
    pub fn stop(&self) {
        self.instance.kill(NODE_NAMES[0]);
    }

    /// Starts the node again on the same port and data.
    pub fn restart(&self) {
        self.launch();
    }

    /// Runs `redis-cli` against the node and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    fn launch(&self) {
        let dir = self.instance.dir().join("data");
        std::fs::create_dir_all(&dir).expect("creating the Redis data directory");
        let command = match &self.args {
            None => node_command(self.port, &dir, false, self.durable),
            Some(args) => {
                let mut command = Command::new(tools::locate(Tool::RedisServer));
                command
                    .args(args)
                    .args(["--bind", "127.0.0.1"])
                    .arg("--dir")
                    .arg(&dir);
                command
            }
        };
        self.instance
            .spawn(NODE_NAMES[0], command)
            .unwrap_or_else(|why| panic!("{why}"));
        match self.args {
            None => wait_for_ping(&self.instance, NODE_NAMES[0], self.port),
            Some(_) => wait_for_log(&self.instance, NODE_NAMES[0], "Ready to accept connections"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.instance.release();
    }
}

/// A three-node Redis Cluster (three primaries, no replicas).
pub struct RedisCluster {
    instance: Arc<Instance>,
    ports: [u16; 3],
}

impl RedisCluster {
    /// Starts three nodes and joins them into a cluster; panics when it cannot.
    pub fn start() -> RedisCluster {
        let instance = Instance::create().unwrap_or_else(|why| panic!("{why}"));
        let mut ports = [0; 3];
        for i in 0..ports.len() {
            // Cluster nodes also listen on port + 10000 (the cluster bus).
            ports[i] = loop {
                let candidate = free_port_for(true);
                if !ports_taken(&ports[..i], candidate) {
                    break candidate;
                }
            };
        }
        let cluster = RedisCluster { instance, ports };
        cluster.launch();
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(nodes.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = cli(ports[0], &args);
        assert!(
            output.contains("All 16384 slots covered"),
            "redis-cli --cluster create failed:\n{output}"
        );
        cluster.wait_until_ok();
        cluster
    }

    /// A node's URL; a cluster client discovers the others from it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }

    pub fn ports(&self) -> [u16; 3] {
        self.ports
    }

    /// Kills every node, like a power cut.
    pub fn stop(&self) {
        for name in NODE_NAMES {
            self.instance.kill(name);
        }
    }

    /// Starts every node again; they re-form the cluster from their config files.
    pub fn restart(&self) {
        self.launch();
        self.wait_until_ok();
    }

    fn launch(&self) {
        for (name, port) in NODE_NAMES.iter().zip(self.ports) {
            let dir = self.instance.dir().join(name);
            std::fs::create_dir_all(&dir).expect("creating a Redis data directory");
            self.instance
                .spawn(name, node_command(port, &dir, true, true))
                .unwrap_or_else(|why| panic!("{why}"));
        }
        for (name, port) in NODE_NAMES.iter().zip(self.ports) {
            wait_for_ping(&self.instance, name, port);
        }
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + START_DEADLINE;
        for port in self.ports {
            loop {
                let info = cli(port, &["cluster", "info"]);
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the Redis Cluster on {:?} did not reach cluster_state:ok:\n{info}",
                    self.ports
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.instance.release();
    }
}

fn ports_taken(chosen: &[u16], candidate: u16) -> bool {
    chosen
        .iter()
        .any(|p| *p == candidate || *p + 10000 == candidate || *p == candidate + 10000)
}

fn node_command(port: u16, dir: &std::path::Path, cluster: bool, durable: bool) -> Command {
    let mut cmd = Command::new(tools::locate(Tool::RedisServer));
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .arg("--dir")
    .arg(dir);
    if durable {
        // Every write reaches the disk before Redis answers, so a killed node loses nothing.
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    }
    if cluster {
        cmd.args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]);
    }
    cmd
}

fn redis_cli() -> PathBuf {
    let server = tools::locate(Tool::RedisServer);
    let cli = server.with_file_name("redis-cli");
    assert!(
        cli.exists(),
        "{} is missing; run `scripts/test-deps.sh redis`",
        cli.display()
    );
    cli
}

fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(redis_cli())
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running redis-cli: {e}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn wait_for_ping(instance: &Instance, name: &str, port: u16) {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if ping(port) {
            return;
        }
        if let Some(status) = instance.exited(name) {
            panic!(
                "{name} exited with {status} while starting:\n{}",
                instance.log_tail(name, 40)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not answer PING on port {port}:\n{}",
            instance.log_tail(name, 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_log(instance: &Instance, name: &str, line: &str) {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if instance.log_tail(name, 200).contains(line) {
            return;
        }
        if let Some(status) = instance.exited(name) {
            panic!(
                "{name} exited with {status} while starting:\n{}",
                instance.log_tail(name, 40)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not log {line:?}:\n{}",
            instance.log_tail(name, 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG"
}

/// A port of 127.0.0.1 that is free now, for [`RedisServer::start_with`].
pub fn free_port() -> u16 {
    free_port_for(false)
}

/// A port that is free now (and, for cluster nodes, whose bus port is too).
fn free_port_for(with_bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
        let port = listener.local_addr().expect("a bound address").port();
        if !with_bus {
            return port;
        }
        if port < 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}
