//! How many replicas should run now. `replicas: 0` servers run one replica while
//! a gateway renews its activity Lease of the server, and go back to zero
//! `idleTTL` after the last renewal.

use std::time::Duration;

use hangar_api::{MCPGateway, MCPServer};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;

/// The replica count to run, and when to look again (when an idle server should go back to zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub replicas: i32,
    pub recheck_after: Option<Duration>,
}

/// The replicas `server` should run at `now`, gateways having last sent it
/// calls at `last_activity`.
pub fn effective_replicas(
    server: &MCPServer,
    last_activity: Option<Timestamp>,
    now: Timestamp,
) -> Scale {
    if server.spec.replicas > 0 {
        return Scale {
            replicas: server.spec.replicas,
            recheck_after: None,
        };
    }
    let idle_ttl = server
        .spec
        .idle_ttl
        .to_std()
        .unwrap_or(Duration::from_secs(300));
    let idle_for = last_activity
        .map(|at| Duration::try_from(now.duration_since(at)).unwrap_or(Duration::ZERO));
    match idle_for {
        Some(idle) if idle < idle_ttl => Scale {
            replicas: 1,
            recheck_after: Some(idle_ttl - idle),
        },
        _ => Scale {
            replicas: 0,
            recheck_after: None,
        },
    }
}

/// The latest renewal among activity Leases an MCPGateway controls (the
/// operator creates them, gateways renew them); any other Lease is no activity.
pub fn last_activity(leases: &[Lease]) -> Option<Timestamp> {
    leases
        .iter()
        .filter(|lease| {
            lease.meta().owner_references.iter().flatten().any(|owner| {
                owner.controller == Some(true)
                    && owner.kind == MCPGateway::kind(&())
                    && owner.api_version == MCPGateway::api_version(&())
            })
        })
        .filter_map(|lease| Some(lease.spec.as_ref()?.renew_time.as_ref()?.0))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(replicas: i32) -> MCPServer {
        MCPServer::new(
            "s",
            serde_json::from_value(
                serde_json::json!({"image": "x", "replicas": replicas, "idleTTL": "5m"}),
            )
            .unwrap(),
        )
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn explicit_replicas_win() {
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(
            effective_replicas(&server(3), at("2026-11-21T11:59:00Z"), now),
            Scale {
                replicas: 3,
                recheck_after: None
            }
        );
    }

    #[test]
    fn scale_to_zero_follows_activity() {
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(
            effective_replicas(&server(0), None, now).replicas,
            0,
            "never used"
        );
        assert_eq!(
            effective_replicas(&server(0), at("2026-11-21T11:58:00Z"), now),
            Scale {
                replicas: 1,
                recheck_after: Some(Duration::from_secs(180))
            },
            "used two minutes ago, idleTTL 5m"
        );
        assert_eq!(
            effective_replicas(&server(0), at("2026-11-21T11:55:00Z"), now).replicas,
            0,
            "idle for idleTTL"
        );
    }

    fn lease(owner_kind: &str, renewed: Option<&str>) -> Lease {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "l", "ownerReferences": [{
                "apiVersion": if owner_kind == "MCPGateway" { "mcp-hangar.io/v1alpha1" } else { "v1" },
                "kind": owner_kind, "name": "edge", "uid": "u", "controller": true,
            }]},
            "spec": {"renewTime": renewed},
        }))
        .unwrap()
    }

    #[test]
    fn activity_is_the_latest_renewal_of_a_gateway_lease() {
        let leases = [
            lease("MCPGateway", Some("2026-11-21T11:58:00.000000Z")),
            lease("MCPGateway", Some("2026-11-21T11:59:00.000000Z")),
            lease("MCPGateway", None),
            // A Lease someone else made to keep the server awake counts for nothing.
            lease("ConfigMap", Some("2026-11-21T12:00:00.000000Z")),
        ];
        assert_eq!(last_activity(&leases), at("2026-11-21T11:59:00Z"));
        assert_eq!(last_activity(&leases[2..]), None);
    }
}
