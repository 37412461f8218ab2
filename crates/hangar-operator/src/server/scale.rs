//! How many replicas should run now. `replicas: 0` servers run one replica while
//! a gateway reports activity and go back to zero `idleTTL` after the last.

use std::time::Duration;

use hangar_api::{LAST_ACTIVITY_ANNOTATION, MCPServer};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

/// The replica count to run, and when to look again (when an idle server should go back to zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub replicas: i32,
    pub recheck_after: Option<Duration>,
}

pub fn effective_replicas(server: &MCPServer, now: Timestamp) -> Scale {
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
    let last_activity = server
        .annotations()
        .get(LAST_ACTIVITY_ANNOTATION)
        .and_then(|text| text.parse::<Timestamp>().ok());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server(replicas: i32, activity: Option<&str>) -> MCPServer {
        let mut server = MCPServer::new(
            "s",
            serde_json::from_value(
                serde_json::json!({"image": "x", "replicas": replicas, "idleTTL": "5m"}),
            )
            .unwrap(),
        );
        if let Some(at) = activity {
            server
                .annotations_mut()
                .insert(LAST_ACTIVITY_ANNOTATION.into(), at.into());
        }
        server
    }

    #[test]
    fn explicit_replicas_win() {
        let now: Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(
            effective_replicas(&server(3, Some("2026-11-21T11:59:00Z")), now),
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
            effective_replicas(&server(0, None), now).replicas,
            0,
            "never used"
        );
        assert_eq!(
            effective_replicas(&server(0, Some("2026-11-21T11:58:00Z")), now),
            Scale {
                replicas: 1,
                recheck_after: Some(Duration::from_secs(180))
            },
            "used two minutes ago, idleTTL 5m"
        );
        assert_eq!(
            effective_replicas(&server(0, Some("2026-11-21T11:55:00Z")), now).replicas,
            0,
            "idle for idleTTL"
        );
        assert_eq!(
            effective_replicas(&server(0, Some("yesterday")), now).replicas,
            0,
            "unreadable activity is no activity"
        );
    }
}
