//! ToolHive's MCPServer: a container image speaking stdio, SSE or Streamable
//! HTTP, with ToolHive's proxy in front. Hangar runs the image itself, and a
//! stdio server behind its bridge in the same pod.

use serde_json::{Value, json};

use crate::common::{Out, resources, set_image};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::toolhive::{NO_PROXY, drop_shared};

/// ToolHive's default proxy and MCP port.
const TOOLHIVE_PORT: i64 = 8080;
/// The container of a ToolHive pod template that runs the MCP server.
const SERVER_CONTAINER: &str = "mcp";

pub(crate) fn convert(spec: &mut Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    out.set("mode", "container");
    let image = spec.text("image")?.ok_or("spec.image is required")?;
    set_image(&mut out, &image)?;
    // ToolHive's default transport is stdio.
    let transport = spec.text("transport")?.unwrap_or_else(|| "stdio".into());
    let stdio = transport == "stdio";
    if !matches!(transport.as_str(), "stdio" | "sse" | "streamable-http") {
        return Err(format!(
            "spec.transport {transport:?} is not stdio, sse or streamable-http"
        ));
    }
    out.set("transport", transport.as_str());
    // `port` and `targetPort` are v1alpha1's names of proxyPort and mcpPort.
    let proxy_port = spec.integer("proxyPort")?.or(spec.integer("port")?);
    let mcp_port = spec.integer("mcpPort")?.or(spec.integer("targetPort")?);
    let proxy_mode = spec.text("proxyMode")?;
    if stdio {
        // The bridge serves the stdio server where ToolHive's proxy did.
        out.set("port", proxy_port.unwrap_or(TOOLHIVE_PORT));
        if proxy_mode.as_deref() == Some("sse") {
            findings.unmapped(
                "spec.proxyMode",
                "Hangar's stdio bridge serves Streamable HTTP; clients on the legacy SSE transport connect through an MCPGateway",
            );
        }
        if mcp_port.is_some() {
            findings
                .note("spec.mcpPort: a stdio server listens on no port; ToolHive ignored it too");
        }
    } else {
        let port = mcp_port.unwrap_or(TOOLHIVE_PORT);
        out.set("port", port);
        let proxy_port = proxy_port.unwrap_or(TOOLHIVE_PORT);
        if proxy_port != port {
            findings.note(format!(
                "the Service now forwards port {port}, where the server listens (ToolHive's proxy listened on {proxy_port}); clients reach it through an MCPGateway"
            ));
        }
        // proxyMode only applies to stdio; ToolHive ignores it here.
    }
    out.set_some("args", spec.strings("args")?);
    out.set_some("env", spec.list("env")?); // {name, value}, as Kubernetes has it
    for mut secret in spec.objects("secrets")? {
        let name = secret
            .text("name")?
            .ok_or_else(|| format!("{} is required", secret.path("name")))?;
        let key = secret
            .text("key")?
            .ok_or_else(|| format!("{} is required", secret.path("key")))?;
        // ToolHive names the variable after the key unless told otherwise.
        let variable = secret.text("targetEnvName")?.unwrap_or_else(|| key.clone());
        secret.finish(findings);
        out.push(
            "env",
            json!({"name": variable, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}),
        );
    }
    for mut volume in spec.objects("volumes")? {
        let name = volume
            .text("name")?
            .ok_or_else(|| format!("{} is required", volume.path("name")))?;
        let host_path = volume.text("hostPath")?;
        let mut mount = json!({"name": name});
        if let Some(path) = volume.text("mountPath")? {
            mount["mountPath"] = Value::from(path);
        }
        if let Some(read_only) = volume.boolean("readOnly")? {
            mount["readOnly"] = Value::Bool(read_only);
        }
        volume.finish(findings);
        out.push(
            "volumes",
            json!({"name": name, "hostPath": {"path": host_path}}),
        );
        out.push("volumeMounts", mount);
        findings.note(format!(
            "volume {name} mounts a host path, which the Pod Security Standard \"restricted\" forbids: the namespace must allow it"
        ));
    }
    // ToolHive's {cpu, memory} lists have Kubernetes' shape.
    out.set_some("resources", resources(spec.take("resources")));
    out.set_some("serviceAccountName", spec.text("serviceAccount")?);
    spec.drop(
        "permissionProfile",
        "Hangar runs servers under the Pod Security Standard \"restricted\"; limit their network access with a NetworkPolicy",
        findings,
    );
    let mut command = None;
    if let Some(template) = spec.object("podTemplateSpec")? {
        command = pod_template(template, &mut out, findings)?;
    }
    if stdio {
        let Some(command) = command else {
            return Err(format!(
                "transport stdio: Hangar's stdio bridge runs the server's program itself, so it needs its command line, which ToolHive takes from the image ({image}) and the manifest does not name. Add it to the source as spec.podTemplateSpec.spec.containers[{{name: {SERVER_CONTAINER}, command: [...]}}] (with the image's default arguments, if any) and convert again"
            ));
        };
        out.set("command", command);
    }
    // One Deployment in Hangar: the server's replicas (ToolHive's backend) are what count.
    let proxy_replicas = spec.integer("replicas")?;
    let backend_replicas = spec.integer("backendReplicas")?;
    out.set_some("replicas", backend_replicas.or(proxy_replicas));
    if let (Some(proxy), Some(backend)) = (proxy_replicas, backend_replicas)
        && proxy != backend
    {
        findings.unmapped("spec.replicas", NO_PROXY);
    }
    spec.drop_unless(
        "sessionAffinity",
        |v| *v == "None",
        reasons::NO_AFFINITY,
        findings,
    );
    drop_shared(spec, findings);
    Ok(out)
}

/// What of ToolHive's pod template Hangar has: scheduling, pod security, the
/// `mcp` container's command, environment, resources, security and mounts.
/// Returns that container's command.
fn pod_template(
    mut template: Fields,
    out: &mut Out,
    findings: &mut Findings,
) -> Result<Option<Vec<String>>> {
    template.drop("metadata", reasons::POD_METADATA, findings);
    let mut command = None;
    if let Some(mut pod) = template.object("spec")? {
        for mut container in pod.objects("containers")? {
            if container.text("name")?.as_deref() != Some(SERVER_CONTAINER) {
                findings.unmapped(container.here(), reasons::ONE_CONTAINER);
                continue;
            }
            command = container.strings("command")?;
            // The template's container wins over the spec's fields, as in ToolHive's merge.
            if let Some(args) = container.strings("args")? {
                out.set("args", args);
            }
            out.extend("env", container.list("env")?.unwrap_or_default());
            out.extend("envFrom", container.list("envFrom")?.unwrap_or_default());
            out.extend(
                "volumeMounts",
                container.list("volumeMounts")?.unwrap_or_default(),
            );
            if let Some(resources) = resources(container.take("resources")) {
                out.set("resources", resources);
            }
            out.set_some("securityContext", container.take("securityContext"));
            container.finish(findings);
        }
        for key in ["nodeSelector", "affinity"] {
            out.set_some(key, pod.take(key));
        }
        out.set_some("tolerations", pod.list("tolerations")?);
        out.set_some("imagePullSecrets", pod.list("imagePullSecrets")?);
        out.set_some("serviceAccountName", pod.text("serviceAccountName")?);
        out.set_some("podSecurityContext", pod.take("securityContext"));
        out.extend("volumes", pod.list("volumes")?.unwrap_or_default());
        pod.finish(findings);
    }
    template.finish(findings);
    if out.get("securityContext").is_some() {
        findings.note(reasons::SECURITY_CONTEXT_REPLACES);
    }
    Ok(command)
}
