//! The Kubernetes SIG Apps mcp-lifecycle-operator: `mcp.x-k8s.io` MCPServer,
//! v1alpha1 and v1beta1, whose schemas are the same
//! (kubernetes-sigs/mcp-lifecycle-operator, `api/v1beta1/mcpserver_types.go`
//! and `api/v1alpha1/mcpserver_conversion.go`). Its servers are container
//! images serving MCP over HTTP on `config.port` at `config.path`.

use serde_json::{Value, json};

use crate::common::{Out, hangar_object, metadata, resources, set_image};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::{Mapped, no_counterpart};

pub(crate) fn convert(kind: &str, document: &Value) -> std::result::Result<Mapped, String> {
    if kind != "MCPServer" {
        return Ok(no_counterpart(
            document,
            "the mcp-lifecycle-operator creates MCPGatewayBindings from an MCPServer's spec.gateway; Hangar's gateways select servers by label instead",
        ));
    }
    let mut findings = Findings::default();
    let metadata = metadata(document, &mut findings);
    let mut spec = Fields::new("spec", document.get("spec").cloned())?;
    let mut out = Out::default();
    out.set("mode", "container");

    let mut source = spec.object("source")?.ok_or("spec.source is required")?;
    match source.text("type")?.as_deref() {
        Some("ContainerImage") | None => {}
        Some(other) => return Err(format!("spec.source.type {other:?} is not ContainerImage")),
    }
    let mut image = source
        .object("containerImage")?
        .ok_or("spec.source.containerImage is required")?;
    let reference = image
        .text("ref")?
        .ok_or("spec.source.containerImage.ref is required")?;
    set_image(&mut out, &reference)?;
    out.set_some("imagePullSecrets", image.list("imagePullSecrets")?);
    image.drop("pullPolicy", reasons::PULL_POLICY, &mut findings);
    image.finish(&mut findings);
    source.finish(&mut findings);

    let mut config = spec.object("config")?.ok_or("spec.config is required")?;
    out.set_some("port", config.integer("port")?);
    out.set_some("path", config.text("path")?);
    out.set_some("args", config.strings("arguments")?);
    out.set_some("env", config.list("env")?);
    out.set_some("envFrom", config.list("envFrom")?);
    for (index, storage) in config.objects("storage")?.into_iter().enumerate() {
        let (volume, mount) = storage_mount(index, storage, &mut findings)?;
        out.push("volumes", volume);
        out.push("volumeMounts", mount);
    }
    config.finish(&mut findings);

    if let Some(mut runtime) = spec.object("runtime")? {
        if let Some(replicas) = runtime.integer("replicas")? {
            out.set("replicas", replicas);
            if replicas == 0 {
                findings.note(
                    "replicas: 0 is a cold start in Hangar: the first call through an MCPGateway starts the server, which stops again after spec.idleTTL",
                );
            }
        }
        out.set_some("resources", resources(runtime.take("resources")));
        if let Some(mut security) = runtime.object("security")? {
            out.set_some("serviceAccountName", security.text("serviceAccountName")?);
            out.set_some("podSecurityContext", security.take("podSecurityContext"));
            out.set_some("securityContext", security.take("securityContext"));
            security.finish(&mut findings);
        }
        if let Some(mut health) = runtime.object("health")? {
            for probe in ["livenessProbe", "readinessProbe"] {
                health.drop(
                    probe,
                    "Hangar checks health with a real MCP exchange (spec.healthCheck) and sets the Kubernetes probes itself",
                    &mut findings,
                );
            }
            health.finish(&mut findings);
        }
        runtime.finish(&mut findings);
    }
    for key in ["extraLabels", "extraAnnotations"] {
        spec.drop(
            key,
            "Hangar labels and annotates the objects it creates itself; the MCPServer's own labels stay on the MCPServer",
            &mut findings,
        );
    }
    if let Some(mut mcp) = spec.object("mcp")? {
        // Hangar's Services never pin clients to pods, which is what `true` asks for.
        mcp.drop_unless(
            "stateless",
            |v| *v == true,
            reasons::NO_AFFINITY,
            &mut findings,
        );
        mcp.finish(&mut findings);
    }
    spec.drop(
        "network",
        "Hangar creates no NetworkPolicy from the MCPServer; write one for the pods labelled mcp-hangar.io/server",
        &mut findings,
    );
    spec.drop(
        "transport",
        "Hangar calls in-pod servers over plain HTTP",
        &mut findings,
    );
    spec.drop(
        "gateway",
        "an MCPGateway federates the servers its spec.serverSelector picks: give this server a label it selects",
        &mut findings,
    );
    spec.finish(&mut findings);
    Ok(Mapped {
        object: Some(hangar_object("MCPServer", metadata, out)),
        findings,
    })
}

/// `{path, permissions, source: {type, configMap | secret | emptyDir}}`: a volume and its mount.
fn storage_mount(
    index: usize,
    mut storage: Fields,
    findings: &mut Findings,
) -> Result<(Value, Value)> {
    let name = format!("storage-{index}");
    let path = storage
        .text("path")?
        .ok_or_else(|| format!("{} is required", storage.path("path")))?;
    let mut mount = json!({"name": name, "mountPath": path});
    // ReadOnly is the default of the source API.
    match storage.text("permissions")?.as_deref() {
        None | Some("ReadOnly") => mount["readOnly"] = Value::Bool(true),
        Some("ReadWrite") => mount["readOnly"] = Value::Bool(false),
        Some("RecursiveReadOnly") => {
            mount["readOnly"] = Value::Bool(true);
            mount["recursiveReadOnly"] = Value::from("Enabled");
        }
        Some(other) => {
            return Err(format!(
                "{} {other:?} is not a permission",
                storage.path("permissions")
            ));
        }
    }
    let mut volume = Out::default();
    volume.set("name", name);
    let mut source = storage
        .object("source")?
        .ok_or_else(|| format!("{} is required", storage.path("source")))?;
    source.take("type"); // follows from which source is set
    for key in ["configMap", "secret", "emptyDir"] {
        volume.set_some(key, source.take(key));
    }
    source.finish(findings);
    storage.finish(findings);
    Ok((volume.into_value(), mount))
}
