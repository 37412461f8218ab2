//! ToolHive's operator: `toolhive.stacklok.dev` v1alpha1 and v1beta1, whose
//! MCPServer, MCPRemoteProxy, MCPServerEntry, MCPGroup and VirtualMCPServer
//! schemas are the same (stacklok/toolhive, `cmd/thv-operator/api/v1beta1/*_types.go`
//! and `pkg/vmcp/config/config.go`; the fields v1alpha1 had before they were
//! renamed or removed are read too).
//!
//! ToolHive runs a proxy in front of every server, and groups servers with an
//! MCPGroup that a VirtualMCPServer aggregates. In Hangar the MCPGateway is
//! that one proxy: servers are federated directly, and a group becomes a label
//! on its members that the gateway converted from the VirtualMCPServer selects.
//! (Hangar's MCPServerGroup is something else: interchangeable replicas of one
//! server, balanced — not distinct servers aggregated.)

use serde_json::{Value, json};

use crate::common::{Out, add_label, hangar_object, metadata};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::{Input, Mapped, no_counterpart};

mod server;
mod virtual_server;

/// The label a converted member of an MCPGroup carries; its value is the group's name.
pub(crate) const GROUP_LABEL: &str = "mcp-hangar.io/toolhive-group";

const AUTH: &str = "clients are authenticated and authorized by the MCPGateway they connect through (spec.auth), not per server";
const NO_PROXY: &str =
    "Hangar runs no proxy pod in front of a server: the MCPGateway calls it directly";

pub(crate) fn convert(
    kind: &str,
    document: &Value,
    input: &Input,
) -> std::result::Result<Mapped, String> {
    let mut findings = Findings::default();
    let mut metadata = metadata(document, &mut findings);
    let mut spec = Fields::new("spec", document.get("spec").cloned())?;
    let (kind, out) = match kind {
        "MCPServer" => ("MCPServer", server::convert(&mut spec, &mut findings)?),
        "MCPRemoteProxy" => ("MCPServer", remote_proxy(&mut spec, &mut findings)?),
        "MCPServerEntry" => ("MCPServer", server_entry(&mut spec, &mut findings)?),
        "VirtualMCPServer" => {
            let namespace = document
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            let out = virtual_server::convert(&mut spec, input, namespace, &mut findings)?;
            ("MCPGateway", out)
        }
        "MCPGroup" => return Ok(group(document, spec, findings)),
        "MCPOIDCConfig" => {
            findings.note(
                "MCPOIDCConfig becomes no object: an MCPGateway converted from a VirtualMCPServer that references it takes its issuer (and reports what it cannot take); MCPServers and proxies that reference it report so",
            );
            return Ok(Mapped {
                object: None,
                findings,
            });
        }
        _ => {
            return Ok(no_counterpart(
                document,
                "Hangar has no counterpart of this ToolHive kind; what it configures is reported on the objects that reference it",
            ));
        }
    };
    if kind == "MCPServer"
        && let Some(group) = group_ref(&mut spec)?
    {
        add_label(&mut metadata, GROUP_LABEL, &group);
    }
    spec.finish(&mut findings);
    Ok(Mapped {
        object: Some(hangar_object(kind, metadata, out)),
        findings,
    })
}

/// `groupRef`: `{name}`, or a bare name before v1beta1.
pub(crate) fn group_ref(spec: &mut Fields) -> Result<Option<String>> {
    match spec.take("groupRef") {
        None => Ok(None),
        Some(Value::String(name)) => Ok(Some(name)),
        Some(reference) => {
            let mut reference = Fields::new(spec.path("groupRef"), Some(reference))?;
            let name = reference.text("name")?;
            if !reference.is_empty() {
                return Err(format!("{} holds only a name", reference.here()));
            }
            Ok(name)
        }
    }
}

/// An MCPGroup has no object of its own: it is the label on its members.
fn group(document: &Value, mut spec: Fields, mut findings: Findings) -> Mapped {
    let name = document["metadata"]["name"].as_str().unwrap_or_default();
    spec.drop(
        "description",
        "a group is a label in Hangar, and labels carry no description",
        &mut findings,
    );
    spec.finish(&mut findings);
    findings.note(format!(
        "MCPGroup becomes no object: its members (servers whose spec.groupRef names it) carry the label {GROUP_LABEL}={name}, which an MCPGateway converted from a VirtualMCPServer of this group selects"
    ));
    Mapped {
        object: None,
        findings,
    }
}

/// Fields ToolHive servers, proxies and entries share that Hangar configures elsewhere.
pub(crate) fn drop_shared(spec: &mut Fields, findings: &mut Findings) {
    for key in [
        "oidcConfig",
        "oidcConfigRef",
        "authzConfig",
        "authzConfigRef",
        "authServerRef",
    ] {
        spec.drop(key, AUTH, findings);
    }
    spec.drop(
        "externalAuthConfigRef",
        "Hangar never exchanges or forwards client tokens upstream: give the server its credential as a header or environment variable from a Secret",
        findings,
    );
    spec.drop("audit", reasons::AUDIT, findings);
    for key in ["toolConfigRef", "tools"] {
        spec.drop(key, reasons::TOOL_FILTER, findings);
    }
    for key in ["telemetryConfigRef", "telemetry"] {
        spec.drop(key, reasons::TELEMETRY, findings);
    }
    spec.drop(
        "webhookConfigRef",
        "Hangar calls no webhooks on MCP requests",
        findings,
    );
    spec.drop(
        "resourceOverrides",
        "Hangar sets the labels and annotations of what it creates itself",
        findings,
    );
    spec.drop_unless(
        "trustProxyHeaders",
        |v| *v == false,
        "Hangar has no setting to trust X-Forwarded-* headers",
        findings,
    );
    spec.drop(
        "endpointPrefix",
        "Hangar has no endpoint prefix setting; route path prefixes in the Ingress",
        findings,
    );
    spec.drop(
        "sessionStorage",
        "shared session state belongs to the MCPGateway (spec.redis)",
        findings,
    );
    spec.drop(
        "rateLimiting",
        "rate limits are set on the MCPGateway (spec.rateLimit)",
        findings,
    );
}

/// MCPRemoteProxy: a proxy in front of a remote server. Hangar federates the server itself.
fn remote_proxy(spec: &mut Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = remote(spec, findings)?;
    for key in [
        "proxyPort",
        "resources",
        "serviceAccount",
        "podTemplateSpec",
        "replicas",
        "sessionAffinity",
    ] {
        spec.drop(key, NO_PROXY, findings);
    }
    drop_shared(spec, findings);
    if out.get("transport").is_none() {
        out.set("transport", "streamable-http");
    }
    Ok(out)
}

/// MCPServerEntry: a remote server listed in a group without a proxy.
fn server_entry(spec: &mut Fields, findings: &mut Findings) -> Result<Out> {
    let out = remote(spec, findings)?;
    spec.drop(
        "caBundleRef",
        "Hangar has no per-server CA bundle for remote servers",
        findings,
    );
    drop_shared(spec, findings);
    Ok(out)
}

/// What MCPRemoteProxy and MCPServerEntry share: a remote endpoint and its headers.
fn remote(spec: &mut Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    out.set("mode", "remote");
    out.set_some("endpoint", spec.text("remoteUrl")?);
    out.set_some("transport", spec.text("transport")?);
    // Hangar does not restrict endpoint addresses, which is what `true` asks for.
    spec.take("allowPrivateEndpoint");
    if let Some(mut forward) = spec.object("headerForward")? {
        if let Some(headers) = forward.string_map("addPlaintextHeaders")? {
            for (name, value) in headers {
                out.push("headers", json!({"name": name, "value": value}));
            }
        }
        for mut header in forward.objects("addHeadersFromSecret")? {
            let name = header
                .text("headerName")?
                .ok_or_else(|| format!("{} is required", header.path("headerName")))?;
            let mut reference = header
                .object("valueSecretRef")?
                .ok_or_else(|| format!("{} is required", header.path("valueSecretRef")))?;
            let secret = reference.text("name")?;
            let key = reference.text("key")?;
            reference.finish(findings);
            header.finish(findings);
            out.push(
                "headers",
                json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}),
            );
        }
        forward.finish(findings);
    }
    Ok(out)
}
