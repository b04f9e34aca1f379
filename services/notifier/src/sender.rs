//! Sending due deliveries with bounded concurrency and recording how each ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use conversations_events::v1::{self, envelope::Payload};
use conversations_events::{ProtoMessage, SCHEMA_VERSION};
use conversations_store::{Delivery, DeliveryOutcome, OutboxEvent, Store};
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::config::NotifierConfig;
use crate::mailer::{Mailer, SendError};

/// How long a claimed delivery stays ours before another sender may take it over.
const LEASE: Duration = Duration::from_secs(120);

/// The sending half of the notifier.
pub struct Sender {
    /// Settings.
    pub config: Arc<NotifierConfig>,
    /// Deliveries.
    pub store: Store,
    /// SMTP or files.
    pub mailer: Arc<Mailer>,
    /// Notified when deliveries are recorded.
    pub wake: Arc<Notify>,
    /// Notified when `notification_failed` events are in the outbox.
    pub relay_wake: Arc<Notify>,
}

impl Sender {
    /// Runs until aborted.
    pub async fn run(self) {
        loop {
            match self.round().await {
                Ok(0) => {
                    let wait = self.idle_wait().await;
                    let _ = tokio::time::timeout(wait, self.wake.notified()).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "notifier sender failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Until the next retry falls due, at most a second (other replicas record too).
    async fn idle_wait(&self) -> Duration {
        let store = self.store.clone();
        let next = tokio::task::spawn_blocking(move || store.next_delivery_due()).await;
        match next {
            Ok(Ok(Some(at))) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        }
    }

    /// Sends one batch of due deliveries; returns how many were attempted.
    pub async fn round(&self) -> Result<usize, conversations_store::StoreError> {
        let claimer = uuid::Uuid::now_v7().to_string();
        let store = self.store.clone();
        let batch = self.config.smtp_connections * 8;
        let who = claimer.clone();
        let lease =
            chrono::Duration::from_std(LEASE).unwrap_or_else(|_| chrono::Duration::minutes(2));
        let claimed = tokio::task::spawn_blocking(move || {
            store.claim_due_deliveries(&who, Utc::now(), lease, batch)
        })
        .await
        .map_err(|e| conversations_store::StoreError::Unavailable(e.to_string()))??;
        if claimed.is_empty() {
            return Ok(0);
        }
        let attempted = claimed.len();
        let mailer = self.mailer.clone();
        let results: Vec<(Delivery, Result<String, SendError>)> =
            futures_util::stream::iter(claimed)
                .map(|d| {
                    let mailer = mailer.clone();
                    async move {
                        let sent = match &d.raw_message {
                            Some(raw) => {
                                mailer
                                    .send(&d.id, &d.envelope_from, &d.recipient, raw)
                                    .await
                            }
                            None => Err(SendError::Permanent("nothing to send".into())),
                        };
                        (d, sent)
                    }
                })
                .buffer_unordered(self.config.smtp_connections)
                .collect()
                .await;
        let now = Utc::now();
        let mut outcomes = Vec::with_capacity(results.len());
        let mut events = Vec::new();
        for (d, sent) in results {
            let outcome = match sent {
                Ok(reply) => DeliveryOutcome::Sent { reply },
                Err(SendError::Transient(reply)) if d.attempts < self.config.max_attempts => {
                    let factor = 2u32.saturating_pow(d.attempts.saturating_sub(1).min(16));
                    let delay = self
                        .config
                        .retry_base
                        .saturating_mul(factor)
                        .min(Duration::from_secs(6 * 3600));
                    tracing::info!(delivery = %d.id, attempts = d.attempts, %reply, "transient failure; will retry");
                    DeliveryOutcome::Retry {
                        reply,
                        at: now
                            + chrono::Duration::from_std(delay)
                                .unwrap_or_else(|_| chrono::Duration::hours(1)),
                    }
                }
                Err(SendError::Transient(reply)) => DeliveryOutcome::Failed {
                    reply: format!("gave up after {} attempts: {reply}", d.attempts),
                },
                Err(SendError::Permanent(reply)) => DeliveryOutcome::Failed { reply },
            };
            if let DeliveryOutcome::Failed { reply } = &outcome {
                tracing::warn!(delivery = %d.id, recipient = %d.recipient, %reply, "notification failed");
                events.push(failed_event(&d, reply, now));
            }
            outcomes.push((d.id.clone(), outcome));
        }
        let store = self.store.clone();
        let has_events = !events.is_empty();
        tokio::task::spawn_blocking(move || {
            store.finish_deliveries(&claimer, &outcomes, &events, now)
        })
        .await
        .map_err(|e| conversations_store::StoreError::Unavailable(e.to_string()))??;
        if has_events {
            self.relay_wake.notify_one();
        }
        Ok(attempted)
    }
}

/// The `notification_failed` event for a delivery that failed for good.
fn failed_event(d: &Delivery, reply: &str, now: chrono::DateTime<Utc>) -> OutboxEvent {
    let event_id = uuid::Uuid::now_v7().to_string();
    let envelope = v1::Envelope {
        event_id: event_id.clone(),
        r#type: "notification_failed".into(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        app_id: d.app_id.clone(),
        conversation_id: d.conversation_id.clone(),
        conversation_seq: 0,
        schema_version: SCHEMA_VERSION,
        payload: Some(Payload::NotificationFailed(v1::NotificationFailed {
            message_seq: d.message_seq,
            message_id: format!("{}.{}", d.conversation_id, d.message_seq),
            recipient: Some(v1::Participant {
                participant_id: d.participant_id.clone(),
                email: d.recipient.clone(),
                ..Default::default()
            }),
            smtp_reply: reply.to_owned(),
        })),
    };
    OutboxEvent {
        event_id,
        app_id: d.app_id.clone(),
        conversation_id: d.conversation_id.clone(),
        conversation_seq: 0,
        event_type: "notification_failed".into(),
        payload: envelope.encode_to_vec(),
    }
}
