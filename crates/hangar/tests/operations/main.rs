//! Hangar as a platform team runs it: the Helm chart, the Kustomize overlays and
//! the examples against a real kube-apiserver, manifests of other MCP operators
//! converted, the operator binary under exactly the chart's RBAC, its logs,
//! metrics, Events and traces, two replicas electing a leader, and a leader through an API-server restart. One test binary, so one control plane serves them all.

mod admission_policy;
mod leader_election;
mod manifests;
mod migration;
mod observability;
mod outage;
mod rbac;
mod support;
