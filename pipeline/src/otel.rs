//! OpenTelemetry trace export: when an OTLP endpoint is configured, the `tracing` spans of every
//! command (a stage's pass over its inputs, a checkpoint, an adapter's dispatch of an action step)
//! are exported as OTLP/HTTP protobuf to a collector, beside the log lines on stderr.
//!
//! Configured by `--otlp-endpoint URL` (`TRUSTLOOP_OTLP_ENDPOINT`) or the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variables; the other
//! standard variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`) apply as the OpenTelemetry specification says.
//! Plain `http://` only: run a collector beside the process (agent or sidecar) to forward with TLS.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The instrumentation scope of trustloop's spans, and the service name unless
/// `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE: &str = "trustloop";

/// Where spans go, once resolved from the command line and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A base URL given to trustloop (`--otlp-endpoint`): spans are posted to `{base}/v1/traces`.
    Base(String),
    /// The standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables are set: the exporter reads them.
    FromEnvironment,
}

impl Endpoint {
    /// The endpoint to export to, if any: `flag` (the `--otlp-endpoint` value) first, then the
    /// standard variables; none when `OTEL_SDK_DISABLED=true`.
    pub fn resolve(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Option<Endpoint> {
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return None;
        }
        if let Some(base) = flag.map(str::trim).filter(|s| !s.is_empty()) {
            return Some(Endpoint::Base(base.trim_end_matches('/').to_string()));
        }
        let set = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
        (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .then_some(Endpoint::FromEnvironment)
    }
}

/// Why trace export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces over OTLP: {0}")]
pub struct ExportError(#[from] opentelemetry_otlp::ExporterBuildError);

/// The running exporter: spans are batched and posted from a background thread. Dropping it
/// flushes what is buffered and stops the thread (give it a moment at exit).
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Starts exporting to `endpoint`.
    pub fn start(endpoint: &Endpoint) -> Result<Exporter, ExportError> {
        let mut builder = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
        if let Endpoint::Base(base) = endpoint {
            builder = builder.with_endpoint(format!("{base}/v1/traces"));
        }
        let exporter = builder.build()?;
        // The default detectors read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
        let mut resource = Resource::builder();
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name(SERVICE);
        }
        let resource =
            resource.with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        let provider =
            SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build();
        Ok(Exporter { provider })
    }

    /// A `tracing` layer that turns spans into OpenTelemetry spans of this exporter.
    pub fn layer<S>(&self) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer(SERVICE))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // Flushes the batch; a collector that is down costs at most the export timeout.
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: exporting the last traces failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_flag_wins_then_the_standard_variables() {
        let base = Some(Endpoint::Base("http://127.0.0.1:4318".into()));
        assert_eq!(Endpoint::resolve(Some("http://127.0.0.1:4318/"), env(&[])), base);
        assert_eq!(
            Endpoint::resolve(Some("http://127.0.0.1:4318"), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x")])),
            base
        );
        assert_eq!(
            Endpoint::resolve(None, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x")])),
            Some(Endpoint::FromEnvironment)
        );
        assert_eq!(
            Endpoint::resolve(None, env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://x/v1/traces")])),
            Some(Endpoint::FromEnvironment)
        );
    }

    #[test]
    fn nothing_configured_or_disabled_exports_nothing() {
        assert_eq!(Endpoint::resolve(None, env(&[])), None);
        assert_eq!(Endpoint::resolve(Some("  "), env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])), None);
        assert_eq!(Endpoint::resolve(Some("http://127.0.0.1:4318"), env(&[("OTEL_SDK_DISABLED", "TRUE")])), None);
    }
}
