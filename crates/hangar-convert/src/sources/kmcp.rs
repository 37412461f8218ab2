//! kmcp: `kagent.dev/v1alpha1` MCPServer (kagent-dev/kmcp,
//! `api/v1alpha1/mcpserver_types.go`; what its controller builds from each
//! field: `pkg/controller/transportadapter`). kmcp runs an agentgateway in
//! the pod that listens on `deployment.port` and speaks to the server over
//! stdio (`cmd` + `args`) or to `httpTransport.targetPort`; Hangar's stdio
//! bridge takes the agentgateway's place, and HTTP servers are called directly.

use serde_json::{Value, json};

use crate::common::{Out, env_list, hangar_object, metadata, resources, set_image};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::Mapped;

/// kmcp's default `deployment.port`.
const KMCP_PORT: i64 = 3000;
/// The images kmcp runs when `cmd` is `uvx` or `npx` and no image is given.
const UVX_IMAGE: &str = "ghcr.io/astral-sh/uv:debian";
const NPX_IMAGE: &str = "node:24-alpine3.21";

pub(crate) fn convert(document: &Value) -> std::result::Result<Mapped, String> {
    let mut findings = Findings::default();
    let metadata = metadata(document, &mut findings);
    let mut spec = Fields::new("spec", document.get("spec").cloned())?;
    let mut out = Out::default();
    out.set("mode", "container");

    let http = spec.object("httpTransport")?;
    let stdio = match spec.text("transportType")?.as_deref() {
        Some("stdio") => true,
        Some("http") => false,
        Some(other) => {
            return Err(format!(
                "spec.transportType {other:?} is neither stdio nor http"
            ));
        }
        None => http.is_none(),
    };
    spec.take("stdioTransport"); // an empty object: nothing to configure
    let mut deployment = spec
        .object("deployment")?
        .ok_or("spec.deployment is required")?;
    let port = deployment.integer("port")?.unwrap_or(KMCP_PORT);
    if stdio {
        out.set("transport", "stdio");
        out.set("port", port);
    }
    if let Some(mut http) = http {
        let target = http.integer("targetPort")?;
        if !stdio {
            let target =
                target.ok_or("spec.httpTransport.targetPort is required for transportType http")?;
            out.set("port", target);
            out.set_some("path", http.text("path")?);
            if target != port {
                findings.note(format!(
                    "the Service now forwards port {target}, where the server listens (kmcp's agentgateway listened on {port}); clients reach it through an MCPGateway"
                ));
            }
        }
        http.drop(
            "tls",
            "Hangar calls in-pod servers over plain HTTP; terminate TLS at the MCPGateway's Ingress",
            &mut findings,
        );
        http.finish(&mut findings);
    }

    let command = deployment.text("cmd")?;
    let image = deployment
        .text("image")?
        .or_else(|| match command.as_deref() {
            Some("uvx") => Some(UVX_IMAGE.to_string()),
            Some("npx") => Some(NPX_IMAGE.to_string()),
            _ => None,
        });
    let image = image.ok_or("spec.deployment.image is required unless cmd is uvx or npx")?;
    set_image(&mut out, &image)?;
    if stdio && command.is_none() {
        return Err(
            "transportType stdio needs spec.deployment.cmd: Hangar's stdio bridge runs that program (kmcp's agentgateway needs it too)"
                .into(),
        );
    }
    out.set_some("command", command.map(|command| vec![command]));
    out.set_some("args", deployment.strings("args")?);
    // A map; in name order, as kmcp's controller writes it.
    if let Some(env) = deployment.string_map("env")? {
        out.set("env", env_list(env));
    }
    for name in secret_names(&mut deployment, "secretRefs")? {
        out.push("envFrom", json!({"secretRef": {"name": name}}));
    }
    for name in secret_names(&mut deployment, "configMapRefs")? {
        let volume = format!("cm-{name}");
        out.push(
            "volumes",
            json!({"name": volume, "configMap": {"name": name}}),
        );
        out.push(
            "volumeMounts",
            json!({"name": volume, "mountPath": format!("/configmaps/{name}"), "readOnly": true}),
        );
    }
    // Kubernetes types, used as they are.
    out.extend("volumes", deployment.list("volumes")?.unwrap_or_default());
    out.extend(
        "volumeMounts",
        deployment.list("volumeMounts")?.unwrap_or_default(),
    );
    out.set_some("resources", resources(deployment.take("resources")));
    for key in [
        "securityContext",
        "podSecurityContext",
        "affinity",
        "nodeSelector",
    ] {
        out.set_some(key, deployment.take(key));
    }
    out.set_some("tolerations", deployment.list("tolerations")?);
    out.set_some("imagePullSecrets", deployment.list("imagePullSecrets")?);
    out.set_some("replicas", deployment.integer("replicas")?);
    out.set_some("serviceAccountName", deployment.text("serviceAccountName")?);
    deployment.drop("imagePullPolicy", reasons::PULL_POLICY, &mut findings);
    deployment.drop(
        "initContainer",
        "Hangar's stdio bridge comes from its own init container (the Hangar image)",
        &mut findings,
    );
    deployment.drop(
        "serviceAccount",
        "Hangar creates no ServiceAccount: create one with these labels and annotations and name it in spec.serviceAccountName",
        &mut findings,
    );
    deployment.drop("sidecars", reasons::ONE_CONTAINER, &mut findings);
    for key in ["labels", "annotations"] {
        deployment.drop(key, reasons::POD_METADATA, &mut findings);
    }
    deployment.finish(&mut findings);
    spec.drop(
        "timeout",
        "Hangar has no per-server client timeout (spec.wakeTimeout bounds only the wait for a cold server)",
        &mut findings,
    );
    spec.finish(&mut findings);
    Ok(Mapped {
        object: Some(hangar_object("MCPServer", metadata, out)),
        findings,
    })
}

/// The names of a list of `{name}` references; empty names are skipped, as kmcp does.
fn secret_names(deployment: &mut Fields, key: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for mut reference in deployment.objects(key)? {
        let name = reference.text("name")?;
        if !reference.is_empty() {
            return Err(format!("{} holds only a name", reference.here()));
        }
        names.extend(name);
    }
    Ok(names)
}
