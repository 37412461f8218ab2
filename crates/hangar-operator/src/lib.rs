//! The Hangar operator: turns `mcp-hangar.io` resources into Kubernetes objects,
//! and writes what it observed into their status.
//!
//! Each kind has a module with a pure `build` step (spec in, objects out; shared
//! with `hangar render`) and a short reconcile driver: fetch → validate → build →
//! apply (server-side apply, one field manager) → status.

pub mod api;
pub mod apply;
pub mod cache;
pub mod children;
pub mod conditions;
pub mod connection;
pub mod context;
pub mod controllers;
pub mod discovery;
pub mod foreign;
pub mod gateway;
pub mod group;
pub mod health;
pub mod items;
pub mod labels;
pub mod leader;
pub mod metrics;
pub mod network;
pub mod outcome;
pub mod rbac;
pub mod registry;
pub mod render;
pub mod secrets;
pub mod server;
pub mod toolsets;
pub mod workload;

mod run;

pub use run::{LeaderArgs, OperatorArgs, run};

/// The operator's log filter unless `HANGAR_LOG` sets one. Every health check
/// is an MCP session of its own, whose start and end rmcp logs at INFO (with
/// the server's whole instructions text): a line per check per server.
pub const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";
