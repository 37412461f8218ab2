//! `hangar operator`: runs the controllers against a cluster.
//!
//! Replicas elect a leader on a Lease; only the leader runs the controllers
//! (see [`crate::controllers`]), the others stand by. On SIGTERM the leader
//! finishes the reconciles in flight, then releases the Lease so a standby
//! takes over at once. Every replica serves `/metrics`, `/healthz` and
//! `/readyz` (ready = the API server serves the Hangar kinds and this replica
//! leads or is a healthy standby).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kube::Client;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::connection::{Clients, DEFAULT_MAX_IN_FLIGHT};
use crate::context::{Context, DEFAULT_RECONCILE_CONCURRENCY};
use crate::controllers::CONTROLLERS;
use crate::leader::{ElectionStatus, LeaderElector, LeaseSettings, Role};
use crate::metrics::Metrics;
use crate::server::build::{BuildSettings, default_hangar_image};

/// How long `/readyz` waits for the API server.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, clap::Args)]
pub struct OperatorArgs {
    /// Watch only this namespace (all namespaces when absent).
    #[arg(long, env = "HANGAR_WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the metrics and health endpoints (/metrics, /healthz, /readyz).
    #[arg(long, env = "HANGAR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Image with the `hangar` binary, used for stdio bridges and gateways.
    #[arg(long, env = "HANGAR_IMAGE", default_value_t = default_hangar_image())]
    pub hangar_image: String,
    /// Reconciles of one kind that run at once; more objects wait in the
    /// controller's queue rather than at the API server.
    #[arg(long, env = "HANGAR_RECONCILE_CONCURRENCY", default_value_t = DEFAULT_RECONCILE_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub reconcile_concurrency: u16,
    /// Requests the controllers send to the API server at once (one
    /// connection each); a watch counts only until its response starts.
    #[arg(long, env = "HANGAR_KUBE_API_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub kube_api_max_in_flight: u16,
    #[command(flatten)]
    pub leader: LeaderArgs,
}

/// Leader election (client-go's flags and defaults).
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderArgs {
    /// Elect a leader on a Lease so that only one replica runs the controllers.
    /// Turn it off only when exactly one replica runs.
    #[arg(long = "leader-elect", env = "HANGAR_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Name of the Lease.
    #[arg(
        long = "leader-elect-lease-name",
        env = "HANGAR_LEADER_ELECT_LEASE_NAME",
        default_value = "hangar-operator"
    )]
    pub lease_name: String,
    /// Namespace of the Lease [default: the pod's namespace, else the kubeconfig's].
    #[arg(long = "leader-elect-namespace", env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's name in the Lease and on its Events [default: the pod name, else host name and a random suffix].
    #[arg(long = "leader-elect-identity", env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a Lease stays valid after its last renewal: a standby takes
    /// over this long after the leader stopped renewing.
    #[arg(long = "leader-elect-lease-duration", env = "HANGAR_LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading (its
    /// controllers stop; the process stays and competes for the Lease again).
    #[arg(long = "leader-elect-renew-deadline", env = "HANGAR_LEADER_ELECT_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew the Lease.
    #[arg(long = "leader-elect-retry-period", env = "HANGAR_LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    hangar_api::Duration::new(text)
        .to_std()
        .map_err(|e| format!("{e} (write e.g. 15s, 500ms, 1m)"))
}

impl LeaderArgs {
    /// The operator's own namespace, where its Lease lives.
    fn namespace(&self, client: &Client) -> String {
        self.lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string())
    }

    fn settings(&self, client: &Client) -> anyhow::Result<LeaseSettings> {
        let settings = LeaseSettings {
            name: self.lease_name.clone(),
            namespace: self.namespace(client),
            identity: self.identity.clone().unwrap_or_else(default_identity),
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        };
        settings.validate().map_err(anyhow::Error::msg)?;
        Ok(settings)
    }
}

/// Host name plus a random suffix: two replicas on one host stay distinct.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hangar".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// Connects to the cluster in KUBECONFIG (or the in-cluster config) and runs
/// until SIGTERM or Ctrl-C.
pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    let Clients {
        controllers: client,
        coordination,
    } = Clients::connect(usize::from(args.kube_api_max_in_flight)).await?;
    ensure_crds_installed(&coordination).await?;
    crate::foreign::warn_about_foreign_kinds(&client).await;
    let election = if args.leader.enabled {
        Some(args.leader.settings(&client)?)
    } else {
        None
    };
    let identity = election
        .as_ref()
        .map(|e| e.identity.clone())
        .or_else(|| args.leader.identity.clone());

    let metrics = Arc::new(Metrics::default());
    let mut ctx = Context::new(
        client.clone(),
        metrics.clone(),
        BuildSettings {
            hangar_image: args.hangar_image,
            operator_namespace: Some(args.leader.namespace(&client)),
        },
    )
    .with_reconcile_concurrency(args.reconcile_concurrency);
    if let Some(identity) = &identity {
        ctx = ctx.reporting_as(identity);
    }
    let ctx = Arc::new(ctx);

    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: finishing the reconciles in flight");
            stop.cancel();
        }
    });
    let elector = election.map(|settings| LeaderElector::new(coordination.clone(), settings));

    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", args.metrics_addr))?;
    let addr = listener.local_addr()?;
    let health = Arc::new(Health {
        client: coordination,
        identity: identity.clone(),
        election: elector
            .as_ref()
            .map(|e| (e.status(), e.settings().lease_duration)),
        stop: stop.clone(),
    });
    let http = tokio::spawn({
        let metrics = metrics.clone();
        async move {
            let app = Router::new()
                .route("/metrics", get(move || async move { metrics.encode() }))
                .route("/healthz", get(|| async { "ok" }))
                .route("/readyz", get(readyz))
                .with_state(health);
            axum::serve(listener, app).await
        }
    });
    tracing::info!(
        %addr,
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        reconcile_concurrency = args.reconcile_concurrency,
        identity = identity.as_deref().unwrap_or("(none)"),
        leader_election = elector.is_some(),
        "operator starting"
    );

    let outcome = match &elector {
        None => {
            metrics.set_leader(true);
            run_controllers(ctx, args.namespace, &stop).await;
            Ok(())
        }
        Some(elector) => lead(elector, &metrics, ctx, args.namespace, &stop).await,
    };
    http.abort();
    if outcome.is_ok() {
        tracing::info!("operator stopped");
    }
    outcome
}

/// Waits for the Lease, runs the controllers while holding it, and gives it
/// up after they finished. A replica that loses the Lease (it could not renew
/// it in time, e.g. while the API server was down, or another took it) stops
/// its controllers at once, stays up, and competes again.
async fn lead(
    elector: &LeaderElector,
    metrics: &Metrics,
    ctx: Arc<Context>,
    namespace: Option<String>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        if !elector.acquire(stop).await {
            return Ok(());
        }
        metrics.set_leader(true);
        let held = elector
            .hold(run_controllers(ctx.clone(), namespace.clone(), stop))
            .await;
        metrics.set_leader(false);
        match held {
            Ok(()) => {
                if let Err(error) = elector.release().await {
                    tracing::warn!(%error, "could not release the leader lease; a standby takes over when it expires");
                }
                return Ok(());
            }
            // The controllers were dropped with their reconciles in flight;
            // they start afresh, watches and caches included, if this
            // replica leads again.
            Err(lost) => {
                tracing::warn!(%lost, "stopped leading: the controllers stopped; competing for the lease again")
            }
        }
    }
}

/// Runs every controller until `stop`, then waits for their reconciles in flight.
async fn run_controllers(ctx: Arc<Context>, namespace: Option<String>, stop: &CancellationToken) {
    ctx.caches.reset();
    let running = CONTROLLERS.iter().map(|controller| {
        tracing::info!(kind = controller.kind, "starting controller");
        (controller.run)(
            ctx.clone(),
            namespace.clone(),
            stop.clone().cancelled_owned(),
        )
    });
    futures::future::join_all(running).await;
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// What `/readyz` looks at.
struct Health {
    client: Client,
    identity: Option<String>,
    election: Option<(watch::Receiver<ElectionStatus>, Duration)>,
    stop: CancellationToken,
}

/// 200 when the API server serves every Hangar kind and this replica leads,
/// runs alone, or stands by with a Lease it read within the lease duration;
/// else 503. The body says which, and who leads.
async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, Json<Value>) {
    let crds = match tokio::time::timeout(READY_CHECK_TIMEOUT, missing_kinds(&health.client)).await
    {
        Ok(Ok(missing)) if missing.is_empty() => Ok(()),
        Ok(Ok(missing)) => Err(format!("not served: {}", missing.join(", "))),
        Ok(Err(error)) => Err(format!("cannot reach the API server: {error}")),
        Err(_) => Err(format!(
            "the API server did not answer within {READY_CHECK_TIMEOUT:?}"
        )),
    };
    let election = health
        .election
        .as_ref()
        .map(|(status, lease_duration)| (status.borrow().clone(), *lease_duration));
    let (ready, body) = readiness(
        crds,
        election.as_ref().map(|(s, d)| (s, *d)),
        health.identity.as_deref(),
        health.stop.is_cancelled(),
    );
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// The readiness decision and the body that explains it.
fn readiness(
    crds: Result<(), String>,
    election: Option<(&ElectionStatus, Duration)>,
    identity: Option<&str>,
    stopping: bool,
) -> (bool, Value) {
    let (role, leader, election_ok) = match election {
        None => ("single".to_string(), identity.map(String::from), true),
        Some((status, lease_duration)) => {
            let fresh = status
                .last_contact
                .is_some_and(|at| at.elapsed() < lease_duration);
            let (leader, serving) = match &status.role {
                Role::Leader => (identity.map(String::from), true),
                Role::Standby { holder } => (Some(holder.clone()), true),
                Role::Candidate | Role::Released => (None, false),
            };
            (status.role.to_string(), leader, fresh && serving)
        }
    };
    let ready = crds.is_ok() && election_ok && !stopping;
    let body = json!({
        "ready": ready,
        "role": role,
        "leader": leader,
        "crds": crds.err().unwrap_or_else(|| "ok".into()),
        "stopping": stopping,
    });
    (ready, body)
}

/// The Hangar kinds the API server does not serve, read from discovery (which
/// every authenticated user may read, so it needs no RBAC rule).
async fn missing_kinds(client: &Client) -> Result<Vec<String>, kube::Error> {
    let group_version = format!("{}/{}", hangar_api::GROUP, hangar_api::VERSION);
    let served: Vec<String> = match client.list_api_group_resources(&group_version).await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(error) => return Err(error),
    };
    Ok(hangar_api::crds()
        .into_iter()
        .filter(|crd| !served.contains(&crd.spec.names.plural))
        .map(|crd| format!("{} ({})", crd.spec.names.kind, crd.spec.names.plural))
        .collect())
}

/// Fails with instructions when the cluster does not serve every Hangar kind.
async fn ensure_crds_installed(client: &Client) -> anyhow::Result<()> {
    let missing = missing_kinds(client)
        .await
        .context("cannot read the API server's discovery information")?;
    if !missing.is_empty() {
        anyhow::bail!(
            "the mcp-hangar.io CRDs are not installed in this cluster (missing: {}). Install them with \
             `kubectl apply --server-side -f deploy/crds/` (or `make install`), then start the operator again",
            missing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const LEASE: Duration = Duration::from_secs(15);

    fn status(role: Role, contact: Option<Instant>) -> ElectionStatus {
        ElectionStatus {
            role,
            last_contact: contact,
        }
    }

    fn standby() -> Role {
        Role::Standby { holder: "a".into() }
    }

    #[test]
    fn a_leader_and_a_fresh_standby_are_ready() {
        let now = Some(Instant::now());
        let (ready, body) = readiness(
            Ok(()),
            Some((&status(Role::Leader, now), LEASE)),
            Some("b"),
            false,
        );
        assert!(ready);
        assert_eq!(
            (&body["role"], &body["leader"]),
            (&json!("leader"), &json!("b"))
        );
        let (ready, body) = readiness(
            Ok(()),
            Some((&status(standby(), now), LEASE)),
            Some("b"),
            false,
        );
        assert!(ready, "a standby is ready to take over");
        assert_eq!(
            (&body["role"], &body["leader"]),
            (&json!("standby"), &json!("a"))
        );
    }

    #[test]
    fn a_standby_that_lost_touch_with_the_api_server_is_not_ready() {
        let long_ago = Instant::now().checked_sub(LEASE + Duration::from_secs(1));
        assert!(
            long_ago.is_some(),
            "the monotonic clock started less than a lease ago"
        );
        let (ready, _) = readiness(
            Ok(()),
            Some((&status(standby(), long_ago), LEASE)),
            None,
            false,
        );
        assert!(!ready);
    }

    #[test]
    fn missing_crds_a_replica_that_has_not_read_the_lease_and_a_stopping_one_are_not_ready() {
        let now = Some(Instant::now());
        let (ready, body) = readiness(
            Err("not served: MCPServer (mcpservers)".into()),
            None,
            None,
            false,
        );
        assert!(!ready);
        assert_eq!(body["crds"], "not served: MCPServer (mcpservers)");
        assert!(
            !readiness(
                Ok(()),
                Some((&status(Role::Candidate, now), LEASE)),
                None,
                false
            )
            .0
        );
        assert!(
            !readiness(
                Ok(()),
                Some((&status(Role::Released, now), LEASE)),
                None,
                false
            )
            .0
        );
        assert!(!readiness(Ok(()), None, None, true).0);
        assert!(
            readiness(Ok(()), None, None, false).0,
            "without leader election it runs alone"
        );
    }
}
