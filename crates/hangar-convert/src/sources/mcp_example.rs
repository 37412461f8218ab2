//! Seed 001, the kopf operator: `mcp.example.com` MCPServer (an HA gateway
//! serving the tools, prompts and resources its `toolSelector` picks), MCPTool,
//! MCPPrompt and MCPResource. Its README names the kinds and `toolSelector`;
//! Hangar's MCPGateway, MCPTool, MCPPrompt and MCPResource were modelled on
//! them, so fields with Hangar's names and shapes are carried over as they are
//! (the result is checked against Hangar's types), the few other spellings
//! below are moved where Hangar keeps them, and everything else is reported.
//! Labels are kept, so the gateway's `toolSelector` still selects the same objects.

use serde_json::{Value, json};

use crate::common::{Out, hangar_object, metadata};
use crate::fields::{Fields, Findings, Result};
use crate::sources::{Mapped, no_counterpart};

const GATEWAY_FIELDS: &[&str] = &[
    "replicas",
    "port",
    "toolSelector",
    "serverSelector",
    "toolNaming",
    "sessions",
    "rateLimit",
    "auth",
    "allowedHosts",
    "allowedOrigins",
    "ingress",
    "serviceType",
    "resources",
    "nodeSelector",
    "tolerations",
    "affinity",
];
const TOOL_FIELDS: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "backend",
    "timeout",
];
const PROMPT_FIELDS: &[&str] = &["name", "title", "description", "arguments", "messages"];
const RESOURCE_FIELDS: &[&str] = &[
    "uri",
    "name",
    "title",
    "description",
    "mimeType",
    "inline",
    "http",
    "timeout",
];
/// Backend fields a tool or resource may give at the top level of its spec.
const BACKEND_FIELDS: &[&str] = &["service", "url", "path", "method", "headers"];

pub(crate) fn convert(kind: &str, document: &Value) -> std::result::Result<Mapped, String> {
    let mut findings = Findings::default();
    let metadata = metadata(document, &mut findings);
    let mut spec = Fields::new("spec", document.get("spec").cloned())?;
    let (kind, out) = match kind {
        "MCPServer" => ("MCPGateway", gateway(&mut spec, &mut findings)?),
        "MCPTool" => ("MCPTool", tool(&mut spec)?),
        "MCPPrompt" => ("MCPPrompt", prompt(&mut spec)?),
        "MCPResource" => ("MCPResource", resource(&mut spec)?),
        _ => {
            return Ok(no_counterpart(
                document,
                "mcp.example.com has MCPServer, MCPTool, MCPPrompt and MCPResource; this kind has no Hangar counterpart",
            ));
        }
    };
    spec.finish(&mut findings);
    Ok(Mapped {
        object: Some(hangar_object(kind, metadata, out)),
        findings,
    })
}

fn carry(spec: &mut Fields, out: &mut Out, keys: &[&str]) {
    for key in keys {
        out.set_some(key, spec.take(key));
    }
}

fn gateway(spec: &mut Fields, findings: &mut Findings) -> Result<Out> {
    let mut out = Out::default();
    carry(spec, &mut out, GATEWAY_FIELDS);
    match spec.take("redis") {
        None => {}
        Some(Value::String(url)) => out.set("redis", json!({"url": url})),
        Some(redis) => out.set("redis", redis),
    }
    spec.drop(
        "image",
        "an MCPGateway runs Hangar's gateway image (the operator's own unless spec.image names another build of it)",
        findings,
    );
    if out.get("toolSelector").is_none() {
        findings.note(
            "no spec.toolSelector: the MCPGateway serves no tools, prompts or resources until one is set",
        );
    }
    Ok(out)
}

fn tool(spec: &mut Fields) -> Result<Out> {
    let mut out = Out::default();
    carry(spec, &mut out, TOOL_FIELDS);
    if out.get("backend").is_none() {
        out.set_some("backend", top_level_backend(spec)?);
    }
    Ok(out)
}

fn prompt(spec: &mut Fields) -> Result<Out> {
    let mut out = Out::default();
    carry(spec, &mut out, PROMPT_FIELDS);
    // One template string is one user message.
    if out.get("messages").is_none()
        && let Some(template) = spec.string("template")?
    {
        out.set("messages", json!([{"role": "user", "text": template}]));
    }
    Ok(out)
}

fn resource(spec: &mut Fields) -> Result<Out> {
    let mut out = Out::default();
    carry(spec, &mut out, RESOURCE_FIELDS);
    if out.get("inline").is_none() {
        let mut inline = Out::default();
        inline.set_some("text", spec.string("text")?);
        inline.set_some("blob", spec.string("blob")?);
        if !inline.is_empty() {
            out.set("inline", inline.into_value());
        }
    }
    if out.get("http").is_none() && out.get("inline").is_none() {
        out.set_some("http", top_level_backend(spec)?);
    }
    Ok(out)
}

/// `service` (`{name, port}`, or a name with a top-level `port`), `url`,
/// `path`, `method` and `headers` given beside the other fields: Hangar's backend.
fn top_level_backend(spec: &mut Fields) -> Result<Option<Value>> {
    let mut backend = Out::default();
    for key in BACKEND_FIELDS {
        backend.set_some(key, spec.take(key));
    }
    if let Some(Value::String(service)) = backend.get("service").cloned() {
        let port = spec
            .integer("port")?
            .ok_or_else(|| format!("{} names a Service but no port", spec.path("service")))?;
        backend.set("service", json!({"name": service, "port": port}));
    }
    Ok((!backend.is_empty()).then(|| backend.into_value()))
}
