//! The span of one event being processed by a consumer, continuing the trace the event was
//! written in (OpenTelemetry messaging conventions). Events without a trace context (tracing
//! off where they were written) get no span at all, so an untraced system pays nothing.

use lapin::BasicProperties;
use lapin::types::AMQPValue;

/// The `traceparent` an AMQP message carries, if any.
pub fn traceparent_header(properties: &BasicProperties) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers
        .inner()
        .get(conversations_telemetry::context::TRACEPARENT)?
    {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}

/// A consumer span for one event from `source` (a queue, or an outbox feed in the
/// all-in-one), child of `traceparent`; `Span::none()` without one.
pub fn process_span(
    source: &str,
    event_type: &str,
    event_id: &str,
    traceparent: Option<&str>,
) -> tracing::Span {
    let Some(parent) = traceparent else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        "process",
        otel.name = %format!("process {source}"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %source,
        messaging.rabbitmq.destination.routing_key = %event_type,
        messaging.message.id = %event_id,
    );
    conversations_telemetry::continue_trace(&span, Some(parent));
    span
}
