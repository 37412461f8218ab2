//! Logs to stderr, as JSON lines for collectors or as text for people.

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Starts logging; `HANGAR_LOG` (e.g. `debug`, `hangar_operator=debug`) sets the filter.
pub fn init(format: Format) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("HANGAR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        Format::Text => builder.try_init(),
    };
}
