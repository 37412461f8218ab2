//! Nothing outlives a test process: not when it exits normally, not when a
//! test panics, not when it is killed. Statics are never dropped, so this runs
//! the shared control plane in a child process (this binary again, in child
//! mode) and inspects what is left after the child ends.
//!
//! A start that fails says why and leaves nothing running either.
//!
//! A plain `main` (harness = false): the child must be a whole process of its own.

use hangar_testenv::{ControlPlane, shared};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_MODE: &str = "HANGAR_TESTENV_TEARDOWN_CHILD";

fn main() {
    match std::env::var(CHILD_MODE) {
        Ok(mode) if mode == "start-fails" => child_start_fails(),
        Ok(mode) => child(&mode),
        Err(_) => {
            for ending in [Ending::Exit, Ending::Panic, Ending::Killed] {
                scenario(ending);
            }
            missing_binaries_are_explained();
            a_failed_start_shows_the_logs_and_stops_etcd();
            println!("teardown: no process or directory outlived its test process");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn child(mode: &str) {
    // Start the shared plane from a thread that then ends, as a test's thread does.
    let dir =
        std::thread::spawn(|| runtime().block_on(async { shared().await.dir().to_path_buf() }))
            .join()
            .expect("the starting thread");
    runtime().block_on(async {
        let info = shared().await.client().apiserver_version().await;
        info.expect("the plane still serves after its starting thread ended");
    });
    println!("{}", dir.display());
    // The parent inspects the running plane first, then ends this process.
    let mut go_ahead = String::new();
    std::io::stdin()
        .read_line(&mut go_ahead)
        .expect("reading stdin");
    match mode {
        "exit" => {}
        "panic" => panic!("child: a test failed"),
        "wait-to-be-killed" => loop {
            std::thread::sleep(Duration::from_secs(60));
        },
        other => panic!("unknown {CHILD_MODE}={other}"),
    }
}

/// Starts a plane that must fail, prints the panic message as one JSON line,
/// and waits for the parent to look around before exiting.
fn child_start_fails() {
    let result = runtime().block_on(async { tokio::spawn(ControlPlane::start()).await });
    let panic = match result {
        Ok(_) => panic!("the control plane started although it should not"),
        Err(e) => e.into_panic(),
    };
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "(not a string panic)".to_string());
    println!(
        "{}",
        serde_json::to_string(&message).expect("a JSON string")
    );
    let mut go_ahead = String::new();
    std::io::stdin()
        .read_line(&mut go_ahead)
        .expect("reading stdin");
}

/// Runs [`child_start_fails`] with `HANGAR_KUBE_BIN=kube_bin` and returns the
/// panic message, after checking that no process started from `kube_bin` runs.
fn failed_start_message(kube_bin: &Path) -> String {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .env(CHILD_MODE, "start-fails")
        .env("HANGAR_KUBE_BIN", kube_bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading the child's stdout");
    // The child is still alive: whatever the failed start launched must be gone already.
    let left = plane_processes(kube_bin);
    writeln!(child.stdin.as_mut().expect("piped stdin"), "end").expect("telling the child to end");
    let output = child.wait_with_output().expect("waiting for the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed: {stderr}");
    assert!(
        left.is_empty(),
        "a failed start left processes running: {left:?}"
    );
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("child printed {line:?} ({e}): {stderr}"))
}

fn missing_binaries_are_explained() {
    let empty = tempfile::tempdir().expect("a temp dir");
    let message = failed_start_message(empty.path());
    assert!(message.contains("is missing"), "{message}");
    assert!(
        message.contains("run `scripts/test-deps.sh kube`"),
        "{message}"
    );
    println!("teardown: missing binaries ok");
}

fn a_failed_start_shows_the_logs_and_stops_etcd() {
    let bin = tempfile::tempdir().expect("a temp dir");
    let etcd = hangar_testenv::tools::kube_bin("etcd");
    std::os::unix::fs::symlink(&etcd, bin.path().join("etcd")).expect("linking etcd");
    let fake = bin.path().join("kube-apiserver");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'fake apiserver: refusing to start' >&2\nexit 3\n",
    )
    .expect("writing the fake");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");

    let message = failed_start_message(bin.path());
    for expected in [
        "the dedicated control plane did not start: kube-apiserver exited during startup",
        "exit status: 3",
        "--- last lines of kube-apiserver.log ---\nfake apiserver: refusing to start",
        "--- last lines of etcd.log ---",
    ] {
        assert!(
            message.contains(expected),
            "missing {expected:?} in: {message}"
        );
    }
    println!("teardown: failed start ok");
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    Exit,
    Panic,
    Killed,
}

fn scenario(ending: Ending) {
    let mode = match ending {
        Ending::Exit => "exit",
        Ending::Panic => "panic",
        Ending::Killed => "wait-to-be-killed",
    };
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .env(CHILD_MODE, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading the child's stdout");
    let dir = PathBuf::from(line.trim());
    if line.trim().is_empty() {
        let output = child.wait_with_output().expect("waiting for the child");
        panic!(
            "{ending:?}: the child started no plane: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let running = plane_processes(&dir);
    assert_eq!(
        running.len(),
        2,
        "{ending:?}: expected etcd and kube-apiserver of {}, found {running:?}",
        dir.display()
    );

    match ending {
        Ending::Killed => child.kill().expect("killing the child"),
        Ending::Exit | Ending::Panic => writeln!(child.stdin.as_mut().expect("piped stdin"), "end")
            .expect("telling the child to end"),
    }
    let output = child.wait_with_output().expect("waiting for the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match ending {
        Ending::Exit => assert!(
            output.status.success(),
            "{ending:?}: child failed: {stderr}"
        ),
        Ending::Panic => assert_eq!(output.status.code(), Some(101), "{ending:?}: {stderr}"),
        Ending::Killed => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                output.status.signal(),
                Some(libc::SIGKILL),
                "{ending:?}: {stderr}"
            );
        }
    }

    // Killed processes are gone once the kernel has delivered the signals.
    let start = Instant::now();
    loop {
        let left = plane_processes(&dir);
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{ending:?}: still running: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    match ending {
        Ending::Exit | Ending::Panic => {
            assert!(
                !dir.exists(),
                "{ending:?}: {} was left behind",
                dir.display()
            );
        }
        Ending::Killed => {
            // A killed process cannot clean up; the next start, here or in any
            // other test process, sweeps its directory.
            let plane = runtime().block_on(ControlPlane::start());
            assert!(
                !dir.exists(),
                "{ending:?}: the next start did not sweep {}",
                dir.display()
            );
            drop(plane);
        }
    }
    println!("teardown: {ending:?} ok");
}

/// Live (not zombie) processes whose command line mentions `dir`.
fn plane_processes(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains(&needle) {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if state != Some("Z") {
            found.push(format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                cmdline.trim()
            ));
        }
    }
    found
}
