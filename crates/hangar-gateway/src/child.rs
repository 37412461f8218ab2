//! Commands for the processes the gateway starts: stdio servers, and the
//! local stand-ins `hangar up` runs for container servers. A child sees the
//! variables its manifest declares and a few basics a program needs to run,
//! never the gateway's own environment, which holds every `HANGAR_SECRET_*`
//! value (other callers' tokens among them).

use hangar_config::{Environment, NameValue};

/// Taken from the gateway's environment when set: where programs are, whose
/// home and locale they run in, where temporary files and CA certificates
/// are. Proxies and anything else must be declared in the server's `env`.
pub const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR",
];

/// `program` with `args`, an environment of [`INHERITED`] plus `env`
/// (declared values win, `valueFromEnv` read from `environment`), killed
/// when dropped.
pub fn command(
    program: &str,
    args: &[String],
    env: &[NameValue],
    environment: &Environment,
) -> Result<tokio::process::Command, String> {
    let mut command = tokio::process::Command::new(program);
    command.args(args).kill_on_drop(true).env_clear();
    for name in INHERITED {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    for var in env {
        command.env(&var.name, var.resolve(environment)?);
    }
    Ok(command)
}
