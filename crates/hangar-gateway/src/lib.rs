//! Hangar's data plane: an MCP gateway that serves declared tools, prompts and
//! resources, and federates upstream MCP servers behind one Streamable HTTP
//! endpoint in both protocol eras.
//!
//! - [`gateway`]: live state, reloads, change announcements.
//! - [`handler`]: the MCP server clients talk to.
//! - [`upstream`]: connections to federated MCP servers (circuit breakers, scale to zero).
//! - [`outbound`]: tokens and identity the gateway presents to upstreams.
//! - [`group`]: balancing and failover across a group's member servers.
//! - [`search`]: the index behind tool search's `search_tools`.
//! - [`audit`]: the audit trail of tool calls, prompt fetches and resource reads.
//! - [`activity`]: waking scale-to-zero servers (the MCPServer annotation, or local processes).
//! - [`http`]: `/mcp`, `/metrics`, `/healthz`, `/readyz`.
//! - [`lean`]: the common `/mcp` requests answered without rmcp's HTTP layer.
//! - [`shared`]: state shared by replicas (sessions, events, discovery cache, rate limits), in memory or Redis.
//! - [`cli`]: `hangar gateway` and `hangar bridge`; [`listen`]: their `--listen`.

pub mod access;
pub mod activity;
pub mod audit;
pub mod auth;
pub mod backend_http;
pub mod batch;
pub mod catalog;
pub mod child;
pub mod cli;
pub mod connections;
pub mod curation;
pub mod declared;
pub mod forwarded;
pub mod gatekeeper;
pub mod gateway;
pub mod group;
pub mod guidance;
pub mod handler;
pub mod http;
pub mod lean;
pub mod listen;
pub mod metrics;
pub mod outbound;
pub mod placement;

pub mod reload;
pub mod search;
pub mod shared;
pub mod spare;
pub mod tool_call_message;
pub mod up;
pub mod upstream;
pub mod uri_template;

pub use cli::{BridgeArgs, GatewayArgs};
pub use gateway::Gateway;
pub use up::UpArgs;
