//! Seed 000, the MCP-Hangar operator: `mcp-hangar.io/v1alpha1` MCPProvider,
//! MCPProviderGroup and MCPDiscoverySource with their original field names
//! (`mcp-hangar/mcp-hangar-operator`, `api/v1alpha1/*_types.go` as first
//! published). Hangar's API grew out of this one, so most fields keep their
//! names; the kinds are now MCPServer and MCPServerGroup.

use serde_json::{Value, json};

use crate::common::{Out, hangar_object, metadata, resources, set_image};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::Mapped;

pub(crate) fn convert(kind: &str, document: &Value) -> std::result::Result<Mapped, String> {
    let mut findings = Findings::default();
    let metadata = metadata(document, &mut findings);
    let spec = Fields::new("spec", document.get("spec").cloned())?;
    let (kind, spec) = match kind {
        "MCPProvider" => ("MCPServer", provider(spec, &mut findings)?),
        "MCPProviderGroup" => ("MCPServerGroup", provider_group(spec, &mut findings)?),
        "MCPDiscoverySource" => ("MCPDiscoverySource", discovery(spec, &mut findings)?),
        other => return Err(format!("{other} is not a kind of this API")),
    };
    Ok(Mapped {
        object: Some(hangar_object(kind, metadata, spec)),
        findings,
    })
}

fn provider(mut spec: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    let mode = spec.text("mode")?;
    let remote = mode.as_deref() == Some("remote");
    out.set_some("mode", mode);
    if let Some(image) = spec.text("image")? {
        if remote {
            findings.unmapped(
                "spec.image",
                "a remote server runs no image (MCPProvider ignored it in remote mode)",
            );
        } else {
            set_image(&mut out, &image)?;
        }
    }
    if let Some(endpoint) = spec.text("endpoint")? {
        if remote {
            out.set("endpoint", endpoint);
        } else {
            findings.unmapped(
                "spec.endpoint",
                "a container server has no endpoint (MCPProvider ignored it in container mode)",
            );
        }
    }
    out.set_some("command", spec.strings("command")?);
    out.set_some("args", spec.strings("args")?);
    spec.drop(
        "workingDir",
        "Hangar does not set the container's working directory: set it in the image, or cd in spec.command",
        findings,
    );
    out.set_some("replicas", spec.integer("replicas")?);
    out.set_some("idleTTL", spec.text("idleTTL")?);
    // How long a call waits for a cold provider to start.
    out.set_some("wakeTimeout", spec.text("startupTimeout")?);
    spec.drop_unless(
        "shutdownGracePeriod",
        |v| *v == "30s",
        "Hangar's pods get Kubernetes' default grace period of 30s",
        findings,
    );
    if let Some(check) = spec.object("healthCheck")? {
        out.set("healthCheck", health_check(check, findings)?.into_value());
    }
    if let Some(breaker) = spec.object("circuitBreaker")? {
        out.set(
            "circuitBreaker",
            circuit_breaker(breaker, findings)?.into_value(),
        );
    }
    // Same shapes as Kubernetes' ResourceRequirements and EnvVar.
    out.set_some("resources", resources(spec.take("resources")));
    out.set_some("env", spec.list("env")?);
    for volume in spec.objects("volumes")? {
        let (volume, mount) = split_volume(volume, findings)?;
        out.push("volumes", volume);
        out.push("volumeMounts", mount);
    }
    if let Some(context) = spec.object("securityContext")? {
        split_security_context(context, &mut out, findings)?;
    }
    out.set_some("serviceAccountName", spec.text("serviceAccountName")?);
    out.set_some("imagePullSecrets", spec.list("imagePullSecrets")?);
    out.set_some("nodeSelector", spec.take("nodeSelector"));
    out.set_some("tolerations", spec.list("tolerations")?);
    out.set_some("affinity", spec.take("affinity"));
    spec.drop(
        "priorityClassName",
        "Hangar's pods run at the cluster's default priority",
        findings,
    );
    if let Some(mut tools) = spec.object("tools")? {
        for key in ["allowList", "denyList"] {
            tools.drop(key, reasons::TOOL_FILTER, findings);
        }
        tools.drop(
            "rateLimit",
            "rate limits are set on the MCPGateway (spec.rateLimit.tools)",
            findings,
        );
        tools.finish(findings);
    }
    spec.drop(
        "observability",
        "Hangar's operator and gateway export metrics and traces themselves (OTEL_EXPORTER_OTLP_ENDPOINT), not per server",
        findings,
    );
    spec.drop(
        "capabilities",
        "Hangar does not profile or enforce a server's declared capabilities; restrict its egress with a NetworkPolicy",
        findings,
    );
    spec.finish(findings);
    if !remote {
        findings.note(
            "MCPProvider names no port or transport: Hangar expects Streamable HTTP on port 8080 at /mcp; set spec.port, spec.path or spec.transport (stdio) if the server differs",
        );
    }
    Ok(out)
}

/// `healthCheck`, shared by MCPProvider and the discovery template.
fn health_check(mut check: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    out.set_some("enabled", check.boolean("enabled")?);
    out.set_some("interval", check.text("interval")?);
    out.set_some("timeout", check.text("timeout")?);
    out.set_some("failureThreshold", check.integer("failureThreshold")?);
    check.drop_unless(
        "successThreshold",
        |v| *v == 1,
        "one passing MCP health check makes a Hangar server healthy again",
        findings,
    );
    check.finish(findings);
    Ok(out)
}

/// `circuitBreaker`, shared by MCPProvider and the discovery template.
fn circuit_breaker(mut breaker: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    out.set_some("enabled", breaker.boolean("enabled")?);
    out.set_some("failureThreshold", breaker.integer("failureThreshold")?);
    out.set_some("resetTimeout", breaker.text("resetTimeout")?);
    let one_trial =
        "a half-open Hangar circuit lets one trial call through, and closes when it succeeds";
    breaker.drop_unless("successThreshold", |v| *v == 1, one_trial, findings);
    breaker.drop_unless("halfOpenRequests", |v| *v == 1, one_trial, findings);
    breaker.finish(findings);
    Ok(out)
}

/// MCPProvider's volume carries its mount; Hangar has Kubernetes' separate volumes and mounts.
fn split_volume(mut volume: Fields, findings: &mut Findings) -> Result<(Value, Value)> {
    let name = volume
        .text("name")?
        .ok_or_else(|| format!("{} is required", volume.path("name")))?;
    let mut mount = Out::default();
    mount.set("name", name.clone());
    mount.set_some("mountPath", volume.text("mountPath")?);
    mount.set_some("subPath", volume.text("subPath")?);
    mount.set_some("readOnly", volume.boolean("readOnly")?);
    let mut out = Out::default();
    out.set("name", name);
    // The sources have Kubernetes' field names.
    for source in ["secret", "configMap", "persistentVolumeClaim", "emptyDir"] {
        out.set_some(source, volume.take(source));
    }
    volume.finish(findings);
    Ok((out.into_value(), mount.into_value()))
}

/// MCPProvider's one securityContext held pod and container settings; Hangar
/// has Kubernetes' two. Each field goes where MCPProvider's operator put it.
fn split_security_context(
    mut context: Fields,
    out: &mut Out,
    findings: &mut Findings,
) -> Result<()> {
    let mut pod = Out::default();
    let mut container = Out::default();
    for key in ["runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile"] {
        if let Some(value) = context.take(key) {
            pod.set(key, value.clone());
            container.set(key, value);
        }
    }
    pod.set_some("fsGroup", context.take("fsGroup"));
    for key in [
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
        "capabilities",
    ] {
        container.set_some(key, context.take(key));
    }
    context.finish(findings);
    let only_pod_fields = container
        .get("readOnlyRootFilesystem")
        .or(container.get("allowPrivilegeEscalation"))
        .or(container.get("capabilities"))
        .is_none();
    if !pod.is_empty() {
        out.set("podSecurityContext", pod.into_value());
    }
    if !only_pod_fields {
        out.set("securityContext", container.into_value());
        findings.note(reasons::SECURITY_CONTEXT_REPLACES);
    }
    Ok(())
}

fn provider_group(mut spec: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    // Selects MCPServers now; converted MCPProviders keep their labels.
    out.set_some("selector", spec.take("selector"));
    match spec.text("strategy")?.as_deref() {
        None => {}
        Some(strategy @ ("RoundRobin" | "LeastConnections" | "Random" | "Failover")) => {
            out.set("strategy", strategy)
        }
        Some(_) => findings.unmapped(
            "spec.strategy",
            "Hangar has no weighted strategy; the group balances RoundRobin (or set LeastConnections, Random or Failover)",
        ),
    }
    if let Some(mut failover) = spec.object("failover")? {
        let mut out_failover = Out::default();
        let enabled = failover.boolean("enabled")?;
        let retries = failover.integer("maxRetries")?;
        // Hangar always fails over; "disabled" is no retries.
        out_failover.set_some(
            "maxRetries",
            if enabled == Some(false) {
                Some(0)
            } else {
                retries
            },
        );
        failover.drop_unless(
            "retryDelay",
            |v| *v == "0s",
            "Hangar retries on the next member at once",
            findings,
        );
        failover.drop(
            "retryOn",
            "Hangar decides itself which failures are retried on another member; there is no list to set",
            findings,
        );
        failover.finish(findings);
        if !out_failover.is_empty() {
            out.set("failover", out_failover.into_value());
        }
    }
    if let Some(mut policy) = spec.object("healthPolicy")? {
        let mut out_policy = Out::default();
        out_policy.set_some(
            "minHealthyPercentage",
            policy.integer("minHealthyPercentage")?,
        );
        policy.drop(
            "minHealthyCount",
            "Hangar's group readiness is a percentage (spec.healthPolicy.minHealthyPercentage)",
            findings,
        );
        policy.drop_unless(
            "unhealthyThreshold",
            |v| *v == 3,
            "a member is unhealthy after its own spec.healthCheck.failureThreshold failed checks (3 by default); set it on the MCPServers",
            findings,
        );
        policy.finish(findings);
        if !out_policy.is_empty() {
            out.set("healthPolicy", out_policy.into_value());
        }
    }
    off_or_unmapped(
        &mut spec,
        "sessionAffinity",
        "Hangar's groups have no session affinity: each call goes to a member by the strategy",
        findings,
    )?;
    off_or_unmapped(
        &mut spec,
        "circuitBreaker",
        "Hangar breaks circuits per member (each MCPServer's spec.circuitBreaker), not per group",
        findings,
    )?;
    spec.finish(findings);
    Ok(out)
}

/// A feature Hangar lacks: nothing is lost when it is `enabled: false` (its
/// other settings then do nothing); otherwise the whole object is reported.
fn off_or_unmapped(
    spec: &mut Fields,
    key: &str,
    reason: &str,
    findings: &mut Findings,
) -> Result<()> {
    if let Some(mut feature) = spec.object(key)? {
        let enabled = feature.boolean("enabled")?.unwrap_or(false);
        if enabled {
            findings.unmapped(spec.path(key), reason);
        }
    }
    Ok(())
}

fn discovery(mut spec: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    let source_type = spec.text("type")?;
    match source_type.as_deref() {
        Some("ServiceDiscovery") => {
            out.set("type", "Namespace");
            findings.note(
                "spec.type ServiceDiscovery is Hangar's Namespace discovery: Services that speak MCP (a port named mcp, appProtocol mcp, or the mcp-hangar.io/discover annotation), narrowed by spec.serviceSelector",
            );
        }
        other => out.set_some("type", other.map(str::to_string)),
    }
    out.set_some("mode", spec.text("mode")?);
    out.set_some("refreshInterval", spec.text("refreshInterval")?);
    spec.drop_unless(
        "paused",
        |v| *v == false,
        "Hangar has no pause: delete the MCPDiscoverySource (Additive keeps what it created)",
        findings,
    );
    if let Some(mut selector) = spec.object("namespaceSelector")? {
        let mut out_selector = Out::default();
        out_selector.set_some("matchLabels", selector.take("matchLabels"));
        out_selector.set_some("matchExpressions", selector.list("matchExpressions")?);
        // Namespaces carry their name as a label, so an exclusion list is a selector term.
        if let Some(excluded) = selector.strings("excludeNamespaces")?
            && !excluded.is_empty()
        {
            out_selector.push(
                "matchExpressions",
                json!({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded}),
            );
        }
        selector.finish(findings);
        out.set("namespaceSelector", out_selector.into_value());
    }
    if let Some(mut reference) = spec.object("configMapRef")? {
        let mut out_reference = Out::default();
        out_reference.set_some("name", reference.text("name")?);
        // MCPDiscoverySource's default key; Hangar's is servers.yaml.
        out_reference.set(
            "key",
            reference
                .text("key")?
                .unwrap_or_else(|| "providers.yaml".into()),
        );
        reference.drop(
            "namespace",
            "Hangar reads the ConfigMap from the MCPDiscoverySource's own namespace",
            findings,
        );
        reference.finish(findings);
        out.set("configMapRef", out_reference.into_value());
        findings.note(
            "Hangar reads the ConfigMap as a YAML list of {name, labels, annotations, spec} whose spec is an MCPServer spec: convert MCPProvider specs listed there the same way",
        );
    }
    let mut service_selector = None;
    if let Some(mut annotations) = spec.object("annotations")? {
        service_selector = annotations.take("serviceSelector");
        annotations.drop(
            "podSelector",
            "Hangar discovers Services (and the Deployments behind them), not bare pods",
            findings,
        );
        annotations.drop_unless(
            "annotationPrefix",
            |v| *v == hangar_api::GROUP,
            "Hangar reads annotations under mcp-hangar.io/ only",
            findings,
        );
        annotations.drop(
            "requiredAnnotations",
            "Hangar discovers Services annotated mcp-hangar.io/discover: \"true\"; annotate them so",
            findings,
        );
        annotations.finish(findings);
    }
    if let Some(mut services) = spec.object("serviceDiscovery")? {
        service_selector = services.take("selector").or(service_selector);
        services.drop_unless(
            "portName",
            |v| *v == "mcp",
            "Hangar uses the port named mcp, or the one the Service's mcp-hangar.io/port annotation names",
            findings,
        );
        services.drop_unless(
            "protocol",
            |v| *v == "http",
            "discovered endpoints are plain HTTP in Hangar",
            findings,
        );
        services.finish(findings);
    }
    if let Some(labels) = service_selector {
        out.set("serviceSelector", json!({"matchLabels": labels}));
    }
    if let Some(mut template) = spec.object("providerTemplate")? {
        let mut out_template = Out::default();
        if let Some(mut template_metadata) = template.object("metadata")? {
            out_template.set_some("labels", template_metadata.take("labels"));
            out_template.set_some("annotations", template_metadata.take("annotations"));
            template_metadata.finish(findings);
        }
        if let Some(mut template_spec) = template.object("spec")? {
            if let Some(check) = template_spec.object("healthCheck")? {
                out_template.set("healthCheck", health_check(check, findings)?.into_value());
            }
            if let Some(breaker) = template_spec.object("circuitBreaker")? {
                out_template.set(
                    "circuitBreaker",
                    circuit_breaker(breaker, findings)?.into_value(),
                );
            }
            template_spec.finish(findings);
        }
        template.finish(findings);
        out.set("template", out_template.into_value());
    }
    spec.drop(
        "filters",
        "Hangar discovers every matching Service; narrow the set with spec.serviceSelector or spec.namespaceSelector",
        findings,
    );
    spec.drop(
        "ownership",
        "Hangar labels what it discovers (mcp-hangar.io/discovery-source) and deletes only in Authoritative mode",
        findings,
    );
    spec.finish(findings);
    Ok(out)
}
