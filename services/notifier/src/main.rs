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
    // The notifier has no API: its metrics (and a liveness check) are on METRICS_ADDR.
    conversations_web::metrics::spawn_separate(None)?;
    shutdown_signal().await?;
    tracing::info!("stopping: finishing the mails in flight");
    notifier.shutdown(std::time::Duration::from_secs(20)).await;
    Ok(())
}

/// SIGINT or SIGTERM (what docker and Kubernetes send).
async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
