//! The consuming loop every AMQP consumer shares (the notifier, metadata-query,
//! inbound-mail): our own reconnect with capped, jittered exponential backoff (`backon`;
//! lapin's auto-recovery is not relied upon), a connect timeout, the queue topology
//! declared on every (re)connect, batches of what has already arrived, a consumer span per
//! traced event, acks only after the handler is done, metrics, and a graceful stop.
//!
//! A handler only decides, per event, what becomes of it ([`Disposition`]); this loop
//! acknowledges, dead-letters or requeues accordingly. When every event of a batch is
//! done, one `multiple` ack settles the batch.
//!
//! Metrics (label `consumer`):
//! - `conversations_consumer_events_total{consumer, result}`: `processed`, `retried`
//!   (requeued; after `x-delivery-limit` deliveries RabbitMQ dead-letters it),
//!   `dead_lettered` (rejected as never processable);
//! - `conversations_consumer_lag_seconds{consumer}`: how long ago the last event processed
//!   was written to its outbox (outbox → relay → broker → here);
//! - `conversations_consumer_queue_messages{consumer, queue}`: messages waiting in the work
//!   queue (`work`) and in its dead-letter queue (`dead_letter`), read every 15 s.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use prometheus::{IntCounterVec, IntGaugeVec};
use tokio::sync::watch;

use crate::topology::{ConsumerQueue, connection_lost};
use crate::{CREATED_AT_HEADER, SinkHealth};

/// What a consumer reads, and how.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// The consumer's name: its AMQP consumer tag and the `consumer` metric label.
    pub name: &'static str,
    /// `AMQP_URL`.
    pub url: String,
    /// The events exchange.
    pub exchange: String,
    /// Its durable work queue.
    pub queue: String,
    /// Event types bound to the queue (`#` for all).
    pub routing_keys: &'static [&'static str],
    /// Deliveries before RabbitMQ dead-letters an event.
    pub delivery_limit: u32,
    /// Unacknowledged deliveries the broker hands this consumer at most.
    pub prefetch: u16,
    /// Events handed to the handler at once at most (1: one at a time).
    pub batch_size: usize,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
}

/// One event as received, for the handler.
pub struct Received<'a> {
    /// The encoded envelope.
    pub data: &'a [u8],
    /// Its type (the routing key).
    pub event_type: &'a str,
    /// Its id (the AMQP message id).
    pub event_id: &'a str,
    /// The message's properties and headers.
    pub properties: &'a BasicProperties,
    /// The consumer span continuing the event's trace (`Span::none()` when untraced).
    pub span: tracing::Span,
}

/// What becomes of an event once the handler is done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done: acknowledge it.
    Processed,
    /// It can never be processed: to the dead-letter queue at once.
    DeadLetter(String),
    /// Not now: back to the queue (dead-lettered by RabbitMQ after the delivery limit).
    Retry(String),
}

/// A consumer's logic: one disposition per event of the batch, in order.
pub trait Handler: Send + Sync {
    /// Handles `batch`; every event without a disposition is retried.
    fn handle(&self, batch: &[Received<'_>]) -> impl Future<Output = Vec<Disposition>> + Send;
}

fn events_metric() -> Option<&'static IntCounterVec> {
    static SLOT: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    conversations_telemetry::metrics::counter(
        &SLOT,
        "conversations_consumer_events_total",
        "Events consumed from RabbitMQ, by consumer and result (processed, retried, dead_lettered).",
        &["consumer", "result"],
    )
}

fn lag_metric() -> Option<&'static prometheus::GaugeVec> {
    static SLOT: OnceLock<Option<prometheus::GaugeVec>> = OnceLock::new();
    conversations_telemetry::metrics::float_gauge(
        &SLOT,
        "conversations_consumer_lag_seconds",
        "Seconds between an event being written to its outbox and the consumer processing it (the last one processed).",
        &["consumer"],
    )
}

fn queue_metric() -> Option<&'static IntGaugeVec> {
    static SLOT: OnceLock<Option<IntGaugeVec>> = OnceLock::new();
    conversations_telemetry::metrics::gauge(
        &SLOT,
        "conversations_consumer_queue_messages",
        "Messages waiting in the consumer's work queue (queue=work) and dead-letter queue (queue=dead_letter).",
        &["consumer", "queue"],
    )
}

fn count(consumer: &str, result: &str, n: usize) {
    if let Some(metric) = events_metric() {
        metric
            .with_label_values(&[consumer, result])
            .inc_by(n as u64);
    }
}

/// Makes the consumer's metrics visible (at zero) before its first event.
pub fn init_metrics(consumer: &str) {
    for result in ["processed", "retried", "dead_lettered"] {
        count(consumer, result, 0);
    }
    if let Some(metric) = lag_metric() {
        metric.with_label_values(&[consumer]).set(0.0);
    }
}

/// Resolves once `stop` says true (never, if its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn closed() -> lapin::Error {
    lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
        lapin::ConnectionState::Closed,
    ))
}

/// An open consuming session.
struct Session {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

/// Resolves when the session's connection reports an error.
type Lost = Pin<Box<dyn Future<Output = lapin::Error> + Send>>;

async fn open(settings: &ConsumerSettings) -> Result<(Session, Lost), lapin::Error> {
    let connection = tokio::time::timeout(
        settings.connect_timeout,
        Connection::connect(&settings.url, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|_| Err(closed()))?;
    // A dead connection does not always fail what waits on it (a declaration, an ack,
    // the consumer stream): everything below races it.
    let mut lost: Lost = Box::pin(connection_lost(&connection));
    let setup = async {
        let channel = connection.create_channel().await?;
        ConsumerQueue {
            exchange: &settings.exchange,
            queue: &settings.queue,
            routing_keys: settings.routing_keys,
            delivery_limit: settings.delivery_limit,
        }
        .declare(&channel)
        .await?;
        channel
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                settings.queue.as_str().into(),
                settings.name.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((channel, consumer))
    };
    let (channel, consumer) = tokio::select! {
        set_up = tokio::time::timeout(settings.connect_timeout, setup) => {
            set_up.unwrap_or_else(|_| Err(closed()))?
        }
        error = &mut lost => return Err(error),
    };
    Ok((
        Session {
            connection,
            channel,
            consumer,
        },
        lost,
    ))
}

/// Consumes until `stop` turns true: the batch being handled is finished and settled,
/// nothing new is taken (what the broker had prefetched goes back to the queue), and the
/// connection is closed. Reconnects for ever otherwise.
pub async fn run<H: Handler>(
    settings: &ConsumerSettings,
    handler: &H,
    health: &SinkHealth,
    mut stop: watch::Receiver<bool>,
) {
    init_metrics(settings.name);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    loop {
        let connecting = (|| open(settings)).retry(backoff).notify(|error, retry_in| {
            health.set(false);
            tracing::warn!(consumer = settings.name, %error, retry_in_ms = retry_in.as_millis() as u64, "cannot reach the broker; retrying");
        });
        let session = tokio::select! {
            session = connecting => session,
            () = stopped(&mut stop) => return,
        };
        let Ok((session, lost)) = session else {
            continue;
        };
        health.set(true);
        tracing::info!(consumer = settings.name, queue = %settings.queue, "consuming");
        match consume(settings, handler, session, lost, &mut stop).await {
            Ok(()) => {
                tracing::info!(consumer = settings.name, "stopped consuming");
                return;
            }
            Err(error) => {
                health.set(false);
                tracing::warn!(consumer = settings.name, %error, "lost the broker; reconnecting");
                // A broker that accepts and drops at once must not make this spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn consume<H: Handler>(
    settings: &ConsumerSettings,
    handler: &H,
    mut session: Session,
    mut lost: Lost,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), lapin::Error> {
    let mut depth = tokio::time::interval(Duration::from_secs(15));
    loop {
        let first = tokio::select! {
            biased;
            () = stopped(stop) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), close(settings, &session)).await;
                return Ok(());
            }
            error = &mut lost => return Err(error),
            _ = depth.tick() => {
                tokio::select! {
                    () = report_depth(settings, &session.channel) => {}
                    error = &mut lost => return Err(error),
                }
                continue;
            }
            next = session.consumer.next() => next.ok_or_else(closed)??,
        };
        let mut deliveries = vec![first];
        while deliveries.len() < settings.batch_size {
            match session.consumer.next().now_or_never() {
                Some(Some(delivery)) => deliveries.push(delivery?),
                _ => break,
            }
        }
        let received: Vec<Received<'_>> = deliveries
            .iter()
            .map(|d| received(&settings.queue, d))
            .collect();
        // The handler runs to its end (its work is the database's, and a stop waits for
        // it); the acks race the connection: on a dead one they may never complete, and
        // the broker redelivers what was not acknowledged anyway.
        let dispositions = handler.handle(&received).await;
        drop(received);
        tokio::select! {
            settled = settle(settings, &deliveries, dispositions) => settled?,
            error = &mut lost => return Err(error),
        }
    }
}

fn received<'a>(queue: &str, delivery: &'a Delivery) -> Received<'a> {
    let event_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str())
        .unwrap_or_default();
    let event_type = delivery.routing_key.as_str();
    let traceparent = crate::traceparent_header(&delivery.properties);
    Received {
        data: &delivery.data,
        event_type,
        event_id,
        properties: &delivery.properties,
        span: crate::process_span(queue, event_type, event_id, traceparent.as_deref()),
    }
}

/// Acknowledges, dead-letters or requeues each delivery as its disposition says.
async fn settle(
    settings: &ConsumerSettings,
    deliveries: &[Delivery],
    dispositions: Vec<Disposition>,
) -> Result<(), lapin::Error> {
    let name = settings.name;
    let all_processed = dispositions.len() == deliveries.len()
        && dispositions.iter().all(|d| *d == Disposition::Processed);
    if all_processed {
        if let Some(last) = deliveries.last() {
            last.ack(BasicAckOptions { multiple: true }).await?;
            count(name, "processed", deliveries.len());
            record_lag(name, last);
        }
        return Ok(());
    }
    let mut retried = false;
    for (i, delivery) in deliveries.iter().enumerate() {
        let disposition = dispositions
            .get(i)
            .cloned()
            .unwrap_or_else(|| Disposition::Retry("the handler gave no answer".into()));
        let event_id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default();
        match disposition {
            Disposition::Processed => {
                delivery.ack(BasicAckOptions::default()).await?;
                count(name, "processed", 1);
                record_lag(name, delivery);
            }
            Disposition::DeadLetter(reason) => {
                tracing::error!(consumer = name, %event_id, %reason, "dead-lettering an event that can never be processed");
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
                count(name, "dead_lettered", 1);
            }
            Disposition::Retry(reason) => {
                tracing::warn!(consumer = name, %event_id, %reason, "event will be redelivered");
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await?;
                count(name, "retried", 1);
                retried = true;
            }
        }
    }
    if retried {
        // Whatever failed (the database, most likely) gets a moment before the redelivery.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

fn record_lag(consumer: &str, delivery: &Delivery) {
    let Some(metric) = lag_metric() else { return };
    let written = delivery.properties.headers().as_ref().and_then(|h| {
        match h.inner().get(CREATED_AT_HEADER) {
            Some(AMQPValue::LongLongInt(ms)) => Some(*ms),
            _ => None,
        }
    });
    if let Some(written) = written {
        let lag_ms = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(written);
        metric
            .with_label_values(&[consumer])
            .set(lag_ms.max(0) as f64 / 1000.0);
    }
}

/// Reads both queues' depth (passive declarations change nothing).
async fn report_depth(settings: &ConsumerSettings, channel: &Channel) {
    let Some(metric) = queue_metric() else { return };
    let dead_letter = format!("{}.dead-letter", settings.queue);
    for (label, queue) in [
        ("work", settings.queue.as_str()),
        ("dead_letter", &dead_letter),
    ] {
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if let Ok(queue) = declared {
            metric
                .with_label_values(&[settings.name, label])
                .set(i64::from(queue.message_count()));
        }
    }
}

/// Cancels the consumer (the broker requeues what it had prefetched and we did not
/// take) and closes the channel and the connection.
async fn close(settings: &ConsumerSettings, session: &Session) {
    let _ = session
        .channel
        .basic_cancel(settings.name.into(), BasicCancelOptions::default())
        .await;
    let _ = session.channel.close(200, "stopping".into()).await;
    let _ = session.connection.close(200, "stopping".into()).await;
}
