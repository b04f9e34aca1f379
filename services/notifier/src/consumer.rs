//! Consuming events: each `message_posted` becomes one recorded delivery per recipient,
//! from the notifier's RabbitMQ queue (split deployment) or straight from conversation-api's
//! outbox (all-in-one), where the position read is recorded in the same transaction as the
//! deliveries, so a crash or a backlog never loses or repeats an event.
//!
//! AMQP topology (declared here, every argument spelled out): the notifier's durable
//! quorum queue bound to `message_posted` on the events exchange, with
//! `x-delivery-limit` and a dead-letter exchange whose queue keeps what could never be
//! processed. An undecodable event is rejected at once (straight to the dead-letter
//! queue); a database failure is requeued and, after the delivery limit, dead-lettered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conversations_bus::{ConsumerSettings, Disposition, Handler, Received, SinkHealth};
use conversations_db::{DbError, Outbox};
use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_events::v1::envelope::Payload;
use tokio::sync::{Notify, watch};

use crate::batch::{BatchEvent, Handled, handle_batch};
use crate::compose::{ComposeContext, render};
use crate::config::NotifierConfig;
use crate::events::{Notification, Outcome, notification_event};
use crate::store::{DeliveryStatus, NewDelivery, NotifierStore};

/// The event types the notifier acts on: messages to mail, and deletions to erase.
pub const HANDLED: &[&str] = &[
    "message_posted",
    "conversation_deleted",
    "address_suppressed",
    "address_unsuppressed",
    "rejection_notice",
];

/// Why an event was not processed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// It can never be processed: dead-letter it.
    #[error("poison event: {0}")]
    Poison(String),
    /// Processing failed for now: redeliver it.
    #[error(transparent)]
    Store(#[from] DbError),
}

/// Records the deliveries an encoded event calls for, with the events about the ones not
/// sent (muted, suppressed), or erases a deleted conversation; for an event read from the
/// outbox feed, its position too, in the same transaction. Returns how many deliveries
/// were new; `Ok(None)` when the event concerns no one here.
pub fn handle_event(
    config: &NotifierConfig,
    store: &NotifierStore,
    payload: &[u8],
    feed_position: Option<i64>,
) -> Result<Option<usize>, HandleError> {
    let envelope =
        conversations_events::decode(payload).map_err(|e| HandleError::Poison(e.to_string()))?;
    let message = match &envelope.payload {
        Some(Payload::MessagePosted(message)) => message,
        Some(Payload::ConversationDeleted(_)) => {
            store.erase_conversation(
                &envelope.conversation_id,
                payload,
                feed_position,
                chrono::Utc::now(),
            )?;
            return Ok(Some(0));
        }
        // From inbound-mail: an address bounced (or the application lifted that).
        Some(Payload::AddressSuppressed(suppressed)) => {
            store.suppress_address(
                &envelope.app_id,
                &suppressed.email.trim().to_ascii_lowercase(),
                &suppressed.reason,
                chrono::Utc::now(),
            )?;
            return Ok(Some(0));
        }
        // From inbound-mail: tell a person their reply was refused (once a day, decided
        // there); not to a suppressed address.
        Some(Payload::RejectionNotice(notice)) => {
            let email = notice.email.trim().to_ascii_lowercase();
            if store.is_suppressed(&envelope.app_id, &email)? {
                return Ok(Some(0));
            }
            let rendered = crate::notice::render(&config.reply_domain, "", notice)
                .map_err(|e| HandleError::Poison(e.to_string()))?;
            let row = NewDelivery {
                app_id: envelope.app_id.clone(),
                conversation_id: crate::notice::delivery_key(&notice.inbound_id),
                message_seq: 0,
                participant_id: String::new(),
                recipient: email,
                status: DeliveryStatus::Pending,
                envelope_from: rendered.envelope_from,
                raw_message: Some(rendered.raw),
                trace_context: conversations_telemetry::traceparent(),
            };
            let now = chrono::Utc::now();
            return Ok(Some(store.record_deliveries(
                &[row],
                |_| Vec::new(),
                feed_position,
                now,
            )?));
        }
        Some(Payload::AddressUnsuppressed(lifted)) => {
            store
                .unsuppress_address(&envelope.app_id, &lifted.email.trim().to_ascii_lowercase())?;
            return Ok(Some(0));
        }
        _ => return Ok(None),
    };
    let rows = message_deliveries(config, store, &envelope, message)?;
    let now = chrono::Utc::now();
    Ok(Some(store.record_deliveries(
        &rows,
        |inserted| announce(inserted, now),
        feed_position,
        now,
    )?))
}

/// The deliveries a posted message calls for, one per recipient: rendered for those to
/// mail, marked muted or suppressed for the others. Read-only: nothing is recorded yet.
pub(crate) fn message_deliveries(
    config: &NotifierConfig,
    store: &NotifierStore,
    envelope: &conversations_events::v1::Envelope,
    message: &conversations_events::v1::MessagePosted,
) -> Result<Vec<NewDelivery>, HandleError> {
    let codec = ReplyAddressCodec::new(
        secrecy::ExposeSecret::expose_secret(&config.reply_secret).to_vec(),
        config.reply_domain.clone(),
    );
    let links = conversations_domain::sign_in_link::LinkCodec::new(
        secrecy::ExposeSecret::expose_secret(&config.reply_secret),
    );
    let ctx = ComposeContext {
        codec: &codec,
        reply_domain: &config.reply_domain,
        public_url: &config.public_url,
        links: &links,
        links_expire_at: chrono::DateTime::from_timestamp(
            chrono::Utc::now().timestamp() + config.link_ttl.as_secs() as i64,
            0,
        )
        .unwrap_or_else(chrono::Utc::now),
    };
    let mut rows = Vec::with_capacity(message.recipients.len());
    let trace_context = conversations_telemetry::traceparent();
    let to_mail: Vec<&str> = message
        .recipients
        .iter()
        .filter(|r| !r.muted)
        .map(|r| r.email.as_str())
        .collect();
    let suppressed = store.suppressed_among(&envelope.app_id, &to_mail)?;
    for recipient in &message.recipients {
        let (status, rendered) = if recipient.muted {
            crate::metrics::mail("muted");
            (DeliveryStatus::Muted, None)
        } else if suppressed.contains(&recipient.email) {
            crate::metrics::mail("suppressed");
            (DeliveryStatus::Suppressed, None)
        } else {
            let rendered = render(&ctx, envelope, message, recipient)
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
            trace_context: trace_context.clone(),
        });
    }
    Ok(rows)
}

/// The events about newly recorded deliveries that will not be mailed (muted,
/// suppressed); mailed ones are announced when they are sent.
pub(crate) fn announce(
    inserted: &[&NewDelivery],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<conversations_db::OutboxEvent> {
    inserted
        .iter()
        .filter_map(|d| {
            let outcome = match d.status {
                DeliveryStatus::Muted => Outcome::Muted,
                DeliveryStatus::Suppressed => Outcome::Suppressed,
                _ => return None,
            };
            Some(notification_event(notification_of(d), outcome, 0, now))
        })
        .collect()
}

fn notification_of(d: &NewDelivery) -> Notification<'_> {
    Notification {
        app_id: &d.app_id,
        conversation_id: &d.conversation_id,
        message_seq: d.message_seq,
        participant_id: &d.participant_id,
        recipient: &d.recipient,
    }
}

/// The consuming half of the notifier.
pub struct Consumer {
    /// Settings.
    pub config: Arc<NotifierConfig>,
    /// Where deliveries are recorded.
    pub store: NotifierStore,
    /// Wakes the sender when new deliveries are recorded.
    pub send_wake: Arc<Notify>,
    /// Whether the broker is reachable.
    pub health: Arc<SinkHealth>,
    /// Events handled and acknowledged (or, from the outbox, recorded) so far: evidence
    /// for tests and operators that a (re)delivered event was consumed.
    pub handled: Arc<AtomicU64>,
}

impl Consumer {
    /// Handles a batch of events in order on a blocking thread ([`handle_batch`]), and
    /// wakes the sender when deliveries were recorded.
    async fn record_batch(&self, events: Vec<BatchEvent>) -> Vec<Handled> {
        let n = events.len();
        let (config, store) = (self.config.clone(), self.store.clone());
        let results = tokio::task::spawn_blocking(move || handle_batch(&config, &store, &events))
            .await
            .unwrap_or_else(|e| {
                (0..n)
                    .map(|_| Err(HandleError::Store(DbError::Unavailable(e.to_string()))))
                    .collect()
            });
        if results.iter().any(|r| matches!(r, Ok(Some(n)) if *n > 0)) {
            self.send_wake.notify_one();
        }
        results
    }

    /// All-in-one: follows conversation-api's outbox from the position recorded here,
    /// woken by its relay (and once a second regardless). An event is handled until it
    /// succeeds: the position only moves with what was recorded, so nothing is skipped; an
    /// event that can never be handled (undecodable) is logged and passed over.
    pub async fn follow(self, outbox: Outbox, head: watch::Receiver<i64>) {
        self.health.set(true);
        conversations_bus::in_process::follow("notifier: conversation-api's outbox", head, || {
            self.follow_once(&outbox)
        })
        .await;
    }

    /// Handles one page of the feed; true when there may be more.
    async fn follow_once(&self, outbox: &Outbox) -> Result<bool, DbError> {
        const PAGE: usize = 500;
        let store = self.store.clone();
        let feed = outbox.clone();
        let rows = tokio::task::spawn_blocking(move || {
            let after = store.feed_position_or_start_at(feed.head()?)?;
            feed.events_after(after, PAGE)
        })
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))??;
        let Some(last) = rows.last().map(|r| r.position) else {
            return Ok(false);
        };
        let full = rows.len() >= PAGE;
        let count = rows.len() as u64;
        let events: Vec<BatchEvent> = rows
            .into_iter()
            .filter(|row| HANDLED.contains(&row.event_type.as_str()))
            .map(|row| BatchEvent {
                span: conversations_bus::process_span(
                    "outbox",
                    &row.event_type,
                    &row.event_id,
                    row.trace_context.as_deref(),
                ),
                feed_position: Some(row.position),
                payload: row.payload,
            })
            .collect();
        let positions: Vec<Option<i64>> = events.iter().map(|e| e.feed_position).collect();
        for (handled, position) in self.record_batch(events).await.into_iter().zip(positions) {
            match handled {
                Ok(_) => {}
                Err(HandleError::Poison(reason)) => {
                    tracing::error!(?position, %reason, "skipping event that can never be processed");
                }
                Err(HandleError::Store(e)) => return Err(e),
            }
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.skip_to(last))
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        self.handled.fetch_add(count, Ordering::Relaxed);
        Ok(full)
    }

    /// All-in-one: follows inbound-mail's outbox (its `address_*` events) from the
    /// position recorded under [`crate::store::SUPPRESSIONS_CHECKPOINT`], woken by its
    /// relay. The events set state (suppressed or not), so applying one again after a
    /// crash between applying and recording the position changes nothing.
    pub async fn follow_suppressions(self, outbox: Outbox, head: watch::Receiver<i64>) {
        conversations_bus::in_process::follow("notifier: inbound-mail's outbox", head, || {
            self.follow_suppressions_once(&outbox)
        })
        .await;
    }

    async fn follow_suppressions_once(&self, outbox: &Outbox) -> Result<bool, DbError> {
        const PAGE: usize = 500;
        let (store, feed, config) = (self.store.clone(), outbox.clone(), self.config.clone());
        let (more, recorded) =
            tokio::task::spawn_blocking(move || -> Result<(bool, usize), DbError> {
                let after = store.checkpoint(crate::store::SUPPRESSIONS_CHECKPOINT)?;
                let rows = feed.events_after(after, PAGE)?;
                let Some(last) = rows.last().map(|r| r.position) else {
                    return Ok((false, 0));
                };
                let mut recorded = 0;
                for row in &rows {
                    let span = conversations_bus::process_span(
                        "inbound outbox",
                        &row.event_type,
                        &row.event_id,
                        row.trace_context.as_deref(),
                    );
                    match span.in_scope(|| handle_event(&config, &store, &row.payload, None)) {
                        Ok(new) => recorded += new.unwrap_or(0),
                        Err(HandleError::Poison(reason)) => {
                            tracing::error!(position = row.position, %reason, "skipping inbound event that can never be processed");
                        }
                        Err(HandleError::Store(e)) => return Err(e),
                    }
                }
                store.set_checkpoint(crate::store::SUPPRESSIONS_CHECKPOINT, last)?;
                Ok((rows.len() >= PAGE, recorded))
            })
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        // A rejection notice was recorded: the sender sends it now.
        if recorded > 0 {
            self.send_wake.notify_one();
        }
        Ok(more)
    }

    /// Production: consumes the durable queue (the shared loop of `conversations_bus`:
    /// reconnects, acks after the deliveries are recorded) until `stop` turns true; the
    /// event being recorded then is finished and acknowledged first.
    pub async fn run_amqp(self, stop: watch::Receiver<bool>) {
        let settings = ConsumerSettings {
            name: "notifier",
            url: self
                .config
                .amqp_url
                .as_ref()
                .map(|u| u.expose().to_owned())
                .unwrap_or_default(),
            exchange: self.config.exchange.clone(),
            queue: self.config.queue.clone(),
            routing_keys: HANDLED,
            delivery_limit: self.config.delivery_limit,
            // Bounded work in flight per consumer (the rest stays in the queue for other
            // replicas); what has arrived is recorded in one transaction.
            prefetch: u16::try_from(self.config.batch_size * 2).unwrap_or(u16::MAX),
            batch_size: self.config.batch_size,
            connect_timeout: Duration::from_secs(10),
        };
        let health = self.health.clone();
        conversations_bus::consume::run(&settings, &self, &health, stop).await;
    }
}

impl Handler for Consumer {
    /// Records the batch's deliveries in one transaction where it can ([`handle_batch`]);
    /// acknowledged after the commit.
    async fn handle(&self, batch: &[Received<'_>]) -> Vec<Disposition> {
        let events = batch
            .iter()
            .map(|event| BatchEvent {
                payload: event.data.to_vec(),
                span: event.span.clone(),
                feed_position: None,
            })
            .collect();
        self.record_batch(events)
            .await
            .into_iter()
            .map(|handled| match handled {
                Ok(_) => {
                    self.handled.fetch_add(1, Ordering::Relaxed);
                    Disposition::Processed
                }
                Err(HandleError::Poison(reason)) => Disposition::DeadLetter(reason),
                Err(HandleError::Store(e)) => Disposition::Retry(e.to_string()),
            })
            .collect()
    }
}
