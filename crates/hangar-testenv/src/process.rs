//! Child processes and scratch directories that never outlive the test process.
//!
//! Three layers, because no single one covers every way a test binary ends:
//! - every child gets `PR_SET_PDEATHSIG=SIGKILL`, so the kernel kills it when the
//!   test process dies, even by SIGKILL or Ctrl-C. The signal fires when the
//!   *thread* that forked exits, so all children are forked by one spawner thread
//!   that lives as long as the process, never by a test's thread;
//! - an `atexit` handler kills and reaps the children and removes the scratch
//!   directories of instances still alive at a normal exit (statics are never
//!   dropped, so the shared control plane relies on it);
//! - each scratch directory holds a lock file locked by its owner; directories
//!   whose lock is free belong to a dead process and are swept on the next start.

use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock, mpsc};

const DIR_PREFIX: &str = "hangar-cp-";
const LOCK_FILE: &str = ".owner.lock";

/// Undoes what an instance's processes did outside their processes (mounts,
/// network devices, ...) once they are dead. Returns whether the scratch
/// directory may be removed. Runs once, also inside the exit handler, so it
/// must not panic.
pub(crate) type Teardown = Box<dyn FnOnce(&Path) -> bool + Send>;

/// Running processes plus the scratch directory that holds their data and logs.
pub(crate) struct Instance {
    dir: PathBuf,
    /// Held open (and locked) while the directory is in use.
    owner_lock: Mutex<Option<File>>,
    children: Mutex<Vec<(&'static str, Child)>>,
    teardown: Mutex<Option<Teardown>>,
}

static LIVE: Mutex<Vec<Arc<Instance>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding a lock must not stop the cleanup.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Instance {
    /// Creates a fresh scratch directory and registers it for cleanup at exit.
    pub(crate) fn create() -> Result<Arc<Self>, String> {
        Self::create_with(DIR_PREFIX, None)
    }

    /// Like [`Instance::create`], in a directory named `prefix…` (which the
    /// sweep of stale directories leaves alone unless it is `hangar-cp-`),
    /// with `teardown` run after the children are killed.
    pub(crate) fn create_with(
        prefix: &str,
        teardown: Option<Teardown>,
    ) -> Result<Arc<Self>, String> {
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no arguments.
            if unsafe { libc::atexit(stop_all_at_exit) } != 0 {
                panic!("hangar-testenv: registering the exit handler failed");
            }
        });
        sweep_stale_dirs();

        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .map_err(|e| {
                format!(
                    "creating a scratch directory in {}: {e}",
                    std::env::temp_dir().display()
                )
            })?
            .keep();
        let lock_path = dir.join(LOCK_FILE);
        let owner_lock = File::create(&lock_path)
            .and_then(|f| f.try_lock().map(|()| f).map_err(io::Error::from))
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
        let instance = Arc::new(Instance {
            dir,
            owner_lock: Mutex::new(Some(owner_lock)),
            children: Mutex::new(Vec::new()),
            teardown: Mutex::new(teardown),
        });
        lock(&LIVE).push(instance.clone());
        Ok(instance)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Starts `cmd` with stdout and stderr going to `<dir>/<name>.log`.
    pub(crate) fn spawn(&self, name: &'static str, mut cmd: Command) -> Result<(), String> {
        let log_path = self.log_path(name);
        let log =
            File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("duplicating {}: {e}", log_path.display()))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only makes the
        // async-signal-safe syscalls prctl and getppid.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("the test process exited during spawn"));
                }
                Ok(())
            });
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child =
            spawn_from_long_lived_thread(cmd).map_err(|e| format!("starting {program}: {e}"))?;
        lock(&self.children).push((name, child));
        Ok(())
    }

    /// Kills and reaps the named child (as a crash would), keeping its directory.
    pub(crate) fn kill(&self, name: &str) {
        let mut children = lock(&self.children);
        if let Some(index) = children.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = children.remove(index);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status of the named child if it has exited.
    pub(crate) fn exited(&self, name: &str) -> Option<ExitStatus> {
        let mut children = lock(&self.children);
        let (_, child) = children.iter_mut().find(|(n, _)| *n == name)?;
        child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the named child's log.
    pub(crate) fn log_tail(&self, name: &str, lines: usize) -> String {
        let path = self.log_path(name);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", path.display()),
        }
    }

    /// Kills and reaps the children, removes the directory and forgets the instance.
    pub(crate) fn release(self: &Arc<Self>) {
        self.stop();
        lock(&LIVE).retain(|other| !Arc::ptr_eq(other, self));
    }

    /// Idempotent, and must not panic: it also runs inside the exit handler.
    fn stop(&self) {
        let children = std::mem::take(&mut *lock(&self.children));
        // The data is thrown away, so there is nothing to shut down gracefully.
        for (_, mut child) in children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let removable = match lock(&self.teardown).take() {
            Some(teardown) => teardown(&self.dir),
            None => true,
        };
        if let Some(owner_lock) = lock(&self.owner_lock).take() {
            if removable {
                let _ = fs::remove_dir_all(&self.dir);
            }
            drop(owner_lock);
        }
    }
}

extern "C" fn stop_all_at_exit() {
    let live = std::mem::take(&mut *lock(&LIVE));
    for instance in live {
        instance.stop();
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

fn spawn_from_long_lived_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        // The sender lives in a static, so this loop (and the thread) ends only
        // with the process.
        std::thread::Builder::new()
            .name("hangar-testenv-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("hangar-testenv: starting the spawner thread");
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}

/// Removes scratch directories left by test processes that were killed.
fn sweep_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        // No lock file yet means its owner is still setting it up.
        let Ok(lock_file) = File::open(dir.join(LOCK_FILE)) else {
            continue;
        };
        if lock_file.try_lock().is_ok() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}
