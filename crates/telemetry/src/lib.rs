//! Logs and traces, set up alike in every service.
//!
//! - **Logs**: `RUST_LOG` filters (the caller gives the default, usually `info`);
//!   `LOG_FORMAT=json` writes one JSON object per line carrying the `trace_id` and
//!   `span_id` of the span it was written in, anything else human-readable text. Always
//!   to stderr, so stdout stays free for what admin commands print.
//! - **Traces**: OpenTelemetry, exported over OTLP HTTP/protobuf when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and
//!   not at all otherwise (no layer, no cost). The standard variables apply:
//!   `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`,
//!   `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_RESOURCE_ATTRIBUTES`.
//! - **Metrics** ([`metrics`]): the process-wide Prometheus registry every service's
//!   metrics are defined in.
//! - **Context** ([`context`]): the W3C `traceparent` of the current span, stored with an
//!   outbox row, sent as an AMQP header, and continued by every consumer, so one trace
//!   shows request → commit → publish → consume → SMTP send.

pub mod context;
mod json;
pub mod metrics;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use context::{continue_trace, traceparent};

/// Keeps the trace exporter alive; dropping it (at the end of `main`) sends the spans
/// still buffered, so the last requests before a shutdown are not missing from the traces.
#[must_use = "dropping the guard stops the trace export"]
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// True when spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("traces could not all be exported at shutdown: {error}");
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Installs logging (and tracing when configured) for the process. `service` names the
/// service in traces unless `OTEL_SERVICE_NAME` says otherwise. A second call (tests start
/// several servers in one process) leaves the first set-up in place.
pub fn init(service: &'static str, default_filter: &str) -> Telemetry {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = var("LOG_FORMAT").is_some_and(|f| f.trim().eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().event_format(json::WithTraceIds::new()).boxed()
    } else {
        fmt.boxed()
    };
    let provider = tracer_provider(service);
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_error_records_to_exceptions(true)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok();
    if !installed {
        // Already set up by an earlier call: this provider would export nothing.
        return Telemetry::default();
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        tracing::info!(service, "exporting traces over OTLP");
    }
    Telemetry { provider }
}

/// The OTLP pipeline when an endpoint is configured; None (tracing off) otherwise, or when
/// the exporter cannot be built (logged, never fatal: a service runs without traces).
fn tracer_provider(service: &'static str) -> Option<SdkTracerProvider> {
    var("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))?;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("traces are off: the OTLP exporter could not be built: {error}");
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if var("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    )
}
