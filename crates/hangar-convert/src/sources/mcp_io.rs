//! Seed 002, the Go MCP operator: `mcp.io/v1` MCPServer. The fields of its
//! README's table (`image`, `tag`, `replicas`, `port`, `serviceType`,
//! `command`, `args`, `env`, `resources`, `nodeSelector`, `tolerations`,
//! `affinity`), plus the top-level fields of the project's
//! `api/v1/mcpserver_types.go` (FantasyNitroGEN/mcp_operator), which keep
//! those names and add secret references, volumes, autoscaling and more. The
//! repository's group is `mcp.allbeone.io` and its workload sits under
//! `runtime`; both are read too.

use serde_json::{Value, json};

use crate::common::{Out, env_list, hangar_object, metadata, resources, secret_env, split_image};
use crate::fields::{Fields, Findings, Result};
use crate::sources::{Mapped, no_counterpart};

pub(crate) fn convert(kind: &str, document: &Value) -> std::result::Result<Mapped, String> {
    if kind != "MCPServer" {
        return Ok(no_counterpart(
            document,
            "only MCPServer of mcp.io/v1 has a Hangar counterpart (a catalog is an MCPRegistry, written by hand)",
        ));
    }
    let mut findings = Findings::default();
    let metadata = metadata(document, &mut findings);
    let spec = Fields::new("spec", document.get("spec").cloned())?;
    let spec = server(spec, &mut findings)?;
    Ok(Mapped {
        object: Some(hangar_object("MCPServer", metadata, spec)),
        findings,
    })
}

fn server(mut spec: Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    out.set("mode", "container");
    let tag = spec.text("tag")?;
    // The repository's API keeps the workload under `runtime`; the README's at the top.
    let mut image = spec.text("image")?;
    if let Some(runtime) = spec.object("runtime")? {
        image = image.or(runtime_block(runtime, &mut out, findings)?);
    }
    let reference = image.ok_or(
        "spec.image is required: a server its operator filled from a registry needs the image written out (or Hangar's spec.registry naming an MCPRegistry entry)",
    )?;
    let (image, image_tag) = split_image(&reference)?;
    out.set("image", image);
    out.set_some("tag", tag.or(image_tag));
    out.set_some("replicas", spec.integer("replicas")?);
    out.set_some("port", spec.integer("port")?);
    out.set_some("serviceType", spec.text("serviceType")?);
    out.set_some("command", spec.strings("command")?);
    out.set_some("args", spec.strings("args")?);
    // Kubernetes types, used as they are.
    out.extend("env", spec.list("env")?.unwrap_or_default());
    // `environment`, the first version's name of runtime.env: a map.
    if let Some(environment) = spec.string_map("environment")? {
        out.extend("env", env_list(environment));
    }
    out.set_some("envFrom", spec.list("envFrom")?);
    out.set_some("resources", resources(spec.take("resources")));
    out.set_some("nodeSelector", spec.take("nodeSelector"));
    out.set_some("tolerations", spec.list("tolerations")?);
    out.set_some("affinity", spec.take("affinity"));
    out.set_some("securityContext", spec.take("securityContext"));
    out.set_some("volumes", spec.list("volumes")?);
    out.set_some("volumeMounts", spec.list("volumeMounts")?);
    out.set_some("serviceAccountName", spec.text("serviceAccount")?);
    for reference in spec.objects("secretRefs")? {
        out.push("env", secret_ref(reference, findings)?);
    }
    for (index, source) in spec.objects("configSources")?.into_iter().enumerate() {
        let (volume, mount) = config_source(index, source, findings)?;
        out.push("volumes", volume);
        out.push("volumeMounts", mount);
    }
    if let Some(mut transport) = spec.object("transport")? {
        match transport.text("type")?.as_deref() {
            Some("stdio") => out.set("transport", "stdio"),
            Some("http" | "streamable-http") | None => {}
            Some(_) => findings.unmapped(
                transport.path("type"),
                "Hangar speaks streamable-http, sse or stdio",
            ),
        }
        out.set_some("path", transport.text("path")?);
        transport.finish(findings);
    }
    if let Some(mut autoscaling) = spec.object("autoscaling")? {
        if let Some(hpa) = autoscaling.object("hpa")? {
            autoscaler(hpa, &mut out, findings)?;
        }
        if let Some(mut vpa) = autoscaling.object("vpa")?
            && vpa.boolean("enabled")? == Some(true)
        {
            findings.unmapped(
                "spec.autoscaling.vpa",
                "Hangar makes no VerticalPodAutoscaler; set spec.resources",
            );
        }
        autoscaling.finish(findings);
    }
    spec.drop(
        "registry",
        "name the catalog entry with spec.registry {name: <MCPRegistry>, server: <reverse-DNS server name>, version}",
        findings,
    );
    spec.drop(
        "config",
        "put configuration files in spec.config.files (mounted at spec.config.mountPath)",
        findings,
    );
    spec.drop(
        "selector",
        "Hangar selects its pods by the label mcp-hangar.io/server",
        findings,
    );
    spec.drop(
        "ports",
        "Hangar's Service exposes the one MCP port, spec.port",
        findings,
    );
    for key in ["tenancy", "deploymentStrategy", "gateway", "istio"] {
        spec.drop(
            key,
            "Hangar has no equivalent; clients reach servers through an MCPGateway",
            findings,
        );
    }
    spec.finish(findings);
    if out.get("transport").is_some() && out.get("command").is_none() {
        return Err(
            "spec.transport.type stdio needs spec.command: Hangar's stdio bridge runs that program"
                .into(),
        );
    }
    if out.get("path").is_none() && out.get("transport").is_none() {
        findings.note(
            "mcp.io MCPServer names no MCP path: Hangar calls the server at /mcp over Streamable HTTP; set spec.path or spec.transport if it differs",
        );
    }
    Ok(out)
}

/// `runtime {type, image, command, args, env, port}`; returns the image.
fn runtime_block(
    mut runtime: Fields,
    out: &mut Out,
    findings: &mut Findings,
) -> Result<Option<String>> {
    match runtime.text("type")?.as_deref() {
        Some("stdio") => out.set("transport", "stdio"),
        Some("docker") | None => {}
        Some(_) => findings.unmapped(
            runtime.path("type"),
            "Hangar runs docker (container) and stdio servers",
        ),
    }
    let image = runtime.text("image")?;
    out.set_some("command", runtime.strings("command")?);
    out.set_some("args", runtime.strings("args")?);
    out.set_some("port", runtime.integer("port")?);
    if let Some(env) = runtime.string_map("env")? {
        out.extend("env", env_list(env));
    }
    runtime.finish(findings);
    Ok(image)
}

/// `{name, key, envVar, optional}`: one environment variable from a Secret.
fn secret_ref(mut reference: Fields, findings: &mut Findings) -> Result<Value> {
    let name = reference.text("name")?;
    let key = reference.text("key")?;
    let variable = reference.text("envVar")?;
    let (Some(name), Some(key), Some(variable)) = (name, key, variable) else {
        return Err(format!("{} needs name, key and envVar", reference.here()));
    };
    let optional = reference.boolean("optional")?;
    reference.finish(findings);
    Ok(secret_env(&variable, &name, &key, optional))
}

/// `{configMap | secret, mountPath, subPath, readOnly}`: a mounted ConfigMap or Secret.
fn config_source(
    index: usize,
    mut source: Fields,
    findings: &mut Findings,
) -> Result<(Value, Value)> {
    let volume_name = format!("config-source-{index}");
    let mut volume = Out::default();
    volume.set("name", volume_name.clone());
    if let Some(mut config_map) = source.object("configMap")? {
        volume.set("configMap", keyed_source(&mut config_map, "name")?);
        config_map.finish(findings);
    }
    if let Some(mut secret) = source.object("secret")? {
        volume.set("secret", keyed_source(&mut secret, "secretName")?);
        secret.finish(findings);
    }
    let mut mount = Out::default();
    mount.set("name", volume_name);
    mount.set_some("mountPath", source.text("mountPath")?);
    mount.set_some("subPath", source.text("subPath")?);
    mount.set_some("readOnly", source.boolean("readOnly")?);
    source.finish(findings);
    Ok((volume.into_value(), mount.into_value()))
}

/// A ConfigMap or Secret volume source from `{name, keys, optional}`.
fn keyed_source(source: &mut Fields, name_field: &str) -> Result<Value> {
    let mut out = Out::default();
    out.set_some(name_field, source.text("name")?);
    if let Some(keys) = source.strings("keys")? {
        let items: Vec<Value> = keys
            .into_iter()
            .map(|key| json!({"key": key, "path": key}))
            .collect();
        out.set("items", items);
    }
    out.set_some("optional", source.boolean("optional")?);
    Ok(out.into_value())
}

fn autoscaler(mut hpa: Fields, out: &mut Out, findings: &mut Findings) -> Result<()> {
    if hpa.boolean("enabled")? != Some(true) {
        return Ok(()); // off: its settings do nothing
    }
    let mut autoscaling = Out::default();
    autoscaling.set_some("minReplicas", hpa.integer("minReplicas")?);
    autoscaling.set_some("maxReplicas", hpa.integer("maxReplicas")?);
    autoscaling.set_some(
        "targetCPUUtilizationPercentage",
        hpa.integer("targetCPUUtilizationPercentage")?,
    );
    for key in ["targetMemoryUtilizationPercentage", "metrics", "behavior"] {
        hpa.drop(key, "Hangar's autoscaler scales on CPU only", findings);
    }
    hpa.finish(findings);
    out.set("autoscaling", autoscaling.into_value());
    Ok(())
}
