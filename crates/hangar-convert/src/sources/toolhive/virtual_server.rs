//! ToolHive's VirtualMCPServer: one endpoint aggregating the servers of an
//! MCPGroup. Hangar's MCPGateway federates the servers its `serverSelector`
//! picks: here, the members of that group (by the label they were converted with).
//!
//! Client authentication is never weakened silently: an OIDC VirtualMCPServer
//! converts only when its MCPOIDCConfig is in the input, and Cedar policies
//! Hangar cannot express turn into a gateway that denies everything until its
//! rules are written.

use serde_json::{Value, json};

use crate::common::{Out, resources};
use crate::fields::{Fields, Findings, Result};
use crate::reasons;
use crate::sources::Input;
use crate::sources::toolhive::{GROUP_LABEL, group_ref};

/// The only Cedar policy Hangar needs no rules for: everyone may do everything.
const PERMIT_ALL: &str = "permit(principal, action, resource);";
/// The container of a VirtualMCPServer pod template that runs vMCP.
const VMCP_CONTAINER: &str = "vmcp";

pub(crate) fn convert(
    spec: &mut Fields,
    input: &Input,
    namespace: Option<&str>,
    findings: &mut Findings,
) -> Result<Out> {
    let mut out = Out::default();
    let mut config = spec.object("config")?;
    let group = match group_ref(spec)? {
        Some(group) => Some(group),
        None => match &mut config {
            Some(config) => config.text("groupRef")?,
            None => None,
        },
    };
    let group = group.ok_or("spec.groupRef is required")?;
    out.set(
        "serverSelector",
        json!({"matchLabels": {GROUP_LABEL: group}}),
    );
    // ToolHive leaves replicas unset (one pod); Hangar's default is two, which needs Redis.
    out.set("replicas", spec.integer("replicas")?.unwrap_or(1));
    out.set_some("serviceType", spec.text("serviceType")?);

    let incoming = match spec.object("incomingAuth")? {
        Some(auth) => Some(auth),
        None => match &mut config {
            Some(config) => config.object("incomingAuth")?,
            None => None,
        },
    };
    let incoming = incoming.ok_or("spec.incomingAuth is required")?;
    if let Some(auth) = incoming_auth(incoming, input, namespace, findings)? {
        out.set("auth", auth);
    }
    if let Some(mut storage) = spec.object("sessionStorage")? {
        out.set("redis", redis(&mut storage, findings)?);
        storage.finish(findings);
    }
    if let Some(mut outgoing) = spec.object("outgoingAuth")? {
        // "discovered": each backend's own credentials, which were converted (or reported) with it.
        outgoing.drop_unless(
            "source",
            |v| *v == "discovered",
            reasons::SERVER_CREDENTIALS,
            findings,
        );
        outgoing.finish(findings);
    }
    spec.drop("passthroughHeaders", reasons::CLIENT_HEADERS, findings);
    spec.drop_unless(
        "sessionAffinity",
        |v| *v == "None",
        "Hangar's gateway replicas share sessions through Redis; its Service does not pin clients",
        findings,
    );
    spec.drop(
        "serviceAccount",
        "the operator gives gateway pods a ServiceAccount of its own",
        findings,
    );
    if let Some(template) = spec.object("podTemplateSpec")? {
        pod_template(template, &mut out, findings)?;
    }
    spec.drop("telemetryConfigRef", reasons::TELEMETRY, findings);
    spec.drop(
        "embeddingServerRef",
        "Hangar has no tool-search optimizer; every federated tool is listed",
        findings,
    );
    spec.drop(
        "authServerConfig",
        "Hangar's gateway accepts tokens from an external OIDC issuer (spec.auth.oidc); it issues none",
        findings,
    );
    spec.drop(
        "imagePullSecrets",
        "an MCPGateway has no imagePullSecrets: its pods run the Hangar image",
        findings,
    );
    if let Some(config) = config {
        vmcp_config(config, &mut out, findings)?;
    }
    Ok(out)
}

/// `incomingAuth`: anonymous, or OIDC through an MCPOIDCConfig (`oidcConfigRef`)
/// or inline (`oidc`, the config file's form); plus Cedar authorization.
fn incoming_auth(
    mut auth: Fields,
    input: &Input,
    namespace: Option<&str>,
    findings: &mut Findings,
) -> Result<Option<Value>> {
    let auth_type = auth.text("type")?.unwrap_or_default();
    let mut out = Out::default();
    match auth_type.as_str() {
        "anonymous" => {}
        "oidc" => {
            let oidc = if let Some(reference) = auth.object("oidcConfigRef")? {
                referenced_oidc(reference, input, namespace, &mut out, findings)?
            } else if let Some(inline) = auth.object("oidc")? {
                oidc_settings(inline, findings)?
            } else {
                return Err(format!("{} oidc needs oidcConfigRef", auth.path("type")));
            };
            out.set("oidc", oidc);
        }
        other => {
            return Err(format!(
                "{}: {other:?} authentication has no Hangar counterpart, and converting it to an open gateway would let anyone in",
                auth.path("type")
            ));
        }
    }
    let cedar = "Cedar policies have no Hangar counterpart: the MCPGateway denies every caller (spec.auth.authorization.default: Deny) until you write its rules";
    let mut denies = false;
    // `authzConfig` in the spec, `authz` in the config file's form.
    for key in ["authzConfig", "authz"] {
        if let Some(authz) = auth.object(key)?
            && !permits_all(authz)?
        {
            findings.unmapped(auth.path(key), cedar);
            denies = true;
        }
    }
    if auth.take("authzConfigRef").is_some() {
        findings.unmapped(auth.path("authzConfigRef"), cedar);
        denies = true;
    }
    let here = auth.here().to_string();
    auth.finish(findings);
    if out.is_empty() {
        if denies {
            return Err(format!(
                "{here}: anonymous access restricted by Cedar policies cannot be expressed in Hangar, whose authorization rules match authenticated callers"
            ));
        }
        return Ok(None);
    }
    if denies {
        out.set("authorization", json!({"default": "Deny"}));
    }
    Ok(Some(out.into_value()))
}

/// Whether Cedar authorization is the one policy that permits everything
/// (then the rest of its configuration, claims and entities, does nothing).
fn permits_all(mut authz: Fields) -> Result<bool> {
    let policies = match authz.object("inline")? {
        Some(mut inline) => inline.strings("policies")?,
        None => authz.strings("policies")?,
    };
    Ok(policies.is_some_and(|p| p.len() == 1 && p[0].trim() == PERMIT_ALL))
}

/// The issuer of the MCPOIDCConfig `reference` names, with the reference's audience.
fn referenced_oidc(
    mut reference: Fields,
    input: &Input,
    namespace: Option<&str>,
    auth: &mut Out,
    findings: &mut Findings,
) -> Result<Value> {
    let name = reference
        .text("name")?
        .ok_or_else(|| format!("{} is required", reference.path("name")))?;
    let audience = reference.text("audience")?;
    auth.set_some("resource", reference.text("resourceUrl")?);
    reference.drop(
        "scopes",
        "Hangar's protected-resource metadata advertises no scopes; match scopes in spec.auth.authorization rules",
        findings,
    );
    reference.finish(findings);
    let config = input
        .find("toolhive.stacklok.dev", "MCPOIDCConfig", namespace, &name)
        .ok_or_else(|| {
            format!(
                "spec.incomingAuth uses MCPOIDCConfig {name:?}, which is not in the input: convert it together with the VirtualMCPServer, so the gateway gets its issuer (an MCPGateway without it would let anyone in)"
            )
        })?;
    let mut config = Fields::new(
        format!("(MCPOIDCConfig {name}).spec"),
        config.get("spec").cloned(),
    )?;
    let config_type = config.text("type")?.unwrap_or_default();
    let Some(inline) = config.object("inline")?.filter(|_| config_type == "inline") else {
        return Err(format!(
            "MCPOIDCConfig {name:?} is of type {config_type:?}: only inline issuers convert; write spec.auth.oidc on the MCPGateway by hand"
        ));
    };
    let mut oidc = oidc_settings(inline, findings)?;
    if let Some(audience) = audience {
        oidc["audiences"] = json!([audience]);
    }
    Ok(oidc)
}

/// An issuer's settings: the config file's inline `oidc` (`{issuer, audience,
/// jwksUrl, …}`) or an MCPOIDCConfig's `inline`.
fn oidc_settings(mut oidc: Fields, findings: &mut Findings) -> Result<Value> {
    let issuer = oidc
        .text("issuer")?
        .ok_or_else(|| format!("{} is required", oidc.path("issuer")))?;
    let mut out = json!({"issuer": issuer});
    if let Some(url) = oidc.text("jwksUrl")? {
        out["jwksUrl"] = Value::from(url);
    }
    if let Some(audience) = oidc.text("audience")? {
        out["audiences"] = json!([audience]);
    }
    // Hangar accepts http issuers; the private-address guards are ToolHive's own.
    for key in [
        "insecureAllowHTTP",
        "insecureAllowHttp",
        "jwksAllowPrivateIP",
        "jwksAllowPrivateIp",
        "protectedResourceAllowPrivateIP",
        "protectedResourceAllowPrivateIp",
    ] {
        oidc.take(key);
    }
    for key in [
        "introspectionUrl",
        "clientId",
        "clientSecretRef",
        "clientSecretEnv",
        "caBundleRef",
        "caBundlePath",
        "jwksAuthTokenPath",
        "resource",
        "scopes",
    ] {
        oidc.drop(
            key,
            "Hangar validates JWT access tokens against the issuer's keys; it does not introspect opaque tokens or act as an OIDC client",
            findings,
        );
    }
    oidc.finish(findings);
    Ok(out)
}

/// `sessionStorage {provider: redis, address, db, keyPrefix, passwordRef}`.
fn redis(storage: &mut Fields, findings: &mut Findings) -> Result<Value> {
    let provider = storage.text("provider")?;
    if provider.as_deref() != Some("redis") {
        return Err(format!("{} must be redis", storage.path("provider")));
    }
    let address = storage
        .text("address")?
        .ok_or_else(|| format!("{} is required", storage.path("address")))?;
    let db = storage.integer("db")?.unwrap_or(0);
    let mut out = json!({"url": format!("redis://{address}/{db}")});
    if let Some(prefix) = storage.text("keyPrefix")? {
        out["keyPrefix"] = Value::from(prefix);
    }
    storage.drop(
        "passwordRef",
        "put the whole URL, with the password (redis://:PASSWORD@host:port/db), in a Secret and name it in spec.redis.urlFrom instead of spec.redis.url",
        findings,
    );
    Ok(out)
}

/// Scheduling and resources of the `vmcp` container.
fn pod_template(mut template: Fields, out: &mut Out, findings: &mut Findings) -> Result<()> {
    template.drop("metadata", reasons::POD_METADATA, findings);
    if let Some(mut pod) = template.object("spec")? {
        for mut container in pod.objects("containers")? {
            if container.text("name")?.as_deref() != Some(VMCP_CONTAINER) {
                findings.unmapped(container.here(), "gateway pods run Hangar's gateway only");
                continue;
            }
            out.set_some("resources", resources(container.take("resources")));
            container.finish(findings);
        }
        for key in ["nodeSelector", "affinity"] {
            out.set_some(key, pod.take(key));
        }
        out.set_some("tolerations", pod.list("tolerations")?);
        pod.finish(findings);
    }
    template.finish(findings);
    Ok(())
}

/// The vMCP configuration: how names of aggregated tools are made unique, and
/// much that Hangar has elsewhere or not at all.
fn vmcp_config(mut config: Fields, out: &mut Out, findings: &mut Findings) -> Result<()> {
    if let Some(mut aggregation) = config.object("aggregation")? {
        let strategy = aggregation.text("conflictResolution")?;
        let mut naming = Out::default();
        let mut resolution = aggregation.object("conflictResolutionConfig")?;
        match strategy.as_deref() {
            Some("prefix") | None => {
                naming.set("prefix", true);
                let format = match &mut resolution {
                    Some(resolution) => resolution.text("prefixFormat")?,
                    None => None,
                };
                // `{workload}_` (the default) and `{workload}.` are a prefix and a separator.
                match format.as_deref() {
                    None | Some("{workload}_") => {}
                    Some("{workload}.") => naming.set("separator", "."),
                    Some("{workload}-") => naming.set("separator", "-"),
                    Some(_) => findings.unmapped(
                        "spec.config.aggregation.conflictResolutionConfig.prefixFormat",
                        "Hangar prefixes a server's name and a separator (spec.toolNaming.separator: _, -, .)",
                    ),
                }
            }
            Some("priority") => {
                naming.set("prefix", false);
                naming.set("onConflict", "KeepFirst");
                if let Some(resolution) = &mut resolution {
                    resolution.drop(
                        "priorityOrder",
                        "on a clash Hangar keeps the tool of the server first in name order",
                        findings,
                    );
                }
            }
            Some("manual") => {
                naming.set("prefix", false);
                naming.set("onConflict", "Reject");
            }
            Some(other) => {
                return Err(format!(
                    "spec.config.aggregation.conflictResolution {other:?} is not prefix, priority or manual"
                ));
            }
        }
        out.set("toolNaming", naming.into_value());
        if let Some(resolution) = resolution {
            resolution.finish(findings);
        }
        for key in ["tools", "excludeAllTools", "defaultToolVisibility"] {
            aggregation.drop(
                key,
                "Hangar federates every tool of every selected server, under its own name; limit callers with spec.auth.authorization rules",
                findings,
            );
        }
        aggregation.finish(findings);
    }
    config.drop(
        "name",
        "the gateway names itself after the MCPGateway",
        findings,
    );
    config.drop(
        "backends",
        "federate a remote server as an MCPServer in remote mode with the group's label",
        findings,
    );
    config.drop("outgoingAuth", reasons::SERVER_CREDENTIALS, findings);
    for key in ["compositeTools", "compositeToolRefs"] {
        config.drop(key, "Hangar has no composite (workflow) tools", findings);
    }
    config.drop(
        "operational",
        "Hangar health-checks each MCPServer (spec.healthCheck) and breaks circuits per server (spec.circuitBreaker); set them on the servers",
        findings,
    );
    config.drop("telemetry", reasons::TELEMETRY, findings);
    config.drop("audit", reasons::AUDIT, findings);
    for key in ["optimizer", "codeMode"] {
        config.drop(
            key,
            "Hangar has no tool-search optimizer or code mode; every federated tool is listed",
            findings,
        );
    }
    config.drop(
        "metadata",
        "the MCPGateway has no free-form metadata; use its labels and annotations",
        findings,
    );
    config.drop(
        "sessionStorage",
        "use spec.sessionStorage (which becomes spec.redis)",
        findings,
    );
    config.drop(
        "rateLimiting",
        "Hangar's limits are token buckets per client, per tool and for named tools: write spec.rateLimit",
        findings,
    );
    config.drop("passthroughHeaders", reasons::CLIENT_HEADERS, findings);
    config.finish(findings);
    Ok(())
}
