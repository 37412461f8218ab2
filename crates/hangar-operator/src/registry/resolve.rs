//! Turns a catalog entry (`server.json`) and an MCPServer spec into the spec
//! the MCPServer runs with. Pure: entry and spec in, effective spec out.
//!
//! - an `oci` package runs its image as is; `npm` runs `npx -y <pkg>@<version>`
//!   in a Node image; `pypi` runs `uvx <pkg>==<version>` in a Python image with uv;
//! - package arguments become `args`, runtime arguments go to `npx`/`uvx`;
//! - environment variables get their fixed or default values; required ones
//!   must come from `spec.env`, secret ones through `valueFrom.secretKeyRef`;
//! - a `stdio` package is bridged (the builder does that for `transport: stdio`);
//! - an entry with only remotes becomes a remote-mode server.
//!
//! Fields set in the MCPServer win. Fields the API server defaults (`port`,
//! `path`, `transport`) count as set when they differ from the default: the
//! stored object cannot tell a default from the same value written by hand.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use hangar_api::{HttpHeader, MCPServerSpec, ServerMode, Transport};
use k8s_openapi::api::core::v1::EnvVar;

use super::schema::{Argument, ArgumentType, Input, KeyValueInput, Package, ServerDetail};

/// Image `npm` packages run in: Node.js with `npx`.
pub const NODE_IMAGE: (&str, &str) = ("node", "22-slim");
/// Image `pypi` packages run in: Python with `uvx`.
pub const UV_IMAGE: (&str, &str) = ("ghcr.io/astral-sh/uv", "python3.12-bookworm-slim");

/// The effective spec, and one line on where it came from (for the condition).
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub spec: MCPServerSpec,
    pub summary: String,
}

/// Why an entry cannot be turned into a runnable spec, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unresolvable {
    #[error("it needs the environment variable {name}{}: add it to spec.env{}", described(.description), if *.secret { " from a Secret with valueFrom.secretKeyRef" } else { "" })]
    MissingEnvironmentVariable {
        name: String,
        description: Option<String>,
        secret: bool,
    },
    #[error("{what} {name} is a secret: take it from a Secret with valueFrom.secretKeyRef")]
    SecretAsLiteral { what: &'static str, name: String },
    #[error("it needs the {which} argument {name}{}: set spec.args to the complete argument list", described(.description))]
    MissingArgument {
        which: &'static str,
        name: String,
        description: Option<String>,
    },
    #[error("it needs a value for {{{name}}} in {context}{}, which has no default: {hint}", described(.description))]
    MissingVariable {
        name: String,
        context: String,
        description: Option<String>,
        hint: &'static str,
    },
    #[error("it needs the header {name}{}: add it to spec.headers{}", described(.description), if *.secret { " with valueFrom.secretKeyRef" } else { "" })]
    MissingHeader {
        name: String,
        description: Option<String>,
        secret: bool,
    },
    #[error("it has no package Hangar can run (it has: {}) and no remote endpoint; Hangar runs oci, npm and pypi packages", if .found.is_empty() { "nothing".to_string() } else { .found.join(", ") })]
    NothingToRun { found: Vec<String> },
    #[error(
        "spec.mode is remote but it has no remote endpoint: set spec.endpoint, or remove spec.mode to run its package"
    )]
    NoRemote,
    #[error("it is a remote server and cannot use spec.transport stdio: remove spec.transport")]
    StdioRemote,
    #[error(
        "its image {image} speaks stdio, and Hangar runs stdio servers through a bridge that needs the program to start: set spec.command to the image's entrypoint"
    )]
    CommandRequired { image: String },
    #[error(
        "its {context} transport {transport:?} is not one Hangar knows (stdio, streamable-http, sse)"
    )]
    UnsupportedTransport { context: String, transport: String },
    #[error("its entry is not valid: {0}")]
    InvalidEntry(String),
}

impl Unresolvable {
    /// A CamelCase reason for the condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Unresolvable::MissingEnvironmentVariable { .. } => "MissingEnvironmentVariable",
            Unresolvable::SecretAsLiteral { .. } => "SecretNotFromSecret",
            Unresolvable::MissingArgument { .. } => "MissingArgument",
            Unresolvable::MissingVariable { .. } => "MissingVariable",
            Unresolvable::MissingHeader { .. } => "MissingHeader",
            Unresolvable::NothingToRun { .. } => "NoRunnablePackage",
            Unresolvable::NoRemote => "NoRemoteEndpoint",
            Unresolvable::StdioRemote => "TransportMismatch",
            Unresolvable::CommandRequired { .. } => "CommandRequired",
            Unresolvable::UnsupportedTransport { .. } => "UnsupportedTransport",
            Unresolvable::InvalidEntry(_) => "InvalidEntry",
        }
    }
}

fn described(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// The spec an MCPServer has when it sets nothing: what the API server defaults.
static DEFAULTS: LazyLock<MCPServerSpec> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({})).expect("every MCPServer field has a default")
});

/// Package types in the order Hangar prefers them: an image runs as is; the
/// others fetch the package when the pod starts.
const RUNNABLE: [&str; 3] = ["oci", "npm", "pypi"];

/// The spec `spec` runs with when it references `entry`.
pub fn resolve(entry: &ServerDetail, spec: &MCPServerSpec) -> Result<Resolved, Unresolvable> {
    if spec.mode == ServerMode::Remote {
        return remote(entry, spec);
    }
    let package = RUNNABLE.iter().find_map(|kind| {
        entry
            .packages
            .iter()
            .find(|p| p.registry_type.eq_ignore_ascii_case(kind))
    });
    match package {
        Some(package) => container(package, spec),
        // An image chosen by hand runs as the spec says.
        None if spec.image.is_some() => Ok(Resolved {
            spec: spec.clone(),
            summary: "the image in spec.image, as written (the entry has no package Hangar runs)"
                .into(),
        }),
        None if !entry.remotes.is_empty() => remote(entry, spec),
        None => Err(Unresolvable::NothingToRun {
            found: entry
                .packages
                .iter()
                .map(|p| p.registry_type.clone())
                .collect(),
        }),
    }
}

fn container(package: &Package, spec: &MCPServerSpec) -> Result<Resolved, Unresolvable> {
    let kind = package.registry_type.to_ascii_lowercase();
    let env = environment(&package.environment_variables, &spec.env)?;
    let args = if spec.args.is_empty() {
        arguments(&package.package_arguments, "package")?
    } else {
        spec.args.clone()
    };
    let transport = local_transport(&package.transport.type_)?;

    // Runtime arguments are for the runtime the publisher named; Hangar runs npx
    // and uvx, and `docker run` flags have no meaning in a pod.
    let runtime_args = |runtime: &str| -> Result<Vec<String>, Unresolvable> {
        if package
            .runtime_hint
            .as_deref()
            .is_none_or(|hint| hint == runtime)
        {
            arguments(&package.runtime_arguments, "runtime")
        } else {
            Ok(Vec::new())
        }
    };
    let pinned = |separator: &str| match &package.version {
        Some(version) => format!("{}{separator}{version}", package.identifier),
        None => package.identifier.clone(),
    };
    let (entry_image, entry_tag, entry_command, what) = match kind.as_str() {
        "oci" => {
            let (image, tag) =
                split_oci_identifier(&package.identifier, package.version.as_deref());
            (image, tag, Vec::new(), "OCI image".to_string())
        }
        "npm" => {
            let mut command = vec!["npx".to_string(), "-y".to_string()];
            command.extend(runtime_args("npx")?);
            command.push(pinned("@"));
            let what = format!("npm package {} run with npx", pinned("@"));
            (NODE_IMAGE.0.into(), NODE_IMAGE.1.into(), command, what)
        }
        _ => {
            let mut command = vec!["uvx".to_string()];
            command.extend(runtime_args("uvx")?);
            command.push(pinned("=="));
            let what = format!("PyPI package {} run with uvx", pinned("=="));
            (UV_IMAGE.0.into(), UV_IMAGE.1.into(), command, what)
        }
    };

    let mut out = spec.clone();
    if spec.image.is_none() {
        out.image = Some(entry_image);
        out.tag = Some(spec.tag.clone().unwrap_or(entry_tag));
    }
    if spec.command.is_empty() {
        out.command = entry_command;
    }
    out.args = args;
    out.env = env;
    if spec.transport == DEFAULTS.transport {
        out.transport = transport;
    }
    if out.transport == Transport::Stdio && out.command.is_empty() {
        return Err(Unresolvable::CommandRequired {
            image: out.image_reference().unwrap_or_default(),
        });
    }
    // An HTTP package says where it listens: take port and path from its URL.
    if let Some(template) = package
        .transport
        .url
        .as_deref()
        .filter(|_| transport != Transport::Stdio)
    {
        let url = substitute(template, &package_variables(package, &out));
        let parsed = url::Url::parse(&url).map_err(|error| {
            Unresolvable::InvalidEntry(format!(
                "its transport URL {template:?} gives {url:?}, which is not a URL: {error}"
            ))
        })?;
        if let Some(port) = parsed.port()
            && spec.port == DEFAULTS.port
        {
            out.port = i32::from(port);
        }
        if spec.path == DEFAULTS.path && parsed.path() != "/" {
            out.path = parsed.path().to_string();
        }
    }
    Ok(Resolved {
        summary: format!("{what} in {}", out.image_reference().unwrap_or_default()),
        spec: out,
    })
}

fn remote(entry: &ServerDetail, spec: &MCPServerSpec) -> Result<Resolved, Unresolvable> {
    if spec.transport == Transport::Stdio {
        return Err(Unresolvable::StdioRemote);
    }
    // Remotes of the spec's transport first (Streamable HTTP unless it says SSE).
    let chosen = entry
        .remotes
        .iter()
        .find(|r| r.type_ == spec.transport.as_str())
        .or_else(|| entry.remotes.first());
    let mut out = spec.clone();
    out.mode = ServerMode::Remote;
    let Some(chosen) = chosen else {
        return match &spec.endpoint {
            Some(endpoint) => Ok(Resolved {
                summary: format!("the endpoint in spec.endpoint, {endpoint}"),
                spec: out,
            }),
            None => Err(Unresolvable::NoRemote),
        };
    };
    if spec.transport == DEFAULTS.transport {
        out.transport = remote_transport(&chosen.type_)?;
    }
    if spec.endpoint.is_none() {
        let mut values = BTreeMap::new();
        for (name, variable) in &chosen.variables {
            match resolved_input(variable, &format!("the URL {}", chosen.url))? {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None if variable.is_required => {
                    return Err(Unresolvable::MissingVariable {
                        name: name.clone(),
                        context: format!("the URL {}", chosen.url),
                        description: variable.description.clone(),
                        hint: "set spec.endpoint to the complete URL",
                    });
                }
                None => {}
            }
        }
        out.endpoint = Some(substitute(&chosen.url, &values));
    }
    out.headers = headers(&chosen.headers, &spec.headers)?;
    Ok(Resolved {
        summary: format!(
            "remote endpoint {}",
            out.endpoint.as_deref().unwrap_or_default()
        ),
        spec: out,
    })
}

/// The entry's variables with their values, then the spec's own variables.
fn environment(declared: &[KeyValueInput], given: &[EnvVar]) -> Result<Vec<EnvVar>, Unresolvable> {
    let mut env = Vec::new();
    for variable in declared {
        let name = &variable.name;
        let input = &variable.input;
        if let Some(own) = given.iter().find(|e| &e.name == name) {
            let from_secret = own
                .value_from
                .as_ref()
                .is_some_and(|source| source.secret_key_ref.is_some());
            if input.is_secret && !from_secret {
                return Err(Unresolvable::SecretAsLiteral {
                    what: "environment variable",
                    name: name.clone(),
                });
            }
            env.push(own.clone());
            continue;
        }
        match resolved_input(input, &format!("environment variable {name}"))? {
            Some(value) => env.push(EnvVar {
                name: name.clone(),
                value: Some(value),
                ..Default::default()
            }),
            None if input.is_required => {
                return Err(Unresolvable::MissingEnvironmentVariable {
                    name: name.clone(),
                    description: input.description.clone(),
                    secret: input.is_secret,
                });
            }
            None => {}
        }
    }
    env.extend(
        given
            .iter()
            .filter(|e| !declared.iter().any(|d| d.name == e.name))
            .cloned(),
    );
    Ok(env)
}

/// The entry's headers with their values, then the spec's own headers.
fn headers(
    declared: &[KeyValueInput],
    given: &[HttpHeader],
) -> Result<Vec<HttpHeader>, Unresolvable> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut out = Vec::new();
    for header in declared {
        let input = &header.input;
        if let Some(own) = given.iter().find(|h| same(&h.name, &header.name)) {
            if input.is_secret && own.value.is_some() {
                return Err(Unresolvable::SecretAsLiteral {
                    what: "header",
                    name: header.name.clone(),
                });
            }
            out.push(own.clone());
            continue;
        }
        match resolved_input(input, &format!("header {}", header.name))? {
            Some(value) => out.push(HttpHeader {
                name: header.name.clone(),
                value: Some(value),
                value_from: None,
            }),
            None if input.is_required => {
                return Err(Unresolvable::MissingHeader {
                    name: header.name.clone(),
                    description: input.description.clone(),
                    secret: input.is_secret,
                });
            }
            None => {}
        }
    }
    out.extend(
        given
            .iter()
            .filter(|h| !declared.iter().any(|d| same(&d.name, &h.name)))
            .cloned(),
    );
    Ok(out)
}

/// Command-line arguments: positional ones verbatim, named ones as `--flag=value`
/// (or `-f value` for short flags). Arguments without a value are left out
/// unless required.
fn arguments(declared: &[Argument], which: &'static str) -> Result<Vec<String>, Unresolvable> {
    let mut args = Vec::new();
    for argument in declared {
        let label = match argument.type_ {
            ArgumentType::Named => argument.name.clone().ok_or_else(|| {
                Unresolvable::InvalidEntry(format!("a named {which} argument has no name"))
            })?,
            ArgumentType::Positional => argument
                .value_hint
                .clone()
                .unwrap_or_else(|| "(positional)".into()),
        };
        let value = resolved_input(&argument.input, &format!("{which} argument {label}"))?;
        match (argument.type_, value) {
            (ArgumentType::Positional, Some(value)) => args.push(value),
            (ArgumentType::Named, Some(value)) if label.starts_with("--") => {
                args.push(format!("{label}={value}"))
            }
            (ArgumentType::Named, Some(value)) => args.extend([label, value]),
            (_, None) if argument.input.is_required => {
                return Err(Unresolvable::MissingArgument {
                    which,
                    name: label,
                    description: argument.input.description.clone(),
                });
            }
            (_, None) => {}
        }
    }
    Ok(args)
}

/// An input's fixed value (its `{variables}` filled in) or its default.
fn resolved_input(input: &Input, context: &str) -> Result<Option<String>, Unresolvable> {
    let Some(template) = input.value.as_ref() else {
        return Ok(input.default.clone());
    };
    let mut values = BTreeMap::new();
    for (name, variable) in &input.variables {
        match variable.value.as_ref().or(variable.default.as_ref()) {
            Some(value) => {
                values.insert(name.clone(), value.clone());
            }
            None if variable.is_required => {
                return Err(Unresolvable::MissingVariable {
                    name: name.clone(),
                    context: context.to_string(),
                    description: variable.description.clone(),
                    hint: "set the value yourself in spec.env or spec.args",
                });
            }
            None => {}
        }
    }
    Ok(Some(substitute(template, &values)))
}

/// What `{name}` in a package's transport URL can refer to: its environment
/// variables, named arguments (with or without dashes) and positional value hints.
fn package_variables(package: &Package, spec: &MCPServerSpec) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for var in &spec.env {
        if let Some(value) = &var.value {
            values.insert(var.name.clone(), value.clone());
        }
    }
    for argument in &package.package_arguments {
        let Some(value) = argument
            .input
            .value
            .as_ref()
            .or(argument.input.default.as_ref())
        else {
            continue;
        };
        if let Some(name) = &argument.name {
            values.insert(name.clone(), value.clone());
            values.insert(name.trim_start_matches('-').to_string(), value.clone());
        }
        if let Some(hint) = &argument.value_hint {
            values.insert(hint.clone(), value.clone());
        }
    }
    values
}

/// Replaces `{name}` with its value; unknown names stay as written.
fn substitute(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn local_transport(kind: &str) -> Result<Transport, Unresolvable> {
    match kind {
        "stdio" => Ok(Transport::Stdio),
        other => remote_transport(other).map_err(|_| Unresolvable::UnsupportedTransport {
            context: "package".into(),
            transport: other.into(),
        }),
    }
}

fn remote_transport(kind: &str) -> Result<Transport, Unresolvable> {
    match kind {
        "streamable-http" => Ok(Transport::StreamableHttp),
        "sse" => Ok(Transport::Sse),
        other => Err(Unresolvable::UnsupportedTransport {
            context: "remote".into(),
            transport: other.into(),
        }),
    }
}

/// An OCI identifier into image and tag (or digest); one without either takes
/// the package version, else `latest`.
fn split_oci_identifier(identifier: &str, version: Option<&str>) -> (String, String) {
    let (image, tag) = hangar_api::split_image(identifier);
    (
        image.to_string(),
        tag.or(version)
            .unwrap_or(hangar_api::DEFAULT_TAG)
            .to_string(),
    )
}

#[cfg(test)]
mod tests;
