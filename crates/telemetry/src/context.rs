//! The W3C trace context between processes: captured from the current span where work is
//! written down (an outbox row, a delivery, an HTTP call), and continued where it is picked
//! up (a relay publishing, a consumer, the SMTP sender). With tracing off there is no
//! context: [`traceparent`] is None and [`continue_trace`] does nothing.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and AMQP message header) that carries the context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, if it is traced.
pub fn traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The `traceparent` of `span`, if it is traced.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_ref = cx.span();
    let sc = span_ref.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// Makes `span` a child of the remote span `traceparent` names (one received in a header
/// or read from a row). A missing or malformed value leaves the span a new trace's root.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent.filter(|v| !v.is_empty()) else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        // Fails only when the span was already started by the OpenTelemetry layer, which
        // callers do not do (they set the parent first).
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continued_span_joins_the_remote_trace_and_hands_it_on() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            continue_trace(
                &span,
                Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            );
            let handed_on = span.in_scope(traceparent).expect("a traced span");
            let parts: Vec<&str> = handed_on.split('-').collect();
            assert_eq!(parts[0], "00");
            assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c", "same trace");
            assert_ne!(parts[2], "b7ad6b7169203331", "its own span, the child");
            assert_eq!(parts[3], "01", "still sampled");

            let fresh = tracing::info_span!("unrelated");
            continue_trace(
                &fresh,
                Some("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
            );
            let own = traceparent_of(&fresh).expect("a new trace");
            assert!(!own.contains("0af7651916cd43dd8448eb211c80319c"));
        });
    }

    #[test]
    fn without_tracing_there_is_no_context_and_continuing_is_harmless() {
        let span = tracing::info_span!("work");
        continue_trace(
            &span,
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        continue_trace(&span, Some("garbage"));
        continue_trace(&span, None);
        assert_eq!(traceparent_of(&span), None);
    }
}
