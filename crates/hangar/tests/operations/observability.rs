//! What an operator replica tells the people running it: JSON logs whose
//! reconcile lines carry a correlation ID, the same ID on the Events of that
//! reconcile and in the traces it exports over OTLP, and Prometheus metrics
//! with seed 000's names, about a real MCP server (the reference
//! `server-everything`, as a remote MCPServer) and one that does not answer.

use hangar_api::ServerState;
use hangar_operator::context::CORRELATION_ANNOTATION;
use hangar_testenv::shared;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::support::{
    McpServer, Operator, OtlpCollector, all_reconciled, closed_port, create_server, eventually,
};

#[tokio::test]
async fn logs_events_traces_and_metrics_carry_the_reconcile() {
    let plane = shared().await;
    plane.install_crds(hangar_api::crds()).await;
    let admin = plane.client();
    let namespace = plane.namespace().await;
    let collector = OtlpCollector::start();
    let endpoint = collector.endpoint();
    let mut operator = Operator::spawn(
        "observed",
        plane.kubeconfig(),
        &[
            format!("--namespace={namespace}"),
            format!("--leader-elect-namespace={namespace}"),
        ],
        // Export batches quickly; the shutdown below flushes the rest anyway.
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    );
    let everything = McpServer::start();
    create_server(
        &admin,
        &namespace,
        "metadata: {name: files}\nspec: {image: python, tag: 3.11-slim}",
    )
    .await;
    let checks = "healthCheck: {interval: 1s, timeout: 1s}";
    let reachable = format!(
        "metadata: {{name: everything}}\nspec: {{mode: remote, endpoint: '{}', {checks}}}",
        everything.url()
    );
    create_server(&admin, &namespace, &reachable).await;
    let unreachable = format!(
        "metadata: {{name: gone}}\nspec: {{mode: remote, endpoint: 'http://127.0.0.1:{}/mcp', {checks}}}",
        closed_port()
    );
    create_server(&admin, &namespace, &unreachable).await;
    eventually("the servers to be reconciled", || {
        all_reconciled(&admin, &namespace, "MCPServer")
    })
    .await;

    // The Event of the unreachable server's state change names its reconcile
    // (a server reaching Dead always gets one; a new server's first healthy
    // state is only in its status).
    let events: Api<Event> = Api::namespaced(admin.clone(), &namespace);
    let event = eventually("an Event on the unreachable server", || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("gone"))
    })
    .await;
    let id = event
        .annotations()
        .get(CORRELATION_ANNOTATION)
        .unwrap_or_else(|| panic!("the Event has no {CORRELATION_ANNOTATION}: {event:?}"))
        .clone();
    assert_eq!(event.reporting_instance.as_deref(), Some("observed"));

    // Every log line is a JSON object; those of that reconcile carry the ID,
    // and one of them is the Event itself.
    let records = operator.records();
    let of_reconcile: Vec<&Value> = records
        .iter()
        .filter(|r| r["span"]["correlation_id"] == id.as_str())
        .collect();
    assert!(
        of_reconcile.iter().any(|r| r["message"] == "event"
            && r["reason"] == event.reason.as_deref().unwrap_or_default()),
        "no log line of Event {:?} with correlation ID {id}",
        event.reason
    );
    for record in &of_reconcile {
        assert_eq!(record["span"]["name"], "reconcile");
        assert_eq!(record["span"]["kind"], "MCPServer");
        assert_eq!(record["span"]["object"], "gone");
        assert_eq!(record["span"]["namespace"], namespace.as_str());
    }
    println!(
        "{} log lines carry correlation ID {id}, as does Event {}",
        of_reconcile.len(),
        event.name_any()
    );

    // Metrics: seed 000's names, and seed 002's operation counters.
    let servers: Api<hangar_api::MCPServer> = Api::namespaced(admin.clone(), &namespace);
    eventually(
        "everything to be Ready and gone to fail its checks",
        || async {
            let ready =
                servers.get("everything").await.unwrap().status?.state == Some(ServerState::Ready);
            let failing = servers
                .get("gone")
                .await
                .unwrap()
                .status?
                .consecutive_failures
                > 0;
            (ready && failing).then_some(())
        },
    )
    .await;
    let server = |name: &str| format!(r#"namespace="{namespace}",name="{name}""#);
    for series in [
        r#"mcp_operator_reconcile_total{kind="MCPServer",result="success"}"#.to_string(),
        r#"mcp_operator_reconcile_duration_seconds_count{kind="MCPServer"}"#.to_string(),
        format!(r#"mcp_operator_provider_state{{{},state="Ready"}}"#, server("everything")),
        format!("mcp_operator_provider_tools_count{{{}}}", server("everything")),
        format!("mcp_operator_provider_health_check_failures_total{{{}}}", server("gone")),
        r#"mcp_operator_resource_operations_total{kind="Deployment",operation="create",result="success"}"#.to_string(),
        r#"mcp_operator_resource_operations_total{kind="Service",operation="create",result="success"}"#.to_string(),
        "mcp_operator_leader".to_string(),
    ] {
        let value = operator.metric(&series).unwrap_or(0.0);
        assert!(value > 0.0, "{series} is {value}");
    }

    // Traces: on SIGTERM the operator flushes its spans; the reconcile span
    // reached the collector with the same correlation ID.
    let status = operator.terminate();
    assert!(status.success(), "exit status {status}");
    let bodies = collector.bodies();
    assert!(!bodies.is_empty(), "no OTLP export reached the collector");
    assert!(
        bodies
            .iter()
            .any(|body| body.windows(id.len()).any(|w| w == id.as_bytes())),
        "no exported span carries correlation ID {id} ({} exports)",
        bodies.len()
    );
    println!("{} OTLP exports received", bodies.len());
}
