//! The notifier as its own process: consumes its RabbitMQ queue, sends over SMTP, and
//! publishes its own `notification_*` events from its own outbox.

use std::sync::Arc;

use conversations_bus::{AmqpConfig, AmqpSink, Sink};
use notifier::{EventSource, Notifier, NotifierConfig, NotifierStore};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = conversations_telemetry::init("notifier", "info");
    let config = NotifierConfig::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
    let Some(amqp_url) = config.amqp_url.clone() else {
        anyhow::bail!(
            "AMQP_URL is required for the standalone notifier (the all-in-one binary runs it without)"
        );
    };
    let url = config.database_url.clone();
    let store = tokio::task::spawn_blocking(move || NotifierStore::open(&url, 8)).await??;
    let sink = Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
        url: amqp_url.expose().to_owned(),
        exchange: config.exchange.clone(),
        connect_timeout: std::time::Duration::from_secs(10),
    })));
    let notifier = Notifier::start(config, store, EventSource::Amqp, sink)?;
    tracing::info!("notifier started");
    if let Some(addr) = std::env::var("METRICS_ADDR").ok().filter(|v| !v.is_empty()) {
        tokio::spawn(metrics_server(&addr)?);
        tracing::info!(%addr, "metrics served at /metrics");
    }
    shutdown_signal().await?;
    tracing::info!("stopping: finishing the mails in flight");
    notifier.shutdown(std::time::Duration::from_secs(20)).await;
    Ok(())
}

/// `METRICS_ADDR`: the notifier has no API, so its metrics (and a liveness check) get a
/// small HTTP server of their own.
fn metrics_server(addr: &str) -> anyhow::Result<actix_web::dev::Server> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| anyhow::anyhow!("METRICS_ADDR `{addr}`: {e}"))?;
    Ok(HttpServer::new(|| {
        App::new()
            .route(
                conversations_web::metrics::PATH,
                web::get().to(conversations_web::metrics::serve),
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
    .bind(addr)
    .map_err(|e| anyhow::anyhow!("cannot listen on METRICS_ADDR {addr}: {e}"))?
    .run())
}

/// SIGINT or SIGTERM (what docker and Kubernetes send).
async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
