//! Forgetting deleted conversations: when conversation-api deletes a conversation, every
//! mail inbound-mail logged for it (sender, subject, reply text, raw mail) is deleted too,
//! so a deletion leaves nothing behind in any service. inbound-mail learns of deletions
//! from `conversation_deleted` events: on its own durable queue (split deployment), or,
//! in the all-in-one, by reading conversation-api's outbox from a position it records.

use std::time::Duration;

use conversations_bus::ConsumerQueue;
use conversations_db::{DbError, Outbox};
use conversations_events::v1::envelope::Payload;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;

use crate::store::InboundStore;

/// The event types inbound-mail's queue is bound to.
pub const HANDLED: &[&str] = &["conversation_deleted"];

/// Where deletions come from.
#[derive(Debug)]
pub enum Deletions {
    /// inbound-mail's own queue on RabbitMQ (`AMQP_URL`, `INBOUND_QUEUE`).
    Amqp(QueueSettings),
    /// All-in-one: conversation-api's outbox, announced on `head`.
    Outbox {
        /// conversation-api's outbox.
        outbox: Outbox,
        /// Its relay's announcements of new positions.
        head: watch::Receiver<i64>,
    },
    /// Nobody tells this inbound-mail of deletions (a standalone one without `AMQP_URL`).
    Unknown,
}

/// inbound-mail's queue.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// The broker.
    pub url: String,
    /// The events exchange.
    pub exchange: String,
    /// inbound-mail's durable queue.
    pub queue: String,
    /// Redeliveries before an event is dead-lettered.
    pub delivery_limit: u32,
}

/// Why an event was not handled.
enum HandleError {
    /// It can never be: dead-letter it.
    Poison(String),
    /// Not now: redeliver it.
    Store(DbError),
}

/// Erases what the log holds of deleted conversations.
#[derive(Clone)]
pub struct Eraser {
    store: InboundStore,
}

impl Eraser {
    /// Erases from `store`.
    pub fn new(store: InboundStore) -> Self {
        Self { store }
    }

    /// Runs until aborted.
    pub async fn run(self, source: Deletions) {
        match source {
            Deletions::Amqp(settings) => self.run_amqp(&settings).await,
            Deletions::Outbox { outbox, head } => self.follow(outbox, head).await,
            Deletions::Unknown => {
                tracing::warn!(
                    "inbound-mail hears of no deleted conversations (set AMQP_URL): their mails stay in its log"
                );
            }
        }
    }

    async fn handle(&self, payload: Vec<u8>) -> Result<(), HandleError> {
        let envelope = conversations_events::decode(&payload)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        let Some(Payload::ConversationDeleted(_)) = envelope.payload else {
            return Ok(());
        };
        let store = self.store.clone();
        let conversation = envelope.conversation_id;
        let erased = tokio::task::spawn_blocking(move || store.erase_conversation(&conversation))
            .await
            .map_err(|e| HandleError::Store(DbError::Unavailable(e.to_string())))?
            .map_err(HandleError::Store)?;
        if erased > 0 {
            tracing::info!(
                mails = erased,
                "erased the inbound mails of a deleted conversation"
            );
        }
        Ok(())
    }

    async fn follow(self, outbox: Outbox, mut head: watch::Receiver<i64>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.follow_once(&outbox).await {
                Ok(true) => backoff = Duration::from_millis(100),
                Ok(false) => {
                    backoff = Duration::from_millis(100);
                    let _ = tokio::time::timeout(Duration::from_secs(1), head.changed()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "inbound-mail could not read conversation-api's outbox; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One page of the outbox; true when there may be more.
    async fn follow_once(&self, outbox: &Outbox) -> Result<bool, DbError> {
        const PAGE: usize = 500;
        let (store, feed) = (self.store.clone(), outbox.clone());
        let rows = tokio::task::spawn_blocking(move || {
            let after = store.checkpoint_or_start_at(feed.head()?)?;
            feed.events_after(after, PAGE)
        })
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))??;
        let Some(last) = rows.last().map(|r| r.position) else {
            return Ok(false);
        };
        let full = rows.len() >= PAGE;
        for row in rows {
            if !HANDLED.contains(&row.event_type.as_str()) {
                continue;
            }
            match self.handle(row.payload).await {
                Ok(()) => {}
                Err(HandleError::Poison(reason)) => {
                    tracing::error!(position = row.position, %reason, "skipping event that can never be processed");
                }
                Err(HandleError::Store(e)) => return Err(e),
            }
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.set_checkpoint(last))
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        Ok(full)
    }

    async fn run_amqp(self, settings: &QueueSettings) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.consume_once(settings).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "inbound-mail lost its broker; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn consume_once(&self, settings: &QueueSettings) -> Result<(), lapin::Error> {
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(&settings.url, ConnectionProperties::default()),
        )
        .await
        .unwrap_or_else(|_| {
            Err(lapin::Error::from(
                lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
            ))
        })?;
        let lost = conversations_bus::connection_lost(&connection);
        tokio::select! {
            result = self.consume_on(&connection, settings) => result,
            error = lost => Err(error),
        }
    }

    async fn consume_on(
        &self,
        connection: &Connection,
        settings: &QueueSettings,
    ) -> Result<(), lapin::Error> {
        let channel = connection.create_channel().await?;
        let queue = settings.queue.as_str();
        ConsumerQueue {
            exchange: &settings.exchange,
            queue,
            routing_keys: HANDLED,
            delivery_limit: settings.delivery_limit,
        }
        .declare(&channel)
        .await?;
        channel.basic_qos(16, BasicQosOptions::default()).await?;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "inbound-mail".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(queue, "inbound-mail consuming deletions");
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            match self.handle(delivery.data.clone()).await {
                Ok(()) => {
                    delivery.ack(BasicAckOptions::default()).await?;
                }
                Err(HandleError::Poison(reason)) => {
                    tracing::error!(%reason, "dead-lettering event that can never be processed");
                    delivery
                        .reject(BasicRejectOptions { requeue: false })
                        .await?;
                }
                Err(HandleError::Store(e)) => {
                    tracing::warn!(error = %e, "event will be redelivered");
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
