//! One span per HTTP request (`tracing-actix-web`), named and attributed after the
//! OpenTelemetry HTTP server conventions, continuing the caller's trace when the request
//! carries a `traceparent`. Every log line written while serving the request, and every
//! span below it (the database transaction, the outbox row's trace context), belongs to it.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The middleware every service wraps its app in: `.wrap(conversations_web::request_tracing())`.
pub fn request_tracing() -> tracing_actix_web::TracingLogger<RequestSpan> {
    tracing_actix_web::TracingLogger::new()
}

/// Builds the request span: `{method} {route}` (the route's pattern, never the path, which
/// may carry capabilities such as unsubscribe tokens), kind server.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let method = request.method().as_str();
        let route = request.match_pattern();
        let name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %name,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            http.route = route.as_deref().unwrap_or(""),
            http.response.status_code = tracing::field::Empty,
            url.scheme = %request.connection_info().scheme(),
            network.protocol.version = ?request.version(),
            user_agent.original = request
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            error.type = tracing::field::Empty,
        );
        let parent = request
            .headers()
            .get(conversations_telemetry::context::TRACEPARENT)
            .and_then(|v| v.to_str().ok());
        conversations_telemetry::continue_trace(&span, parent);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", status.as_str());
        }
    }
}
