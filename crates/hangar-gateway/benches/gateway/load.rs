//! Processes under measurement and the load generator: spawning pinned to a
//! core, CPU time and RSS from /proc, and one `wrk` run parsed into numbers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The core `wrk` runs on; everything measured shares the other one.
pub const LOAD_CORE: &str = "0";
pub const SERVER_CORE: &str = "1";

/// A child process, killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    /// Runs `program args` pinned to the server core, its output in `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Proc {
        Self::spawn_with(name, program, args, log, &[])
    }

    pub fn spawn_with(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        env: &[(&str, String)],
    ) -> Proc {
        let out = std::fs::File::create(log).expect("create a log file");
        let child = Command::new("taskset")
            .arg("-c")
            .arg(SERVER_CORE)
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone a log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: name.to_string(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time of the whole process so far.
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .unwrap_or_else(|e| panic!("{} exited: {e}", self.name));
        // Fields after the command name (which may contain spaces) start at state (field 3).
        let rest = &stat[stat.rfind(')').expect("a /proc stat line") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("{} exited: {e}", self.name));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early: {status}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A program the benchmark needs, or a panic saying how to get it.
pub fn require(program: &str, how: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{program}` is not installed; {how}"))
}

/// What one load run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of the measured process per completed call.
    pub cpu_us_per_call: f64,
    /// Share of the machine's CPU time the hypervisor gave to other guests
    /// during the run (`steal` in /proc/stat), to read the CPU per call
    /// beside: on a shared host that figure varies between runs.
    pub stolen_percent: f64,
}

/// The machine's CPU time so far as (stolen, total) clock ticks, summed
/// over all cores (the `cpu` line of /proc/stat).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .expect("a cpu line in /proc/stat")
        .split_whitespace()
        .map(|v| v.parse().expect("a tick count"))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    (ticks[7], ticks.iter().take(8).sum())
}

/// One request shape for `wrk`: URL, headers, a body with `ID` where the
/// JSON-RPC id goes, and the sessions to spread calls over; and what a right
/// answer contains, checked once before the load.
pub struct Shape {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub sessions: Vec<String>,
    pub answer_contains: String,
}

/// Runs `wrk` on the load core for `seconds` with `connections`, charging
/// CPU to `measured`.
pub fn wrk(
    script: &Path,
    shape: &Shape,
    connections: usize,
    seconds: u64,
    measured: &mut Proc,
) -> Measured {
    measured.assert_running();
    let mut args = vec![
        "-c".to_string(),
        LOAD_CORE.to_string(),
        "wrk".into(),
        "-t1".into(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".into(),
        "--timeout".into(),
        "10s".into(),
        "-s".into(),
        script.display().to_string(),
        shape.url.clone(),
        "--".into(),
        shape.body.clone(),
    ];
    args.extend(shape.headers.iter().map(|(k, v)| format!("{k}: {v}")));
    args.extend(shape.sessions.iter().map(|s| format!("session={s}")));
    let before = measured.cpu();
    let (stolen_before, total_before) = machine_ticks();
    let output = Command::new("taskset")
        .args(&args)
        .output()
        .expect("run wrk");
    let cpu = measured.cpu() - before;
    let (stolen_after, total_after) = machine_ticks();
    let stolen_percent =
        100.0 * (stolen_after - stolen_before) as f64 / (total_after - total_before).max(1) as f64;
    measured.assert_running();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "wrk failed: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_wrk(&text, cpu, stolen_percent)
        .unwrap_or_else(|why| panic!("{why} in wrk's output:\n{text}"))
}

fn parse_wrk(text: &str, cpu: Duration, stolen_percent: f64) -> Result<Measured, String> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        return Err(format!("error responses ({})", line.trim()));
    }
    // Timeouts and resets mean the numbers measure failures.
    if let Some(line) = text
        .lines()
        .find(|l| l.trim_start().starts_with("Socket errors"))
    {
        return Err(format!("socket errors ({})", line.trim()));
    }
    let total: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or("no request count")?;
    let rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("no Requests/sec")?;
    let percentile = |label: &str| -> Result<f64, String> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(label))
            .map(|v| duration_ms(v.trim()))
            .transpose()?
            .ok_or(format!("no {label} latency"))
    };
    if total == 0.0 {
        return Err("no request completed".into());
    }
    Ok(Measured {
        requests_per_second: rate,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        cpu_us_per_call: cpu.as_secs_f64() * 1e6 / total,
        stolen_percent,
    })
}

/// `wrk`'s durations: `812.00us`, `1.23ms`, `2.01s`.
fn duration_ms(text: &str) -> Result<f64, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or(format!("no unit in {text}"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("bad duration {text}"))?;
    Ok(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return Err(format!("unknown unit in {text}")),
    })
}

/// The median of each measure over several runs.
pub fn median(runs: &[Measured]) -> Measured {
    fn mid(mut values: Vec<f64>) -> f64 {
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    }
    Measured {
        requests_per_second: mid(runs.iter().map(|r| r.requests_per_second).collect()),
        p50_ms: mid(runs.iter().map(|r| r.p50_ms).collect()),
        p99_ms: mid(runs.iter().map(|r| r.p99_ms).collect()),
        cpu_us_per_call: mid(runs.iter().map(|r| r.cpu_us_per_call).collect()),
        stolen_percent: mid(runs.iter().map(|r| r.stolen_percent).collect()),
    }
}
