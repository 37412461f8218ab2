//! `hangar up` as a newcomer meets it, through the real binary: `--listen`
//! with host names and port 0 (bound before anything starts), `--allow-host`,
//! every missing Secret listed and reflected in `/readyz`, groups and
//! unselected servers in the summary, same-named servers of two namespaces,
//! a line per server as each comes up (with the cause in words and the next
//! try), and colours only on a terminal.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `hangar up`, its stdout read line by line.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Up {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
        command
            .arg("up")
            .args(args)
            .current_dir(dir)
            .env_remove("HANGAR_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Up {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one contains `text`; everything read so far on timeout.
    fn wait_for(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {text:?} within {within:?}; output:\n{}",
            self.seen.join("\n")
        );
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }

    /// The address `ready:` names, e.g. `127.0.0.1:41234`.
    fn address(&mut self) -> String {
        let line = self.wait_for("MCP endpoint: ", Duration::from_secs(30));
        let url = line.trim_start_matches("MCP endpoint: http://");
        url.trim_end_matches("/mcp").to_string()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET (with a chosen `Host` header): status and body.
fn get(address: &str, path: &str, host: Option<&str>) -> (u16, String) {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let host = host.unwrap_or(address);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn remote(name: &str, namespace: &str, port: u16) -> String {
    format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: {name}, namespace: {namespace}, labels: {{team: a}}}}\nspec: {{mode: remote, endpoint: 'http://127.0.0.1:{port}/mcp'}}\n---\n"
    )
}

#[test]
fn listen_resolves_names_binds_first_and_prints_the_real_port() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        &remote("down", "default", closed_port()),
    );
    let mut up = Up::start(
        dir.path(),
        &["-f", "s.yaml", "--listen", "localhost:0"],
        &[],
    );
    let address = up.address();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert_ne!(address, "127.0.0.1:0", "the bound port, not 0");
    up.wait_for(
        "ready: connect an MCP client to http://",
        Duration::from_secs(30),
    );
    assert_eq!(get(&address, "/healthz", None).0, 200);

    // The same port again: refused before any server process starts.
    let marker = dir.path().join("started");
    write(
        dir.path(),
        "stdio.yaml",
        &format!(
            "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: marker}}\nspec: {{image: x, transport: stdio, command: [touch, {}]}}\n",
            marker.display()
        ),
    );
    let taken = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["up", "-f", "stdio.yaml", "--listen", &address])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!taken.status.success());
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot listen on {address} (another process listens there"
        )),
        "{stderr}"
    );
    assert!(!marker.exists(), "no server process was started");

    let bad = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["up", "-f", "s.yaml", "--listen", "8080"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"8080\" is not HOST:PORT"));
}

#[test]
fn allow_host_on_loopback_and_any_host_on_every_interface() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        &remote("down", "default", closed_port()),
    );
    let mut up = Up::start(
        dir.path(),
        &[
            "-f",
            "s.yaml",
            "--listen",
            "127.0.0.1:0",
            "--allow-host",
            "gw.example",
        ],
        &[],
    );
    let address = up.address();
    up.wait_for("ready: ", Duration::from_secs(30));
    assert_eq!(get(&address, "/healthz", Some("gw.example")).0, 200);
    assert_eq!(get(&address, "/healthz", Some("other.example")).0, 403);

    let mut everywhere = Up::start(dir.path(), &["-f", "s.yaml", "--listen", "0.0.0.0:0"], &[]);
    let address = everywhere.address();
    let note = everywhere.wait_for("listening on every interface", Duration::from_secs(30));
    assert!(note.contains("Host headers accepted: *"), "{note}");
    assert_eq!(get(&address, "/healthz", Some("build-7.lan:1234")).0, 200);
}

const GATEWAY: &str = r#"
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPGateway
metadata: {name: edge, namespace: a}
spec:
  serverSelector: {matchLabels: {team: a}}
  auth: {bearerTokens: {secretRef: {name: edge-tokens, key: tokens}}}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServerGroup
metadata: {name: pool, namespace: a, labels: {team: a}}
spec: {selector: {matchLabels: {pool: p}}, strategy: Failover}
---
apiVersion: mcp-hangar.io/v1alpha1
kind: MCPServer
metadata: {name: unlabelled, namespace: a}
spec: {mode: remote, endpoint: "http://127.0.0.1:9/mcp"}
"#;

#[test]
fn the_summary_lists_groups_unselected_servers_and_missing_secrets_and_readyz_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let member = format!(
        "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {{name: member, namespace: a, labels: {{pool: p}}}}\nspec: {{mode: remote, endpoint: 'http://127.0.0.1:{port}/mcp'}}\n"
    );
    write(dir.path(), "gateway.yaml", GATEWAY);
    write(dir.path(), "member.yaml", &member);
    write(dir.path(), "other.yaml", &remote("elsewhere", "b", port));

    let mut up = Up::start(dir.path(), &["-f", ".", "--listen", "127.0.0.1:0"], &[]);
    let address = up.address();
    let ready = up.wait_for("ready: ", Duration::from_secs(30));
    let output = up.output();
    for expected in [
        "  group     pool                     Failover        members member",
        "MCPServer unlabelled: its labels do not match MCPGateway edge's serverSelector",
        "MCPServer elsewhere: it is in namespace b (./other.yaml), and MCPGateway edge serves namespace a only",
        "  Secret edge-tokens key tokens: export HANGAR_SECRET_EDGE_TOKENS_TOKENS=…",
    ] {
        assert!(output.contains(expected), "{expected:?} in:\n{output}");
    }
    assert!(ready.contains("NOT READY: auth.bearerTokens: environment variable HANGAR_SECRET_EDGE_TOKENS_TOKENS is not set"), "{ready}");
    let (status, body) = get(&address, "/readyz", None);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("HANGAR_SECRET_EDGE_TOKENS_TOKENS is not set"),
        "{body}"
    );
    drop(up);

    let mut up = Up::start(
        dir.path(),
        &["-f", ".", "--listen", "127.0.0.1:0"],
        &[("HANGAR_SECRET_EDGE_TOKENS_TOKENS", "a-token")],
    );
    let address = up.address();
    let ready = up.wait_for("ready: ", Duration::from_secs(30));
    assert!(!ready.contains("NOT READY"), "{ready}");
    assert!(!up.output().contains("Secrets not set"), "{}", up.output());
    // The only member is down: the group has nothing, but the gateway's own inputs are all there.
    let (_, body) = get(&address, "/readyz", None);
    assert!(body.contains("\"problems\":[]"), "{body}");
}

#[test]
fn same_named_servers_of_two_namespaces_are_named_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    write(dir.path(), "a.yaml", &remote("time", "a", port));
    write(dir.path(), "b.yaml", &remote("time", "b", port));
    let mut up = Up::start(dir.path(), &["-f", ".", "--listen", "127.0.0.1:0"], &[]);
    up.wait_for("ready: ", Duration::from_secs(30));
    let output = up.output();
    assert!(
        output.contains("MCPServer time: namespace b (./b.yaml) has one of this name, and so has namespace a (./a.yaml), which is served"),
        "{output}"
    );
}

#[test]
fn each_server_reports_as_it_settles_in_words_and_a_silent_one_does_not_hold_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let silent = "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: silent}\nspec: {image: x, transport: stdio, command: [sleep, '600']}\n";
    write(
        dir.path(),
        "s.yaml",
        &(remote("refused", "default", port) + silent),
    );
    let started = Instant::now();
    let mut up = Up::start(
        dir.path(),
        &["-f", "s.yaml", "--listen", "127.0.0.1:0"],
        &[],
    );
    let refused = up.wait_for("not available: ", Duration::from_secs(30));
    assert!(refused.starts_with("  refused "), "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "reported at once, not after the silent one"
    );
    assert!(
        refused.contains(&format!(
            "not available: http://127.0.0.1:{port}/mcp: connection refused (nothing listens there) (while it sent the initialize request); next try in "
        )),
        "{refused}"
    );
    assert!(!refused.contains("::"), "no Rust type names: {refused}");
    up.wait_for("still starting after 5s: silent", Duration::from_secs(15));
    let ready = up.wait_for("ready: ", Duration::from_secs(40));
    assert!(ready.contains("still starting: silent"), "{ready}");
    // The retries do not repeat the same line.
    std::thread::sleep(Duration::from_secs(3));
    while let Ok(line) = up.lines.try_recv() {
        up.seen.push(line);
    }
    let lines = up.output();
    assert_eq!(lines.matches("not available: ").count(), 1, "{lines}");
    assert!(
        !lines.contains("\u{1b}["),
        "no colours into a pipe: {lines}"
    );
}

#[test]
fn colours_only_on_a_terminal_and_never_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.yaml",
        &remote("down", "default", closed_port()),
    );
    // The first failed connection is a WARN line on stderr, here a terminal.
    let warning_on_a_terminal = |no_color: bool| -> String {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty fills two descriptors that this closure owns from here on.
        let opened = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "openpty");
        // SAFETY: both are open descriptors owned by nothing else.
        let (master, slave) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
        command
            .args(["up", "-f", "s.yaml", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env("HANGAR_LOG", "warn")
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(slave);
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let mut child = command.spawn().unwrap();
        drop(command);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(master).lines().map_while(Result::ok) {
                if line.contains("upstream unavailable") {
                    let _ = tx.send(line);
                    return;
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30));
        let _ = child.kill();
        let _ = child.wait();
        line.expect("a warning on the terminal")
    };
    let coloured = warning_on_a_terminal(false);
    assert!(
        coloured.contains("\u{1b}["),
        "colours on a terminal: {coloured:?}"
    );
    let plain = warning_on_a_terminal(true);
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
}

#[test]
fn a_server_defined_twice_in_one_namespace_is_served_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    write(dir.path(), "a.yaml", &remote("time", "a", port));
    write(dir.path(), "b.yaml", &remote("time", "a", port));
    // With and without a gateway of that namespace.
    for gateway in [false, true] {
        if gateway {
            write(
                dir.path(),
                "c.yaml",
                "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPGateway\nmetadata: {name: edge, namespace: a}\nspec: {serverSelector: {}}\n",
            );
        }
        let mut up = Up::start(dir.path(), &["-f", ".", "--listen", "127.0.0.1:0"], &[]);
        up.wait_for("ready: ", Duration::from_secs(30));
        let output = up.output();
        assert!(
            output.contains("MCPServer time: defined twice in namespace a (./a.yaml and ./b.yaml); the first is served"),
            "gateway {gateway}: {output}"
        );
    }
}
