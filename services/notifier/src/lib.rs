//! The notifier: consumes `message_posted`, records one delivery per (message, recipient)
//! and sends each as its own masked, threaded email.
//!
//! Exactly-once comes from the delivery table (unique per message and recipient) in the
//! notifier's own database: an event delivered twice records nothing new. Sending is decoupled from consuming: the
//! consumer only records (and acks), the sender works through due deliveries with bounded
//! concurrency over a pool of SMTP connections, and a transient failure just makes that one
//! delivery due again later. What happens to each mail is published as the notifier's own
//! events (`notification_*`, [`events`]) through its own outbox; it never touches another
//! service's tables.

pub mod batch;
pub mod compose;
pub mod config;
pub mod consumer;
pub mod events;
pub mod headers;
pub mod mailer;
pub mod metrics;
pub mod notice;
pub mod sender;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use conversations_bus::retention::{FloorSlot, PruneFloor};
use conversations_bus::{Relay, RelayConfig, Sink, SinkHealth};
use conversations_db::Outbox;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::NotifierConfig;
pub use mailer::Mailer;
pub use store::NotifierStore;

/// Where events come from.
#[derive(Debug)]
pub enum EventSource {
    /// The notifier's durable RabbitMQ queue (split deployment).
    Amqp,
    /// conversation-api's outbox, read from the position recorded in the notifier's own
    /// database, woken by the signal its relay announces new events on (all-in-one).
    Outbox {
        /// conversation-api's outbox.
        outbox: Outbox,
        /// Its relay's announcements.
        head: watch::Receiver<i64>,
    },
}

/// The running notifier's tasks; dropping it does not stop them, [`Notifier::stop`] does.
pub struct Notifier {
    tasks: Vec<JoinHandle<()>>,
    /// The AMQP consumer, stopped gracefully (see [`Notifier::shutdown`]).
    consume: Option<JoinHandle<()>>,
    /// The sender, stopped gracefully.
    send: Option<JoinHandle<()>>,
    stopping: tokio::sync::watch::Sender<bool>,
    /// Whether the consumer is connected to its broker.
    pub health: Arc<SinkHealth>,
    handled: Arc<AtomicU64>,
    prune_floor: FloorSlot,
    config: Arc<NotifierConfig>,
    store: NotifierStore,
    send_wake: Arc<Notify>,
}

impl Notifier {
    /// Starts the consumer, the sender and the relay of the notifier's own events (to
    /// `sink`: RabbitMQ, or the all-in-one's in-process announcements) on the current
    /// runtime.
    pub fn start(
        config: NotifierConfig,
        store: NotifierStore,
        source: EventSource,
        sink: Sink,
    ) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        metrics::init();
        let mailer = Arc::new(Mailer::from_config(&config)?);
        let send_wake = Arc::new(Notify::new());
        let relay_wake = Arc::new(Notify::new());
        let health = Arc::new(SinkHealth::default());
        let handled = Arc::new(AtomicU64::new(0));
        let consumer = consumer::Consumer {
            config: config.clone(),
            store: store.clone(),
            send_wake: send_wake.clone(),
            health: health.clone(),
            handled: handled.clone(),
        };
        let (stopping, stopping_rx) = tokio::sync::watch::channel(false);
        let (consume, tasks) = match source {
            EventSource::Amqp => (
                Some(tokio::spawn(consumer.run_amqp(stopping_rx.clone()))),
                Vec::new(),
            ),
            // Stopped by aborting: the position read moves in the same transaction as
            // the deliveries, so an interrupted event is simply read again.
            EventSource::Outbox { outbox, head } => {
                (None, vec![tokio::spawn(consumer.follow(outbox, head))])
            }
        };
        let relay = Relay::new(
            store.outbox(),
            sink,
            relay_wake.clone(),
            Arc::new(SinkHealth::default()),
            RelayConfig::default(),
        );
        let relay = tokio::spawn(relay.run());
        let prune_floor = FloorSlot::default();
        let (outbox, retention) = (store.outbox(), config.feed_retention);
        let pruner = tokio::spawn(conversations_bus::retention::every(
            config.prune_interval,
            prune_floor.clone(),
            "notifier outbox",
            Arc::new(move |floor| {
                let before = conversations_bus::retention::ago(retention);
                outbox
                    .prune(before, floor.unwrap_or(i64::MAX))
                    .map_err(|e| e.to_string())
            }),
        ));
        let sender = sender::Sender {
            config: config.clone(),
            store: store.clone(),
            mailer,
            wake: send_wake.clone(),
            relay_wake,
            stopping: stopping_rx,
        };
        let send = tokio::spawn(sender.run());
        Ok(Self {
            tasks: tasks.into_iter().chain([relay, pruner]).collect(),
            consume,
            send: Some(send),
            stopping,
            health,
            handled,
            prune_floor,
            config,
            store,
            send_wake,
        })
    }

    /// All-in-one: also reads inbound-mail's outbox (`outbox`, announced on `head`) for
    /// its `address_suppressed` / `address_unsuppressed` and `rejection_notice` events.
    /// With RabbitMQ they arrive on the notifier's queue instead.
    pub fn follow_suppressions(&mut self, outbox: Outbox, head: watch::Receiver<i64>) {
        let consumer = consumer::Consumer {
            config: self.config.clone(),
            store: self.store.clone(),
            send_wake: self.send_wake.clone(),
            health: Arc::new(SinkHealth::default()),
            handled: self.handled.clone(),
        };
        self.tasks
            .push(tokio::spawn(consumer.follow_suppressions(outbox, head)));
    }

    /// Keeps the pruner from deleting the notifier's events above what `floor` returns:
    /// an in-process consumer (metadata-query in the all-in-one) still has to read them.
    pub fn limit_pruning(&self, floor: PruneFloor) {
        self.prune_floor.set(floor);
    }

    /// Events consumed (acknowledged, or recorded from the outbox feed) since the start.
    pub fn events_handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }

    /// Stops consuming, sending and relaying at once; unfinished work is picked up at the
    /// next start (a mail sent but not yet recorded is sent again then).
    pub fn stop(&self) {
        for task in self.tasks.iter().chain(&self.consume).chain(&self.send) {
            task.abort();
        }
    }

    /// Stops gracefully (SIGTERM): the consumer takes no new event and finishes
    /// (records and acknowledges) the one it has; no new round of mails starts, the one in
    /// progress is finished (sent and recorded); both within `grace`, then everything
    /// stops. So a stop repeats no mail and redelivers no event unless the grace period
    /// runs out.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        let _ = self.stopping.send(true);
        self.send_wake.notify_waiters();
        let consume = self.consume.take();
        let send = self.send.take();
        let overdue: Vec<_> = consume
            .iter()
            .chain(&send)
            .map(JoinHandle::abort_handle)
            .collect();
        let finished = tokio::time::timeout(grace, async move {
            if let Some(consume) = consume {
                let _ = consume.await;
            }
            if let Some(send) = send {
                let _ = send.await;
            }
        })
        .await;
        match finished {
            Ok(()) => tracing::info!(
                "notifier: event in hand recorded, mails in flight sent and recorded"
            ),
            Err(_) => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "notifier: work still in flight after the grace period; it is done again at the next start"
                );
                overdue.iter().for_each(tokio::task::AbortHandle::abort);
            }
        }
        self.stop();
    }
}
