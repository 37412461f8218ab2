//! How the operator talks to the API server.
//!
//! The controllers share one client, so one connection pool; it sends at most
//! `max_in_flight` requests at once (a watch counts only until its response
//! starts streaming), and retries 429, 503 and 504 a few times with growing
//! pauses (or the server's Retry-After) before the reconcile sees the error
//! and requeues. kube's default retries the same answers 15 times with pauses
//! up to 1,000 s: an overloaded API server then never sees the load drop, and
//! the reconciles never report why they stall.
//!
//! Leader election and `/readyz` get a client of their own, so a Lease
//! renewal never waits behind reconcile traffic.

use std::time::Duration;

use anyhow::Context as _;
use http::Request;
use kube::client::retry::RetryPolicy;
use kube::client::{Body, ClientBuilder};
use kube::{Client, Config};
use tower::buffer::BufferLayer;
use tower::limit::ConcurrencyLimitLayer;
use tower::retry::RetryLayer;

/// Requests to the API server in flight at once unless `--kube-api-max-in-flight` says otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: u16 = 32;
/// Retries of a request the API server refused as overloaded (429, 503, 504).
const RETRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(8);
/// The Lease's renewals and `/readyz`'s discovery reads at once.
const COORDINATION_IN_FLIGHT: usize = 4;
/// Requests waiting for a slot; callers wait beyond it.
const QUEUE: usize = 1024;

/// The operator's clients.
pub struct Clients {
    /// Shared by every controller.
    pub controllers: Client,
    /// For the Lease and readiness: never queued behind the controllers.
    pub coordination: Client,
}

impl Clients {
    /// Clients for the cluster in KUBECONFIG (or the in-cluster config).
    pub async fn connect(max_in_flight: usize) -> anyhow::Result<Clients> {
        let config = Config::infer()
            .await
            .context("cannot connect to Kubernetes: set KUBECONFIG, or run inside a cluster")?;
        Ok(Clients {
            controllers: bounded(config.clone(), max_in_flight)?,
            coordination: bounded(config, COORDINATION_IN_FLIGHT)?,
        })
    }
}

/// A client that sends at most `max_in_flight` requests at once and backs
/// off from an overloaded API server.
pub fn bounded(mut config: Config, max_in_flight: usize) -> anyhow::Result<Client> {
    config.default_retry = false;
    let retry = RetryPolicy::new(FIRST_PAUSE, LONGEST_PAUSE, RETRIES, true)
        .context("the retry policy's pauses")?;
    Ok(ClientBuilder::try_from(config)
        .context("cannot build a Kubernetes client from the configuration")?
        .with_layer(&ConcurrencyLimitLayer::new(max_in_flight.max(1)))
        // Retrying needs a service it can clone.
        .with_layer(&BufferLayer::<Request<Body>>::new(QUEUE))
        .with_layer(&RetryLayer::new(retry))
        .build())
}
