//! The notifier as its own process: consumes RabbitMQ, sends over SMTP, and relays its
//! own `notification_failed` events.

use std::sync::Arc;

use conversations_bus::{AmqpConfig, AmqpSink, Relay, RelayConfig, Sink, SinkHealth};
use notifier::{EventSource, Notifier, NotifierConfig};
use tokio::sync::Notify;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = NotifierConfig::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))?;
    let Some(amqp_url) = config.amqp_url.clone() else {
        anyhow::bail!(
            "AMQP_URL is required for the standalone notifier (the all-in-one binary runs it without)"
        );
    };
    let url = config.database_url.clone();
    let store =
        tokio::task::spawn_blocking(move || conversations_store::Store::open(&url, 8)).await??;
    let relay_wake = Arc::new(Notify::new());
    let relay = Relay::new(
        store.clone(),
        Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
            url: amqp_url,
            exchange: config.exchange.clone(),
            connect_timeout: std::time::Duration::from_secs(10),
        }))),
        relay_wake.clone(),
        Arc::new(SinkHealth::default()),
        RelayConfig::default(),
    );
    let relay = tokio::spawn(relay.run());
    let notifier = Notifier::start(config, store, EventSource::Amqp, relay_wake)?;
    tracing::info!("notifier started");
    tokio::signal::ctrl_c().await?;
    notifier.stop();
    relay.abort();
    Ok(())
}
