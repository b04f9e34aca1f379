//! Feeding the projection: events from RabbitMQ (production) or straight from the outboxes
//! (all-in-one), applied in batches of up to `METADATA_BATCH_SIZE` per transaction.
//!
//! AMQP: the projection's own durable quorum queue bound to every event type (`#`), with
//! `x-delivery-limit` and a dead-letter queue. A batch is acknowledged (one `multiple`
//! ack) only after its transaction committed; an undecodable event is rejected straight
//! to the dead-letter queue. When the database is down the batch is held and retried
//! until it is back, so an outage never dead-letters good events.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conversations_bus::{ConsumerSettings, Disposition, Handler, Received, SinkHealth};
use tokio::sync::{Mutex, watch};

use crate::error::MetadataError;
use crate::feed::{Feed, catch_up};
use crate::projection::{Update, plan};
use crate::store::{FeedPosition, InboxStore, Planned};

/// Applies events to the store, one batch at a time per process.
#[derive(Debug, Clone)]
pub struct Projector {
    /// The projection.
    pub store: InboxStore,
    /// Serialises batches from the feed and from the bus (one writer per process).
    lock: Arc<Mutex<()>>,
    /// False until the first catch-up finished (for `/readyz`).
    pub caught_up: Arc<AtomicBool>,
    /// Told what each committed batch changed, for the live streams.
    pub live: crate::live::Live,
}

impl Projector {
    /// A projector over `store`.
    pub fn new(store: InboxStore) -> Self {
        Self {
            store,
            lock: Arc::new(Mutex::new(())),
            caught_up: Arc::new(AtomicBool::new(false)),
            live: crate::live::Live::new(),
        }
    }

    /// Decodes and plans one encoded envelope.
    pub fn plan_payload(&self, payload: &[u8]) -> Result<Update, MetadataError> {
        let envelope = conversations_events::decode(payload)
            .map_err(|e| crate::projection::PlanError(e.to_string()))?;
        Ok(plan(&envelope, self.store.contact_ids())?)
    }

    /// Applies a batch (on a blocking thread), waiting for the database while it is down.
    pub async fn apply(&self, batch: Vec<Planned>) -> Result<(), MetadataError> {
        let _one_writer = self.lock.lock().await;
        let batch = Arc::new(batch);
        let mut backoff = Duration::from_millis(100);
        loop {
            let store = self.store.clone();
            let work = batch.clone();
            let result = tokio::task::spawn_blocking(move || store.apply(&work))
                .await
                .map_err(|e| MetadataError::Unavailable(e.to_string()))?;
            match result {
                Ok(()) => {
                    // After the commit: a client that fetches on a signal sees the change.
                    self.live.announce(
                        batch
                            .iter()
                            .flat_map(|p| crate::live::signals_of(&p.update))
                            .collect(),
                    );
                    return Ok(());
                }
                Err(e) => {
                    let store = self.store.clone();
                    let reachable = tokio::task::spawn_blocking(move || store.ping())
                        .await
                        .is_ok_and(|r| r.is_ok());
                    if reachable {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "projection database unavailable; holding the batch");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Catches up from `feed`, retrying until it succeeds; then marks the projection
    /// caught up.
    pub async fn catch_up_until_done(&self, feed: &Feed) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match catch_up(feed, self).await {
                Ok(read) => {
                    if !self.caught_up.swap(true, Ordering::Relaxed) {
                        tracing::info!(events = read, "projection caught up with the event feed");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "catch-up failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// All-in-one: follows one local outbox from the position recorded in the projection,
    /// woken by the relay's announcements of new events (and once a second regardless).
    /// A failed batch is not skipped: its position is not recorded, so it is read again.
    pub async fn follow(self, feed: Feed, mut head: watch::Receiver<i64>) {
        loop {
            self.catch_up_until_done(&feed).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), head.changed()).await;
        }
    }

    /// Production: consumes the durable queue (the shared loop of `conversations_bus`)
    /// until `stop` turns true; the batch being applied then is committed and
    /// acknowledged first.
    pub async fn run_amqp(
        self,
        settings: AmqpSettings,
        health: Arc<SinkHealth>,
        stop: watch::Receiver<bool>,
    ) {
        let consumer = ConsumerSettings {
            name: "metadata-query",
            url: settings.url,
            exchange: settings.exchange,
            queue: settings.queue,
            routing_keys: &["#"],
            delivery_limit: settings.delivery_limit,
            prefetch: u16::try_from(settings.batch_size.saturating_mul(2)).unwrap_or(u16::MAX),
            batch_size: settings.batch_size,
            connect_timeout: Duration::from_secs(10),
        };
        conversations_bus::consume::run(&consumer, &self, &health, stop).await;
    }
}

impl Handler for Projector {
    /// Plans every event (an undecodable one is dead-lettered) and applies the batch in
    /// one transaction. Should the database answer and the batch still fail, its events
    /// are applied one by one to find the culprit(s): they go back to the queue (and,
    /// after the delivery limit, to the dead-letter queue), the rest is kept.
    async fn handle(&self, batch: &[Received<'_>]) -> Vec<Disposition> {
        let mut dispositions = vec![Disposition::Processed; batch.len()];
        let mut planned = Vec::with_capacity(batch.len());
        let mut planned_at = Vec::with_capacity(batch.len());
        for (i, event) in batch.iter().enumerate() {
            match self.plan_payload(event.data) {
                Ok(update) => {
                    planned.push(Planned {
                        update,
                        // Only once the first catch-up is done: before, a restarted
                        // catch-up would skip history the queue never had.
                        feed_position: self
                            .caught_up
                            .load(Ordering::Relaxed)
                            .then(|| feed_position_of(event.properties))
                            .flatten(),
                    });
                    planned_at.push(i);
                }
                Err(e) => {
                    if let Some(d) = dispositions.get_mut(i) {
                        *d = Disposition::DeadLetter(format!("cannot be projected: {e}"));
                    }
                }
            }
        }
        if planned.is_empty() {
            return dispositions;
        }
        if let Err(batch_error) = self.apply(planned.clone()).await {
            tracing::warn!(error = %batch_error, "batch failed; applying its events one by one");
            for (i, one) in planned_at.into_iter().zip(planned) {
                if let Err(e) = self.apply(vec![one]).await
                    && let Some(d) = dispositions.get_mut(i)
                {
                    *d = Disposition::Retry(format!("not projected: {e}"));
                }
            }
        }
        dispositions
    }
}

/// Where in conversation-api's feed a queued event sits (its headers say), so the batch
/// that applies it also records how far the feed is covered: a restart then catches up
/// from there, not from where the first catch-up ended (which pruning may have removed).
/// Events still in the queue below that position arrive through the queue anyway.
fn feed_position_of(properties: &lapin::BasicProperties) -> Option<FeedPosition> {
    use lapin::types::AMQPValue;
    let headers = properties.headers().as_ref()?.inner();
    let outbox = match headers.get(conversations_bus::OUTBOX_HEADER)? {
        AMQPValue::LongString(s) => s.to_string(),
        _ => return None,
    };
    if outbox != conversations_events::feed::CONVERSATIONS_OUTBOX {
        return None;
    }
    let position = match headers.get(conversations_bus::POSITION_HEADER)? {
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    };
    Some(FeedPosition {
        checkpoint: crate::feed::CONVERSATIONS_FEED,
        position,
    })
}

/// What the AMQP consumer needs.
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    /// Broker URL.
    pub url: String,
    /// Events exchange.
    pub exchange: String,
    /// This projection's queue.
    pub queue: String,
    /// Deliveries before dead-lettering.
    pub delivery_limit: u32,
    /// Events per transaction at most.
    pub batch_size: usize,
}
