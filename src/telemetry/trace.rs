//! Traces, with the `otel` cargo feature: a span per event (receiver),
//! job and batch (worker) and provider call, exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, the other `OTEL_*` variables applying as the OpenTelemetry
//! specification says. The trace context travels in the jobs' AMQP message
//! headers (W3C `traceparent`, `tracestate`), so one trace spans receiver →
//! broker → worker.
//!
//! Without the feature every item here is an empty shell the compiler
//! removes: [`trace_span!`] makes `Span::none()`, [`Parent`] holds nothing,
//! and no header is written or read. Spans never reach the log lines,
//! which read the same with and without the feature.

use tracing::Span;

/// An info-level span with the `otel` feature; `Span::none()` without.
#[cfg(feature = "otel")]
macro_rules! trace_span {
    ($($args:tt)*) => { ::tracing::info_span!($($args)*) };
}
/// An info-level span with the `otel` feature; `Span::none()` without.
#[cfg(not(feature = "otel"))]
macro_rules! trace_span {
    ($($args:tt)*) => {
        ::tracing::Span::none()
    };
}
pub(crate) use trace_span;

/// The trace a job came with (from its message's headers), parent of the
/// worker's span for the job. Empty without the `otel` feature, and for a
/// job without trace headers (the embedded store keeps none).
#[derive(Debug, Clone, Default)]
pub struct Parent {
    #[cfg(feature = "otel")]
    context: Option<opentelemetry::Context>,
}

/// The W3C trace headers of the current span (none without the feature,
/// or outside a sampled span), to send with a message.
pub fn current_headers() -> Vec<(String, String)> {
    #[cfg(feature = "otel")]
    {
        otel::inject(&Span::current())
    }
    #[cfg(not(feature = "otel"))]
    {
        Vec::new()
    }
}

/// The trace a message's headers carry (`name`, `value` pairs).
#[cfg_attr(not(feature = "otel"), allow(unused_variables))]
pub fn parent_from<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Parent {
    #[cfg(feature = "otel")]
    {
        otel::extract(headers)
    }
    #[cfg(not(feature = "otel"))]
    {
        Parent::default()
    }
}

/// Makes `span` a child of the trace `parent` came with, if any.
#[cfg_attr(not(feature = "otel"), allow(unused_variables))]
pub fn follow(span: &Span, parent: &Parent) {
    #[cfg(feature = "otel")]
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        if let Some(context) = &parent.context {
            let _ = span.set_parent(context.clone());
        }
    }
}

/// Links `span` to `other` (a batch to the jobs it merged).
#[cfg_attr(not(feature = "otel"), allow(unused_variables))]
pub fn link(span: &Span, other: &Span) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TraceContextExt as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let context = other.context().span().span_context().clone();
        if context.is_valid() {
            span.add_link(context);
        }
    }
}

#[cfg(feature = "otel")]
pub(super) use otel::from_env;
#[cfg(feature = "otel")]
pub use otel::{exporting, layer, otlp_provider, shutdown};

/// Ends the export (sending what is buffered); nothing without the feature.
#[cfg(not(feature = "otel"))]
pub fn shutdown() {}

#[cfg(feature = "otel")]
mod otel {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use std::time::Duration;

    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use opentelemetry_otlp::{SpanExporter, WithHttpConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
    use tracing::Span;
    use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};

    use super::Parent;

    /// The provider exporting this process's spans, once set up.
    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    /// How long one export may take.
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

    pub(super) fn inject(span: &Span) -> Vec<(String, String)> {
        let context = span.context();
        if !context.span().span_context().is_valid() {
            return Vec::new();
        }
        let mut headers = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut headers);
        headers.into_iter().collect()
    }

    pub(super) fn extract<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Parent {
        let map: HashMap<String, String> = headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
            .collect();
        let context = TraceContextPropagator::new().extract(&map);
        let remote = context.span().span_context().is_valid();
        Parent {
            context: remote.then_some(context),
        }
    }

    /// Whether spans are exported.
    pub fn exporting() -> bool {
        PROVIDER.get().is_some()
    }

    /// An OTLP/HTTP (protobuf) exporter's provider: to `endpoint` (the
    /// full URL, `…/v1/traces`), or where the `OTEL_EXPORTER_OTLP_*`
    /// variables say when `None`. Spans are sent in batches from a thread
    /// of the SDK's own.
    pub fn otlp_provider(endpoint: Option<&str>) -> Result<SdkTracerProvider, String> {
        use opentelemetry_otlp::WithExportConfig as _;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up the OTLP client: {e}"))?;
        let mut builder = SpanExporter::builder().with_http().with_http_client(client);
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let exporter = builder
            .build()
            .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
        let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "purgehook".into());
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(name).build())
            .build())
    }

    /// The tracing layer sending spans to `provider`.
    pub fn layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("purgehook"))
    }

    /// The layer exporting to where the environment says, if it says:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub(in crate::telemetry) fn from_env<S>() -> Option<OpenTelemetryLayer<S, SdkTracer>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return None;
        }
        match otlp_provider(None) {
            Ok(provider) => Some(layer(PROVIDER.get_or_init(|| provider))),
            Err(error) => {
                eprintln!("traces are not exported: {error}");
                None
            }
        }
    }

    /// Sends the spans still buffered and stops the export.
    pub fn shutdown() {
        if let Some(provider) = PROVIDER.get()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("traces: the last spans may not have been exported: {error}");
        }
    }
}
