//! Sending due deliveries with bounded concurrency, recording how each ended as soon as it
//! ends.
//!
//! Exactly once, as far as SMTP allows: a mail's outcome is written the moment the server
//! has answered, by a recorder that groups whatever outcomes are waiting into one
//! transaction (the writes are batched, not the window). A send holds one of
//! `SMTP_CONNECTIONS` permits until its outcome is recorded, so at any instant at most
//! that many mails are at the server or accepted and not yet recorded: a crash repeats at
//! most those. Their claim expires after `NOTIFIER_CLAIM_TIMEOUT_SECS` and they are sent
//! again, with the same `Message-ID`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use conversations_db::{DbError, OutboxEvent};
use futures_util::StreamExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tracing::Instrument;

use crate::config::NotifierConfig;
use crate::events::{Notification, Outcome, notification_event};
use crate::mailer::{Mailer, SendError};
use crate::store::{Delivery, DeliveryOutcome, NotifierStore};

/// Outcomes written per transaction at most.
const RECORD_BATCH: usize = 256;

/// The sending half of the notifier.
pub struct Sender {
    /// Settings.
    pub config: Arc<NotifierConfig>,
    /// Deliveries.
    pub store: NotifierStore,
    /// SMTP or files.
    pub mailer: Arc<Mailer>,
    /// Notified when deliveries are recorded.
    pub wake: Arc<Notify>,
    /// Notified when notification events are in the notifier's outbox.
    pub relay_wake: Arc<Notify>,
    /// Becomes true when the notifier is stopping: the round in progress finishes (its
    /// mails sent and recorded), no new one starts.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// One finished send, ready to be recorded.
struct Finished {
    id: String,
    outcome: DeliveryOutcome,
    /// The `notification_*` event (none for rejection notices).
    event: Option<OutboxEvent>,
    /// Released once the outcome is recorded, letting the next mail go.
    permit: Option<OwnedSemaphorePermit>,
}

impl Sender {
    /// Runs until stopped (see [`Sender::stopping`]) or aborted.
    pub async fn run(self) {
        loop {
            if *self.stopping.borrow() {
                return;
            }
            match self.round().await {
                Ok(0) => {
                    let wait = self.idle_wait().await;
                    let mut stopping = self.stopping.clone();
                    let stop_asked = async move {
                        // Without a sender left (the notifier dropped, not stopped) it
                        // never says stop: wait for the timer alone.
                        if stopping.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(wait, self.wake.notified()) => {}
                        () = stop_asked => {}
                    }
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
    pub async fn round(&self) -> Result<usize, DbError> {
        let claimer = uuid::Uuid::now_v7().to_string();
        let store = self.store.clone();
        let batch = self.config.smtp_connections * 8;
        let who = claimer.clone();
        let lease = chrono::Duration::from_std(self.config.claim_timeout)
            .unwrap_or_else(|_| chrono::Duration::minutes(2));
        let claimed = tokio::task::spawn_blocking(move || {
            store.claim_due_deliveries(&who, Utc::now(), lease, batch)
        })
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))??;
        if claimed.is_empty() {
            return Ok(0);
        }
        let attempted = claimed.len();
        let (finished, outcomes) = mpsc::unbounded_channel();
        let mailer = self.mailer.clone();
        let unrecorded = Arc::new(Semaphore::new(self.config.smtp_connections));
        let sending = futures_util::stream::iter(claimed)
            .map(|d| {
                let mailer = mailer.clone();
                let unrecorded = unrecorded.clone();
                async move {
                    // Waits while SMTP_CONNECTIONS mails are sent and not yet recorded.
                    let permit = unrecorded.acquire_owned().await.ok();
                    let span = send_span(&d);
                    let sent = match &d.raw_message {
                        Some(raw) => {
                            mailer
                                .send(&d.id, &d.envelope_from, &d.recipient, raw)
                                .instrument(span.clone())
                                .await
                        }
                        None => Err(SendError::Permanent("nothing to send".into())),
                    };
                    (d, sent, permit, span)
                }
            })
            .buffer_unordered(self.config.smtp_connections)
            // The stream owns the channel's sender: when the last send ends, the stream is
            // dropped and the recorder stops after writing what is left.
            .for_each(move |(d, sent, permit, span)| {
                // The notifier's own event about the send continues the send's trace.
                let mut done = span.in_scope(|| self.finish(&d, sent));
                done.permit = permit;
                let _ = finished.send(done);
                futures_util::future::ready(())
            });
        tokio::join!(sending, self.record(&claimer, outcomes));
        Ok(attempted)
    }

    /// What a send's result means for the delivery, and the event that says so.
    fn finish(&self, d: &Delivery, sent: Result<String, SendError>) -> Finished {
        let now = Utc::now();
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
        if matches!(outcome, DeliveryOutcome::Failed { .. }) {
            tracing::Span::current().record("otel.status_code", "ERROR");
        }
        crate::metrics::mail(match &outcome {
            DeliveryOutcome::Sent { .. } => "sent",
            DeliveryOutcome::Retry { .. } => "retried",
            DeliveryOutcome::Failed { .. } => "failed",
        });
        let event_outcome = match &outcome {
            DeliveryOutcome::Sent { reply } => Outcome::Sent(reply),
            DeliveryOutcome::Retry { reply, at } => Outcome::Deferred(reply, *at),
            DeliveryOutcome::Failed { reply } => {
                // The address (and the SMTP reply, which often repeats it) only at debug:
                // warn-level logs are shipped and kept; the delivery id finds the rest.
                let code: String = reply.chars().take(3).collect();
                tracing::warn!(delivery = %d.id, smtp.code = %code, "notification failed");
                tracing::debug!(delivery = %d.id, recipient = %d.recipient, %reply, "notification failed");
                Outcome::Failed(reply)
            }
        };
        let notification = Notification {
            app_id: &d.app_id,
            conversation_id: &d.conversation_id,
            message_seq: d.message_seq,
            participant_id: &d.participant_id,
            recipient: &d.recipient,
        };
        // Rejection notices are not notifications of a message: nobody's event.
        let event = (!crate::notice::is_notice(&d.conversation_id))
            .then(|| notification_event(notification, event_outcome, d.attempts, now));
        Finished {
            id: d.id.clone(),
            outcome,
            event,
            permit: None,
        }
    }

    /// Writes outcomes as they arrive, grouping those already waiting into one
    /// transaction; holds them (retrying) while the database is unavailable.
    async fn record(&self, claimer: &str, mut outcomes: mpsc::UnboundedReceiver<Finished>) {
        let mut waiting = Vec::with_capacity(RECORD_BATCH);
        while outcomes.recv_many(&mut waiting, RECORD_BATCH).await > 0 {
            let results: Vec<(String, DeliveryOutcome)> = waiting
                .iter()
                .map(|f| (f.id.clone(), f.outcome.clone()))
                .collect();
            let mut permits = Vec::with_capacity(waiting.len());
            let events: Vec<OutboxEvent> = waiting
                .drain(..)
                .filter_map(|f| {
                    permits.push(f.permit);
                    f.event
                })
                .collect();
            let (results, events) = (Arc::new(results), Arc::new(events));
            let mut backoff = Duration::from_millis(50);
            loop {
                let store = self.store.clone();
                let (r, e, who) = (results.clone(), events.clone(), claimer.to_owned());
                let written = tokio::task::spawn_blocking(move || {
                    store.finish_deliveries(&who, &r, &e, Utc::now())
                })
                .await
                .map_err(|e| DbError::Unavailable(e.to_string()))
                .and_then(|r| r);
                match written {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, pending = results.len(), "cannot record sent notifications yet; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            // Recorded: the next mails may go.
            drop(permits);
            self.relay_wake.notify_one();
        }
    }
}

/// The SMTP send of one traced notification, a client span continuing the trace of the
/// event it notifies of; `Span::none()` for an untraced one.
fn send_span(d: &Delivery) -> tracing::Span {
    let Some(parent) = d.trace_context.as_deref() else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        "smtp send",
        otel.name = "smtp send",
        otel.kind = "client",
        network.protocol.name = "smtp",
        delivery.id = %d.id,
        delivery.attempt = d.attempts,
        otel.status_code = tracing::field::Empty,
    );
    conversations_telemetry::continue_trace(&span, Some(parent));
    span
}
