//! Consuming events: each `message_posted` becomes one recorded delivery per recipient.
//!
//! AMQP topology (declared here, every argument spelled out): the notifier's durable
//! quorum queue bound to `message_posted` on the events exchange, with
//! `x-delivery-limit` and a dead-letter exchange whose queue keeps what could never be
//! processed. An undecodable event is rejected at once (straight to the dead-letter
//! queue); a database failure is requeued and, after the delivery limit, dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use conversations_bus::{ConsumerQueue, SinkHealth};
use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_events::v1::envelope::Payload;
use conversations_store::{DeliveryStatus, NewDelivery, Store, StoreError};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::sync::Notify;

use crate::compose::{ComposeContext, render};
use crate::config::NotifierConfig;

/// Why an event was not processed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// It can never be processed: dead-letter it.
    #[error("poison event: {0}")]
    Poison(String),
    /// Processing failed for now: redeliver it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the deliveries an encoded event calls for; returns how many were new.
pub fn handle_event(
    config: &NotifierConfig,
    store: &Store,
    payload: &[u8],
) -> Result<usize, HandleError> {
    let envelope =
        conversations_events::decode(payload).map_err(|e| HandleError::Poison(e.to_string()))?;
    let Some(Payload::MessagePosted(message)) = &envelope.payload else {
        return Ok(0);
    };
    let codec = ReplyAddressCodec::new(config.reply_secret.clone(), config.reply_domain.clone());
    let ctx = ComposeContext {
        codec: &codec,
        reply_domain: &config.reply_domain,
        public_url: &config.public_url,
    };
    let mut rows = Vec::with_capacity(message.recipients.len());
    for recipient in &message.recipients {
        let (status, rendered) = if recipient.muted {
            (DeliveryStatus::Muted, None)
        } else if store.is_suppressed(&envelope.app_id, &recipient.email)? {
            (DeliveryStatus::Suppressed, None)
        } else {
            let rendered = render(&ctx, &envelope, message, recipient)
                .map_err(|e| HandleError::Poison(e.to_string()))?;
            (DeliveryStatus::Pending, Some(rendered))
        };
        rows.push(NewDelivery {
            app_id: envelope.app_id.clone(),
            conversation_id: envelope.conversation_id.clone(),
            message_seq: message.message_seq,
            participant_id: recipient.participant_id.clone(),
            recipient: recipient.email.clone(),
            status,
            envelope_from: rendered
                .as_ref()
                .map(|r| r.envelope_from.clone())
                .unwrap_or_default(),
            raw_message: rendered.map(|r| r.raw),
        });
    }
    Ok(store.record_deliveries(&rows, chrono::Utc::now())?)
}

/// The consuming half of the notifier.
pub struct Consumer {
    /// Settings.
    pub config: Arc<NotifierConfig>,
    /// Where deliveries are recorded.
    pub store: Store,
    /// Wakes the sender when new deliveries are recorded.
    pub send_wake: Arc<Notify>,
    /// Whether the broker is reachable.
    pub health: Arc<SinkHealth>,
}

impl Consumer {
    async fn handle(&self, payload: Vec<u8>) -> Result<usize, HandleError> {
        let config = self.config.clone();
        let store = self.store.clone();
        let handled = tokio::task::spawn_blocking(move || handle_event(&config, &store, &payload))
            .await
            .map_err(|e| HandleError::Store(StoreError::Unavailable(e.to_string())))?;
        if matches!(handled, Ok(n) if n > 0) {
            self.send_wake.notify_one();
        }
        handled
    }

    /// All-in-one: consumes the in-process bus until it closes.
    pub async fn run_in_process(
        self,
        mut events: tokio::sync::broadcast::Receiver<Arc<conversations_bus::PublishedEvent>>,
    ) {
        self.health.set(true);
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Err(e) = self.handle(event.payload.clone()).await {
                        tracing::error!(event_id = %event.event_id, error = %e, "event not processed");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!(missed = n, "notifier fell behind the in-process bus");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Production: consumes the durable queue, reconnecting with capped backoff.
    pub async fn run_amqp(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.consume_once().await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    self.health.set(false);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "notifier lost its broker; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn consume_once(&self) -> Result<(), lapin::Error> {
        let url = self.config.amqp_url.clone().unwrap_or_default();
        let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        let queue = self.config.queue.as_str();
        ConsumerQueue {
            exchange: &self.config.exchange,
            queue,
            routing_keys: &["message_posted"],
            delivery_limit: self.config.delivery_limit,
        }
        .declare(&channel)
        .await?;
        // Bounded work in flight per consumer; the rest stays in the queue for other replicas.
        channel.basic_qos(32, BasicQosOptions::default()).await?;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "notifier".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.health.set(true);
        tracing::info!(queue, "notifier consuming");
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            let event_id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            match self.handle(delivery.data.clone()).await {
                Ok(_) => {
                    delivery.ack(BasicAckOptions::default()).await?;
                }
                Err(HandleError::Poison(reason)) => {
                    tracing::error!(%event_id, %reason, "dead-lettering event that can never be processed");
                    delivery
                        .reject(BasicRejectOptions { requeue: false })
                        .await?;
                }
                Err(HandleError::Store(e)) => {
                    tracing::warn!(%event_id, error = %e, "event will be redelivered");
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await?;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        Err(lapin::Error::from(
            lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
        ))
    }
}
