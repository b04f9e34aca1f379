//! The notifier: consumes `message_posted`, records one delivery per (message, recipient)
//! and sends each as its own masked, threaded email.
//!
//! Exactly-once comes from the delivery table (unique per message and recipient): an
//! event delivered twice records nothing new. Sending is decoupled from consuming: the
//! consumer only records (and acks), the sender works through due deliveries with bounded
//! concurrency over a pool of SMTP connections, and a transient failure just makes that one
//! delivery due again later.

pub mod compose;
pub mod config;
pub mod consumer;
pub mod headers;
pub mod mailer;
pub mod sender;

use std::sync::Arc;

use conversations_bus::{PublishedEvent, SinkHealth};
use conversations_store::Store;
use tokio::sync::Notify;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use config::NotifierConfig;
pub use mailer::Mailer;

/// Where events come from.
#[derive(Debug)]
pub enum EventSource {
    /// A durable RabbitMQ queue (production).
    Amqp,
    /// The all-in-one process's bus, subscribed before its relay started.
    InProcess(broadcast::Receiver<Arc<PublishedEvent>>),
}

/// The running notifier's tasks; dropping it does not stop them, [`Notifier::stop`] does.
pub struct Notifier {
    tasks: Vec<JoinHandle<()>>,
    /// Whether the consumer is connected to its broker.
    pub health: Arc<SinkHealth>,
}

impl Notifier {
    /// Starts the consumer and the sender on the current runtime.
    pub fn start(
        config: NotifierConfig,
        store: Store,
        source: EventSource,
        relay_wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let mailer = Arc::new(Mailer::from_config(&config)?);
        let send_wake = Arc::new(Notify::new());
        let health = Arc::new(SinkHealth::default());
        let consumer = consumer::Consumer {
            config: config.clone(),
            store: store.clone(),
            send_wake: send_wake.clone(),
            health: health.clone(),
        };
        let consume = match source {
            EventSource::Amqp => tokio::spawn(consumer.run_amqp()),
            EventSource::InProcess(events) => tokio::spawn(consumer.run_in_process(events)),
        };
        let sender = sender::Sender {
            config,
            store,
            mailer,
            wake: send_wake,
            relay_wake,
        };
        let send = tokio::spawn(sender.run());
        Ok(Self {
            tasks: vec![consume, send],
            health,
        })
    }

    /// Stops consuming and sending; unfinished work is picked up at the next start.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
