//! Forgetting deleted conversations: when conversation-api deletes a conversation, every
//! mail inbound-mail logged for it (sender, subject, reply text, raw mail) is deleted too,
//! so a deletion leaves nothing behind in any service. inbound-mail learns of deletions
//! from `conversation_deleted` events: on its own durable queue (split deployment), or,
//! in the all-in-one, by reading conversation-api's outbox from a position it records.

use std::time::Duration;

use conversations_bus::{ConsumerSettings, Disposition, Handler, Received, SinkHealth};
use conversations_db::{DbError, Outbox};
use conversations_events::v1::envelope::Payload;
use tokio::sync::watch;
use tracing::Instrument;

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

    async fn erase(&self, payload: Vec<u8>) -> Result<(), HandleError> {
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

    async fn follow(self, outbox: Outbox, head: watch::Receiver<i64>) {
        conversations_bus::in_process::follow(
            "inbound-mail: conversation-api's outbox",
            head,
            || self.follow_once(&outbox),
        )
        .await;
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
            match self.erase(row.payload).await {
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

    /// Consumes inbound-mail's queue with the shared loop of `conversations_bus` until
    /// aborted (an erasure interrupted by the abort is redelivered and done again: erasing
    /// twice erases nothing more).
    async fn run_amqp(self, settings: &QueueSettings) {
        let consumer = ConsumerSettings {
            name: "inbound-mail",
            url: settings.url.clone(),
            exchange: settings.exchange.clone(),
            queue: settings.queue.clone(),
            routing_keys: HANDLED,
            delivery_limit: settings.delivery_limit,
            prefetch: 16,
            batch_size: 1,
            connect_timeout: Duration::from_secs(10),
        };
        let (_never, stop) = watch::channel(false);
        let health = SinkHealth::default();
        conversations_bus::consume::run(&consumer, &self, &health, stop).await;
    }
}

impl Handler for Eraser {
    async fn handle(&self, batch: &[Received<'_>]) -> Vec<Disposition> {
        let mut dispositions = Vec::with_capacity(batch.len());
        for event in batch {
            let erased = self
                .erase(event.data.to_vec())
                .instrument(event.span.clone())
                .await;
            dispositions.push(match erased {
                Ok(()) => Disposition::Processed,
                Err(HandleError::Poison(reason)) => Disposition::DeadLetter(reason),
                Err(HandleError::Store(e)) => Disposition::Retry(e.to_string()),
            });
        }
        dispositions
    }
}
