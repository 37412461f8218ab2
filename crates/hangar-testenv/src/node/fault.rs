//! Faults a test injects on the node: a pod cut off from the other pods.

use super::config::CNI_NETWORK;
use super::host::iptables;
use std::net::Ipv4Addr;

/// A pod the node refuses to forward connections to, until
/// [`CutOff::restore`] or drop. The rule carries the node's network name in
/// its comment, so the node's teardown removes it even if the test process
/// is killed first.
pub struct CutOff {
    rule: Vec<String>,
    active: bool,
}

impl CutOff {
    /// Inserts the rule at the top of `FORWARD`: every TCP packet the node
    /// forwards to `pod_ip` (from a pod, by its IP or through a Service) is
    /// answered with a reset, so connections are refused and open ones cut at
    /// once. Traffic the node itself sends (the kubelet's probes) is not
    /// forwarded, so the pod stays Ready.
    pub(super) fn start(pod_ip: Ipv4Addr) -> Result<CutOff, String> {
        let rule: Vec<String> = [
            "FORWARD",
            "--destination",
            &format!("{pod_ip}/32"),
            "--protocol",
            "tcp",
            "-m",
            "comment",
            "--comment",
            &format!("{CNI_NETWORK}: a test cut this pod off"),
            "--jump",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]
        .map(String::from)
        .to_vec();
        iptables("--insert", &rule)?;
        Ok(CutOff { rule, active: true })
    }

    /// Lets connections reach the pod again.
    pub fn restore(mut self) -> Result<(), String> {
        self.active = false;
        iptables("--delete", &self.rule)
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        if self.active {
            let _ = iptables("--delete", &self.rule);
        }
    }
}
