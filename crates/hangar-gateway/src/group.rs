//! Groups of interchangeable upstream servers (`groups` in the config): each
//! call goes to one member chosen by the group's strategy, and to the next
//! one when a member fails to answer (down, circuit open, no answer in time,
//! connection lost), up to `maxRetries` further members.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rand::seq::SliceRandom;
use rmcp::model::ServerResult;

use crate::upstream::{Availability, Failure, Upstream};
use hangar_config::{GroupSpec, Strategy};

pub struct Group {
    spec: GroupSpec,
    prefix: String,
    /// In the order of `spec.members` (name order when compiled from MCPServerGroups).
    members: Vec<Arc<Upstream>>,
    /// The group's calls in flight per member, for LeastConnections.
    in_flight: Vec<AtomicUsize>,
    /// Where the next RoundRobin call starts.
    next: AtomicUsize,
    /// Orders a call's members and claims the first in one step, so that
    /// concurrent LeastConnections calls see each other.
    choosing: Mutex<()>,
}

/// A member's share of the group's calls in flight, while it has the call.
struct Claim<'a> {
    group: &'a Group,
    member: usize,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.group.in_flight[self.member].fetch_sub(1, Ordering::Relaxed);
    }
}

impl Group {
    pub fn new(spec: GroupSpec, prefix: String, members: Vec<Arc<Upstream>>) -> Self {
        Self {
            in_flight: members.iter().map(|_| AtomicUsize::new(0)).collect(),
            spec,
            prefix,
            members,
            next: AtomicUsize::new(0),
            choosing: Mutex::new(()),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn members(&self) -> &[Arc<Upstream>] {
        &self.members
    }

    fn claim(&self, member: usize) -> Claim<'_> {
        self.in_flight[member].fetch_add(1, Ordering::Relaxed);
        Claim {
            group: self,
            member,
        }
    }

    /// The members to try for one call, best first: those that can take it
    /// now in strategy order, then those that must be woken; the first is
    /// claimed. Also why the others were passed over.
    fn plan(
        &self,
        offers: &(dyn Fn(&Upstream) -> bool + Sync),
    ) -> (Vec<usize>, Vec<String>, Option<Claim<'_>>) {
        let _choosing = self.choosing.lock().unwrap_or_else(|e| e.into_inner());
        let mut ready = Vec::new();
        let mut wakeable = Vec::new();
        let mut passed_over = Vec::new();
        for (i, member) in self.members.iter().enumerate() {
            if !offers(member) {
                continue;
            }
            match member.availability() {
                Availability::Ready => ready.push(i),
                Availability::Wakeable => wakeable.push(i),
                Availability::Unavailable(why) => passed_over.push(why),
            }
        }
        for candidates in [&mut ready, &mut wakeable] {
            self.order(candidates);
        }
        ready.extend(wakeable);
        let first = ready.first().map(|member| self.claim(*member));
        (ready, passed_over, first)
    }

    fn order(&self, candidates: &mut [usize]) {
        if candidates.is_empty() {
            return;
        }
        match self.spec.strategy {
            Strategy::Failover => {}
            Strategy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
                candidates.rotate_left(start);
            }
            Strategy::LeastConnections => {
                // Ties go round-robin, so an idle group still spreads its calls.
                let start = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
                candidates.rotate_left(start);
                candidates.sort_by_key(|i| self.in_flight[*i].load(Ordering::Relaxed));
            }
            Strategy::Random => candidates.shuffle(&mut rand::rng()),
        }
    }

    /// Runs `call` on one member after another until one answers, trying at
    /// most `1 + maxRetries` members that `offers` the item. A JSON-RPC error
    /// or a tool's error result is an answer and ends the call.
    pub async fn dispatch<F, Fut>(
        &self,
        offers: &(dyn Fn(&Upstream) -> bool + Sync),
        mut call: F,
    ) -> Result<ServerResult, Failure>
    where
        F: FnMut(Arc<Upstream>) -> Fut,
        Fut: Future<Output = Result<ServerResult, Failure>>,
    {
        let (order, passed_over, mut first) = self.plan(offers);
        let attempts = order.len().min(
            usize::try_from(self.spec.max_retries)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        );
        let mut failures = Vec::new();
        for &member in &order[..attempts] {
            let _claim = first.take().unwrap_or_else(|| self.claim(member));
            let upstream = self.members[member].clone();
            match call(upstream).await {
                Err(Failure::Unavailable(why)) => {
                    tracing::info!(group = self.name(), member = self.members[member].name(), error = %why, "group member failed; trying the next");
                    failures.push(why);
                }
                other => return other,
            }
        }
        let name = self.name();
        Err(Failure::Unavailable(if failures.is_empty() {
            let mut message = format!("no member of MCP server group {name} can take the call");
            if !passed_over.is_empty() {
                message.push_str(&format!(": {}", passed_over.join("; ")));
            }
            message
        } else {
            let mut message = format!(
                "MCP server group {name}: {} of its members failed: {}",
                failures.len(),
                failures.join("; ")
            );
            if attempts < order.len() {
                message.push_str(&format!(
                    " (no more tries: maxRetries is {})",
                    self.spec.max_retries
                ));
            }
            if !passed_over.is_empty() {
                message.push_str(&format!("; passed over: {}", passed_over.join("; ")));
            }
            message
        }))
    }
}
