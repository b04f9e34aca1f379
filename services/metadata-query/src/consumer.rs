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

use conversations_bus::{ConsumerQueue, SinkHealth};
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
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
}

impl Projector {
    /// A projector over `store`.
    pub fn new(store: InboxStore) -> Self {
        Self {
            store,
            lock: Arc::new(Mutex::new(())),
            caught_up: Arc::new(AtomicBool::new(false)),
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
                Ok(()) => return Ok(()),
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

    /// Production: consumes the durable queue, reconnecting with capped backoff.
    pub async fn run_amqp(self, settings: AmqpSettings, health: Arc<SinkHealth>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.consume_once(&settings, &health).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    health.set(false);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "metadata-query lost its broker; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn consume_once(
        &self,
        settings: &AmqpSettings,
        health: &SinkHealth,
    ) -> Result<(), lapin::Error> {
        let connection = connect(&settings.url).await?;
        // A dead connection does not always end the consumer stream: race it.
        let lost = conversations_bus::connection_lost(&connection);
        tokio::select! {
            result = self.consume_on(&connection, settings, health) => result,
            error = lost => Err(error),
        }
    }

    async fn consume_on(
        &self,
        connection: &Connection,
        settings: &AmqpSettings,
        health: &SinkHealth,
    ) -> Result<(), lapin::Error> {
        let channel = connection.create_channel().await?;
        ConsumerQueue {
            exchange: &settings.exchange,
            queue: &settings.queue,
            routing_keys: &["#"],
            delivery_limit: settings.delivery_limit,
        }
        .declare(&channel)
        .await?;
        let prefetch = u16::try_from(settings.batch_size.saturating_mul(2)).unwrap_or(u16::MAX);
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                settings.queue.as_str().into(),
                "metadata-query".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        health.set(true);
        tracing::info!(queue = %settings.queue, "metadata-query consuming");
        loop {
            let Some(first) = consumer.next().await else {
                break;
            };
            let mut deliveries = vec![first?];
            while deliveries.len() < settings.batch_size {
                match consumer.next().now_or_never() {
                    Some(Some(delivery)) => deliveries.push(delivery?),
                    _ => break,
                }
            }
            let mut planned = Vec::with_capacity(deliveries.len());
            let mut good = Vec::with_capacity(deliveries.len());
            // One consumer span per traced event, open until its batch is acknowledged.
            let mut _spans = Vec::new();
            for delivery in deliveries {
                _spans.push(conversations_bus::process_span(
                    &settings.queue,
                    delivery.routing_key.as_str(),
                    delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|id| id.as_str())
                        .unwrap_or_default(),
                    conversations_bus::traceparent_header(&delivery.properties).as_deref(),
                ));
                match self.plan_payload(&delivery.data) {
                    Ok(update) => {
                        planned.push(Planned {
                            update,
                            // Only once the first catch-up is done: before, a restarted
                            // catch-up would skip history the queue never had.
                            feed_position: self
                                .caught_up
                                .load(Ordering::Relaxed)
                                .then(|| feed_position_of(&delivery.properties))
                                .flatten(),
                        });
                        good.push(delivery);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "dead-lettering event that can never be projected");
                        delivery
                            .reject(BasicRejectOptions { requeue: false })
                            .await?;
                    }
                }
            }
            let Some(last) = good.last() else {
                continue;
            };
            match self.apply(planned.clone()).await {
                Ok(()) => {
                    last.ack(BasicAckOptions { multiple: true }).await?;
                }
                Err(batch_error) => {
                    // The database answers, yet the batch failed: find the culprit(s)
                    // one by one; they go back to the queue (and, after the delivery
                    // limit, to the dead-letter queue), the rest is kept.
                    tracing::warn!(error = %batch_error, "batch failed; applying its events one by one");
                    for (delivery, one) in good.iter().zip(planned) {
                        match self.apply(vec![one]).await {
                            Ok(()) => {
                                delivery.ack(BasicAckOptions::default()).await?;
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "event not projected; redelivering");
                                delivery
                                    .nack(BasicNackOptions {
                                        requeue: true,
                                        ..Default::default()
                                    })
                                    .await?;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(lapin::Error::from(
            lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
        ))
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

/// Connects to RabbitMQ, giving up after 10 s (an unreachable broker must not hang the
/// reconnect loop).
async fn connect(url: &str) -> Result<Connection, lapin::Error> {
    tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|_| {
        Err(lapin::Error::from(
            lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
        ))
    })
}
