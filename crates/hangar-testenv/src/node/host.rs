//! What a node changes on the host outside its processes, and how it is undone.
//!
//! A node leaves containers (whose shims outlive containerd), mounts (network
//! namespaces, container root filesystems, volumes), cgroups, a bridge, iptables
//! rules, a routing rule and sysctls behind. [`clean`] removes all of it: after a node stops,
//! and before one starts (a test process that was killed could not). It runs
//! under the machine-wide node lock, so whatever it finds is no one else's.
//! Nothing here panics: it also runs inside the exit handler.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::config::{BRIDGE, CGROUP_ROOT, CNI_NETWORK};
use crate::plane::SERVICE_CIDR;

/// Scratch directories of nodes are named so, in the temp directory.
pub(crate) const DIR_PREFIX: &str = "hangar-node-";
/// How long processes get to die and devices to disappear.
const SETTLE: Duration = Duration::from_secs(20);

/// Host settings a node needs, with the values the node sets.
const SYSCTLS: [(&str, &str); 2] = [
    // Pods reach Services (DNAT to other pods) and the world through the host.
    ("net/ipv4/ip_forward", "1"),
    // Traffic between pods on the bridge passes kube-proxy's rules.
    ("net/bridge/bridge-nf-call-iptables", "1"),
];
/// Host settings the kubelet changes itself (it insists on them).
const KUBELET_SYSCTLS: [&str; 3] = [
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
];

fn saved_sysctls_path() -> PathBuf {
    std::env::temp_dir().join("hangar-node.sysctl")
}

/// Records the host's values of every sysctl a node changes (unless a record
/// of an earlier node that was killed is still there), then sets the node's.
pub(crate) fn set_sysctls() -> Result<(), String> {
    let record = saved_sysctls_path();
    if !record.exists() {
        let mut saved = String::new();
        for key in SYSCTLS.iter().map(|(k, _)| *k).chain(KUBELET_SYSCTLS) {
            if let Ok(value) = fs::read_to_string(proc_sys(key)) {
                saved += &format!("{key}={}\n", value.trim());
            }
        }
        fs::write(&record, saved).map_err(|e| format!("writing {}: {e}", record.display()))?;
    }
    if !proc_sys("net/bridge").exists() {
        // The module that lets iptables see bridged traffic.
        let _ = Command::new("modprobe").arg("br_netfilter").status();
    }
    for (key, value) in SYSCTLS {
        fs::write(proc_sys(key), value).map_err(|e| {
            format!(
                "setting {} to {value}: {e} (the test node needs root and the br_netfilter module)",
                key.replace('/', ".")
            )
        })?;
    }
    Ok(())
}

/// Refuses connections to Service addresses kube-proxy has not translated
/// (yet) to a pod's, from the host and from pods. Without this, such a
/// connection follows the default route, and on a machine whose egress is a
/// transparent proxy it is accepted and answered (404) instead of failing as
/// in a cluster, so a client that keeps it alive keeps talking to the proxy.
pub(crate) fn refuse_untranslated_services() -> Result<(), String> {
    // The host's own connections: filter OUTPUT sees the address after
    // kube-proxy's translation. The comment lets the teardown find the rule.
    let rule = [
        "OUTPUT",
        "--destination",
        SERVICE_CIDR,
        "-m",
        "comment",
        "--comment",
        &format!("{CNI_NETWORK}: a Service address kube-proxy has not translated"),
        "--jump",
        "REJECT",
    ]
    .map(String::from);
    iptables("--insert", &rule)?;
    // Pods' connections: a routing rule, since kube-router puts FORWARD rules
    // accepting pods' traffic ahead of any of ours. Forwarded packets are
    // routed after the translation, so only untranslated ones match.
    run_checked("ip", &untranslated_service_route_rule("add"))
}

/// `ip rule OPERATION` of the rule for traffic from the pods' bridge to the
/// Service range.
fn untranslated_service_route_rule(operation: &'static str) -> [&'static str; 7] {
    [
        "rule",
        operation,
        "iif",
        BRIDGE,
        "to",
        SERVICE_CIDR,
        "unreachable",
    ]
}

/// Deletes the routing rule (it outlives the bridge it names), also more
/// than one copy of it left by nodes that were killed.
fn remove_route_rules() {
    let delete = || {
        Command::new("ip")
            .args(untranslated_service_route_rule("del"))
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    while delete() {}
}

/// Runs `iptables --wait OPERATION RULE…`, with its error output on failure.
pub(crate) fn iptables(operation: &str, rule: &[String]) -> Result<(), String> {
    let mut args = vec!["--wait", operation];
    args.extend(rule.iter().map(String::as_str));
    run_checked("iptables", &args)
}

/// Runs `program args…`; its error output is the error when it fails.
fn run_checked(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("running {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn proc_sys(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key)
}

fn restore_sysctls(problems: &mut Vec<String>) {
    let record = saved_sysctls_path();
    let Ok(saved) = fs::read_to_string(&record) else {
        return;
    };
    for (key, value) in saved.lines().filter_map(|l| l.split_once('=')) {
        if let Err(e) = fs::write(proc_sys(key), value) {
            problems.push(format!("restoring {key}={value}: {e}"));
        }
    }
    let _ = fs::remove_file(record);
}

/// Undoes everything nodes did to the host. `dirs` are the nodes' scratch
/// directories (their processes are dead or about to be killed); each one is
/// removed when nothing is mounted under it any more. Returns what could not
/// be undone, for the caller to report.
pub(crate) fn clean(dirs: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    kill_leftovers(dirs, &mut problems);
    unmount_under(dirs, &mut problems);
    remove_cgroups(&mut problems);
    remove_bridge(&mut problems);
    remove_iptables_rules(&mut problems);
    remove_route_rules();
    // After the rules: a set a rule still matches on cannot be destroyed.
    remove_ipsets(&mut problems);
    remove_cni_cache();
    restore_sysctls(&mut problems);
    for dir in dirs {
        if mounts_under(dir).is_empty() {
            if let Err(e) = fs::remove_dir_all(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                problems.push(format!("removing {}: {e}", dir.display()));
            }
        } else {
            problems.push(format!(
                "{} still has mounts, so it stays: {:?}",
                dir.display(),
                mounts_under(dir)
            ));
        }
    }
    problems
}

/// Scratch directories of nodes in the temp directory.
pub(crate) fn node_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(DIR_PREFIX))
        .map(|e| e.path())
        .collect()
}

/// Kills the pods' processes (everything in the pods' cgroup) and whatever
/// still names a node directory on its command line (containerd's shims),
/// until none is left.
fn kill_leftovers(dirs: &[PathBuf], problems: &mut Vec<String>) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let pids = leftover_pids(dirs);
        if pids.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            problems.push(format!("processes survived SIGKILL: {pids:?}"));
            return;
        }
        for pid in &pids {
            // SAFETY: kill(2) with a pid read from /proc or a cgroup; at worst ESRCH.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn leftover_pids(dirs: &[PathBuf]) -> BTreeSet<i32> {
    let mut pids = BTreeSet::new();
    for cgroup in pod_cgroups() {
        if let Ok(procs) = fs::read_to_string(cgroup.join("cgroup.procs")) {
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    let own = std::process::id() as i32;
    let needles: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == own || is_zombie(pid) {
                continue;
            }
            let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline);
            if needles.iter().any(|n| cmdline.contains(n.as_str())) {
                pids.insert(pid);
            }
        }
    }
    pids.retain(|pid| !is_zombie(*pid));
    pids
}

fn is_zombie(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A process that is gone counts as dead as well.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_none_or(|state| state == "Z" || state == "X")
}

/// Every cgroup under [`CGROUP_ROOT`] in every mounted hierarchy, deepest first.
fn pod_cgroups() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for hierarchy in cgroup_hierarchies() {
        collect_dirs(&hierarchy.join(CGROUP_ROOT), &mut found);
    }
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

fn collect_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    found.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), found);
            }
        }
    }
}

/// Mount points of cgroup (v1) and cgroup2 file systems.
fn cgroup_hierarchies() -> Vec<PathBuf> {
    mounts()
        .into_iter()
        .filter(|(_, fstype)| fstype == "cgroup" || fstype == "cgroup2")
        .map(|(point, _)| point)
        .collect()
}

/// Creates [`CGROUP_ROOT`] in every hierarchy: the kubelet wants it to exist.
pub(crate) fn create_cgroups() -> Result<(), String> {
    for hierarchy in cgroup_hierarchies() {
        let dir = hierarchy.join(CGROUP_ROOT);
        fs::create_dir_all(&dir).map_err(|e| format!("creating cgroup {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn remove_cgroups(problems: &mut Vec<String>) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let left: Vec<PathBuf> = pod_cgroups()
            .into_iter()
            .filter(|dir| fs::remove_dir(dir).is_err())
            .collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            problems.push(format!("cgroups that cannot be removed: {left:?}"));
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (mount point, file system type) of every mount, from /proc/self/mountinfo.
fn mounts() -> Vec<(PathBuf, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = fields.get(4)?;
            let separator = fields.iter().position(|f| *f == "-")?;
            let fstype = fields.get(separator + 1)?;
            Some((
                PathBuf::from(unescape_mount_path(point)),
                fstype.to_string(),
            ))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_path(path: &str) -> String {
    let mut out = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(byte) = u8::from_str_radix(&code, 8) {
                out.push(byte as char);
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mounts()
        .into_iter()
        .map(|(point, _)| point)
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

fn unmount_under(dirs: &[PathBuf], problems: &mut Vec<String>) {
    for dir in dirs {
        // A mount point can be stacked several times; each round removes one layer.
        for _ in 0..8 {
            let points = mounts_under(dir);
            if points.is_empty() {
                break;
            }
            for point in points {
                let Ok(path) = CString::new(point.as_os_str().as_encoded_bytes()) else {
                    continue;
                };
                // SAFETY: umount2(2) with a NUL-terminated path; MNT_DETACH never blocks.
                if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EINVAL) {
                        problems.push(format!("unmounting {}: {e}", point.display()));
                    }
                }
            }
        }
    }
}

/// Deletes the bridge once the pods' veths are gone (each disappears with
/// its network namespace).
fn remove_bridge(problems: &mut Vec<String>) {
    let bridge = Path::new("/sys/class/net").join(BRIDGE);
    if !bridge.exists() {
        return;
    }
    let deadline = Instant::now() + SETTLE;
    loop {
        let ports: Vec<String> = fs::read_dir(bridge.join("brif"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if ports.is_empty() || Instant::now() > deadline {
            for port in ports {
                run_quietly("ip", &["link", "delete", &port], problems);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    run_quietly("ip", &["link", "delete", BRIDGE], problems);
}

/// Whether an iptables-save line belongs to a node: kube-proxy's and the
/// kubelet's chains (KUBE-…), the CNI plugins' chains (CNI-…) and rules.
fn is_node_rule(line: &str) -> bool {
    line.contains("KUBE-") || line.contains("CNI-") || line.contains(CNI_NETWORK)
}

fn remove_iptables_rules(problems: &mut Vec<String>) {
    for (save, restore) in [
        ("iptables-save", "iptables-restore"),
        ("ip6tables-save", "ip6tables-restore"),
    ] {
        let Ok(output) = Command::new(save).stderr(Stdio::null()).output() else {
            continue;
        };
        if !output.status.success() {
            continue;
        }
        let rules = String::from_utf8_lossy(&output.stdout);
        if !rules.lines().any(is_node_rule) {
            continue;
        }
        let kept: String = rules
            .lines()
            .filter(|line| !is_node_rule(line))
            .map(|line| format!("{line}\n"))
            .collect();
        let restored = Command::new(restore)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("piped stdin")
                    .write_all(kept.as_bytes())?;
                child.wait_with_output()
            });
        match restored {
            Ok(out) if out.status.success() => {}
            Ok(out) => problems.push(format!(
                "{restore} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => problems.push(format!("running {restore}: {e}")),
        }
    }
}

/// Whether an ipset belongs to a node: kube-router's NetworkPolicy sets.
fn is_node_ipset(name: &str) -> bool {
    name.starts_with("KUBE-")
}

/// The names of the host's ipsets (none without the `ipset` tool).
fn ipsets() -> Vec<String> {
    Command::new("ipset")
        .args(["list", "-name"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn remove_ipsets(problems: &mut Vec<String>) {
    for name in ipsets().into_iter().filter(|n| is_node_ipset(n)) {
        run_quietly("ipset", &["destroy", &name], problems);
    }
}

/// The CNI library caches each attachment's result outside containerd's state.
fn remove_cni_cache() {
    let results = Path::new("/var/lib/cni/results");
    let Ok(entries) = fs::read_dir(results) else {
        return;
    };
    let prefix = format!("{CNI_NETWORK}-");
    let ours: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    for name in ours {
        let _ = fs::remove_file(results.join(&name));
        // The loopback attachment of the same container.
        if let Some(id) = name.strip_prefix(&prefix).and_then(|n| n.rsplit_once('-')) {
            let _ = fs::remove_file(results.join(format!("cni-loopback-{}-lo", id.0)));
        }
    }
}

fn run_quietly(program: &str, args: &[&str], problems: &mut Vec<String>) {
    match Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => problems.push(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => problems.push(format!("running {program}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_rules_are_kube_and_cni_chains_and_the_networks_comments() {
        for line in [
            ":KUBE-SERVICES - [0:0]",
            "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            ":CNI-d29738a6233b9b0adf18f226 - [0:0]",
            "-A POSTROUTING -s 10.244.0.9/32 -m comment --comment \"name: \\\"hangar-node\\\" id: \\\"0\\\"\" -j CNI-d2",
        ] {
            assert!(is_node_rule(line), "{line}");
        }
        for line in [
            "*nat",
            ":POSTROUTING ACCEPT [0:0]",
            "-A POSTROUTING -o eth0 -j MASQUERADE",
            "COMMIT",
        ] {
            assert!(!is_node_rule(line), "{line}");
        }
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
    }
}
