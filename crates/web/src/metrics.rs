//! Prometheus metrics, in the text format at `/metrics` on every HTTP service. One
//! process-wide registry: the all-in-one serves its components' metrics together, and a
//! metric is defined once however many servers a process (or a test) starts. Each metric is
//! made on first use; should that ever fail it is simply not exported, never a panic.
//!
//! What this module defines is what every service shares: the HTTP request histogram (and
//! the request log line written beside it). Services define their own metrics with
//! [`counter`], [`gauge`] and [`histogram`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::Server;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, Error, HttpResponse, HttpServer, web};
use prometheus::{Encoder, HistogramVec};

/// Where every service serves its metrics (never routed by the gateway).
pub const PATH: &str = "/metrics";

pub use conversations_telemetry::metrics::{
    DURATION_BUCKETS, counter, float_gauge, gauge, histogram,
};

/// `http_server_request_duration_seconds{http_request_method, http_route,
/// http_response_status_code}`: the OpenTelemetry HTTP server metric.
fn http_duration() -> Option<&'static HistogramVec> {
    static SLOT: OnceLock<Option<HistogramVec>> = OnceLock::new();
    histogram(
        &SLOT,
        "http_server_request_duration_seconds",
        "Duration of HTTP requests, by method, route pattern and status.",
        &[
            "http_request_method",
            "http_route",
            "http_response_status_code",
        ],
        DURATION_BUCKETS,
    )
}

/// Middleware (`from_fn(conversations_web::metrics::observe)`): times every request into
/// the HTTP histogram and writes the request log line. Both name the route's pattern, not
/// the path: paths carry capabilities (unsubscribe tokens) and ids that have no place in
/// logs or metric labels.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.call(req).await?.map_into_boxed_body();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(no route)".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(histogram) = http_duration() {
        histogram
            .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
            .observe(elapsed);
    }
    tracing::info!(
        http.method = %method,
        http.route = %route,
        http.status = status,
        elapsed_ms = elapsed * 1000.0,
        "request"
    );
    Ok(response)
}

/// Every metric of this process in the Prometheus text format.
pub fn render() -> HttpResponse {
    let mut body = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode(&prometheus::default_registry().gather(), &mut body) {
        Ok(()) => HttpResponse::Ok()
            .content_type(encoder.format_type())
            .body(body),
        Err(error) => {
            tracing::error!(%error, "metrics could not be encoded");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// `GET /metrics` as a handler.
pub async fn serve() -> HttpResponse {
    render()
}

/// Brings gauges read at scrape time up to date (conversation-api's outbox backlog) before
/// the metrics are rendered.
pub type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// `METRICS_ADDR`, read once: where this process serves its metrics instead of its HTTP
/// port (a port of its own, for a scrape network or a NetworkPolicy). Unset or empty:
/// `None`. Malformed: an error naming it.
pub fn separate_addr() -> Result<Option<SocketAddr>, String> {
    static ADDR: OnceLock<Result<Option<SocketAddr>, String>> = OnceLock::new();
    ADDR.get_or_init(|| {
        match std::env::var("METRICS_ADDR")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            None => Ok(None),
            Some(raw) => raw
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| format!("METRICS_ADDR `{raw}`: {e}")),
        }
    })
    .clone()
}

/// Whether `/metrics` belongs on the service's HTTP port (no `METRICS_ADDR`).
pub fn on_http_port() -> bool {
    matches!(separate_addr(), Ok(None))
}

/// The metrics server on `METRICS_ADDR`: `GET /metrics` (after `refresh`) and
/// `GET /livez`, nothing else. It stops with the process (signals are the main server's).
pub fn server(addr: SocketAddr, refresh: Option<Refresh>) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let refresh = refresh.clone();
        App::new()
            .route(
                PATH,
                web::get().to(move || {
                    let refresh = refresh.clone();
                    async move {
                        if let Some(refresh) = refresh {
                            refresh().await;
                        }
                        render()
                    }
                }),
            )
            .route(
                "/livez",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(r#"{"status":"ok"}"#)
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?
    .run())
}

/// Starts the metrics server when `METRICS_ADDR` is set (logged); a malformed value or an
/// address that cannot be bound is an error for the caller to refuse to start with.
pub fn spawn_separate(refresh: Option<Refresh>) -> std::io::Result<()> {
    let addr = separate_addr().map_err(std::io::Error::other)?;
    if let Some(addr) = addr {
        let server = server(addr, refresh).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on METRICS_ADDR {addr}: {e}"),
            )
        })?;
        tokio::spawn(server);
        tracing::info!(%addr, "metrics served at /metrics on METRICS_ADDR");
    }
    Ok(())
}
