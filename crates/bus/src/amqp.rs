//! Publishing to RabbitMQ with publisher confirms, over a connection we (re)open
//! ourselves: lapin's auto-recovery is not relied upon.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use lapin::{Confirmation, PublisherConfirm};
use tokio::sync::Mutex;

use crate::BusError;
use conversations_db::OutboxRow;

/// Header naming the outbox table an event was published from.
pub const OUTBOX_HEADER: &str = "outbox";
/// Header carrying the event's position in that outbox's feed.
pub const POSITION_HEADER: &str = "feed_position";
/// Header carrying when the event was written to its outbox (Unix milliseconds), from
/// which consumers measure their lag.
pub const CREATED_AT_HEADER: &str = "created_at_ms";

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `AMQP_URL`, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: String,
    /// The durable topic exchange (`AMQP_EXCHANGE`, default `conversations.events`).
    pub exchange: String,
    /// Give up a connection attempt after this long.
    pub connect_timeout: Duration,
}

/// An open connection and its confirm-mode channel.
struct Link {
    connection: Connection,
    channel: Channel,
}

/// A RabbitMQ publisher that reconnects on demand.
pub struct AmqpSink {
    config: AmqpConfig,
    link: Mutex<Option<Link>>,
}

impl std::fmt::Debug for AmqpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSink")
            .field("exchange", &self.config.exchange)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl AmqpSink {
    /// A sink that connects on first use.
    pub fn new(config: AmqpConfig) -> Self {
        Self {
            config,
            link: Mutex::new(None),
        }
    }

    async fn open(&self) -> Result<Link, BusError> {
        let connect = Connection::connect(&self.config.url, ConnectionProperties::default());
        let connection = tokio::time::timeout(self.config.connect_timeout, connect)
            .await
            .map_err(|_| unavailable("connection attempt timed out"))?
            .map_err(unavailable)?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        // Confirms: an event is marked published only after the broker has taken it.
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(unavailable)?;
        // Durable topic exchange: survives broker restarts; consumers bind by event type.
        channel
            .exchange_declare(
                ShortString::from(self.config.exchange.as_str()),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok(Link {
            connection,
            channel,
        })
    }

    /// Opens the connection if there is none; true when connected afterwards.
    pub async fn ensure_connected(&self) -> Result<(), BusError> {
        let mut link = self.link.lock().await;
        if link
            .as_ref()
            .is_some_and(|l| l.connection.status().connected() && l.channel.status().connected())
        {
            return Ok(());
        }
        *link = Some(self.open().await?);
        Ok(())
    }

    /// Forgets the current connection so the next call reconnects.
    pub async fn disconnect(&self) {
        if let Some(link) = self.link.lock().await.take() {
            let _ = link
                .connection
                .close(200, ShortString::from("relay reconnecting"))
                .await;
        }
    }

    /// Publishes the rows in order, pipelined, and waits for every confirm. Returns the
    /// positions confirmed, a prefix of `rows`; on an error the rest is retried later.
    ///
    /// Each message names the outbox it came from (`outbox`) and its position there
    /// (`feed_position`), so a consumer that also reads that outbox's feed can record how
    /// far the queue has brought it.
    pub async fn publish(&self, outbox: &str, rows: &[OutboxRow]) -> (Vec<i64>, Option<BusError>) {
        let link = self.link.lock().await;
        let Some(link) = link.as_ref() else {
            return (Vec::new(), Some(unavailable("not connected")));
        };
        let mut pending = Vec::with_capacity(rows.len());
        for row in rows {
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from("conversation_id"),
                AMQPValue::LongString(row.conversation_id.as_str().into()),
            );
            headers.insert(
                ShortString::from("conversation_seq"),
                AMQPValue::LongLongInt(row.conversation_seq),
            );
            headers.insert(
                ShortString::from(OUTBOX_HEADER),
                AMQPValue::LongString(outbox.into()),
            );
            headers.insert(
                ShortString::from(POSITION_HEADER),
                AMQPValue::LongLongInt(row.position),
            );
            headers.insert(
                ShortString::from(CREATED_AT_HEADER),
                AMQPValue::LongLongInt(row.created_at_utc().timestamp_millis()),
            );
            // A traced event gets a producer span until its confirm; the consumer continues
            // from it (or, tracing off here, from the writer's span as stored).
            let span = row.trace_context.as_deref().map(|parent| {
                let span = publish_span(&self.config.exchange, row);
                conversations_telemetry::continue_trace(&span, Some(parent));
                span
            });
            let trace_context = span
                .as_ref()
                .and_then(conversations_telemetry::context::traceparent_of)
                .or_else(|| row.trace_context.clone());
            if let Some(trace_context) = trace_context {
                headers.insert(
                    ShortString::from(conversations_telemetry::context::TRACEPARENT),
                    AMQPValue::LongString(trace_context.as_str().into()),
                );
            }
            let properties = BasicProperties::default()
                // Persistent: written to disk by the broker before it confirms.
                .with_delivery_mode(2)
                .with_message_id(row.event_id.as_str().into())
                .with_type(row.event_type.as_str().into())
                .with_app_id(row.app_id.as_str().into())
                .with_content_type(conversations_events::CONTENT_TYPE.into())
                .with_timestamp(u64::try_from(row.created_at_utc().timestamp()).unwrap_or(0))
                .with_headers(headers);
            let published = link
                .channel
                .basic_publish(
                    ShortString::from(self.config.exchange.as_str()),
                    ShortString::from(row.event_type.as_str()),
                    // Mandatory: an event no queue is bound for comes back and is logged.
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &row.payload,
                    properties,
                )
                .await;
            match published {
                Ok(confirm) => pending.push((row, confirm, span)),
                Err(e) => {
                    return (confirmed_prefix(pending).await, Some(unavailable(e)));
                }
            }
        }
        let total = pending.len();
        let confirmed = confirmed_prefix(pending).await;
        if confirmed.len() == total {
            (confirmed, None)
        } else {
            let failed = rows
                .get(confirmed.len())
                .map(|r| r.event_id.clone())
                .unwrap_or_default();
            (confirmed, Some(BusError::Nacked(failed)))
        }
    }
}

/// The producer span of one event (OpenTelemetry messaging conventions).
fn publish_span(exchange: &str, row: &OutboxRow) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = %format!("publish {exchange}"),
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %exchange,
        messaging.rabbitmq.destination.routing_key = %row.event_type,
        messaging.message.id = %row.event_id,
    )
}

type Pending<'a> = (&'a OutboxRow, PublisherConfirm, Option<tracing::Span>);

/// Awaits confirms in order and returns the positions acknowledged before the first failure.
async fn confirmed_prefix(pending: Vec<Pending<'_>>) -> Vec<i64> {
    let mut ids = Vec::with_capacity(pending.len());
    let mut failed = false;
    for (row, confirm, _span) in pending {
        match confirm.await {
            Ok(Confirmation::Ack(returned)) if !failed => {
                if let Some(returned) = returned {
                    tracing::warn!(
                        event_id = %row.event_id,
                        event_type = %row.event_type,
                        reply = %returned.reply_text,
                        "event published but no queue is bound for it"
                    );
                }
                ids.push(row.position);
            }
            Ok(Confirmation::Ack(_)) => {}
            Ok(other) => {
                tracing::warn!(event_id = %row.event_id, confirmation = ?other, "broker did not confirm event");
                failed = true;
            }
            Err(e) => {
                tracing::warn!(event_id = %row.event_id, error = %e, "lost confirm for event");
                failed = true;
            }
        }
    }
    ids
}
