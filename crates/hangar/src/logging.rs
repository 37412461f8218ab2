//! Logs to stderr, as JSON lines for collectors or as text for people, and
//! exports traces over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Keeps trace export running; dropping it sends the spans not yet exported.
#[must_use = "dropping it stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("hangar: could not send the last traces: {error}");
        }
    }
}

/// Starts logging, and tracing when configured: the one setup of every
/// subcommand. `HANGAR_LOG` (e.g. `debug`, `hangar_operator=debug`) sets the
/// filter for both, else `default_filter`. `service` names the traces' source
/// unless `OTEL_SERVICE_NAME` does.
pub fn init(format: Format, service: &str, default_filter: &str) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_env("HANGAR_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let provider = otlp_provider(service)?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colours(std::io::stderr().is_terminal()));
    let fmt = match format {
        Format::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(crate::span_fields::JsonSpanFields)
            .boxed(),
        Format::Text => fmt.boxed(),
    };
    let traces = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("hangar")));
    // Only fails when a subscriber is already set (tests that call it twice).
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(traces)
        .try_init();
    Ok(Telemetry { provider })
}

/// Colours only on a terminal, and never when `NO_COLOR` is set (no-color.org).
fn colours(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// The OTLP/HTTP trace pipeline, when an endpoint is configured. The exporter
/// reads the standard variables itself (`OTEL_EXPORTER_OTLP_ENDPOINT`,
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`), and the batch processor `OTEL_BSP_*`.
fn otlp_provider(service: &str) -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        return Ok(None);
    }
    let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| "http/protobuf".into());
    if protocol != "http/protobuf" {
        anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: hangar exports traces as OTLP over \
             HTTP (http/protobuf). Point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (usually 4318)"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .context("cannot set up the OTLP trace exporter")?;
    let mut resource = Resource::builder();
    if set("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_string());
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}
