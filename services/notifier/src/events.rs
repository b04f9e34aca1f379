//! The notifier's own events: what happened to one notification email. They are written
//! to the notifier's outbox in the same transaction as the delivery change they describe,
//! and its relay publishes them (RabbitMQ with confirms, or the all-in-one's outbox feed),
//! so metadata-query can serve each message's delivery status without reading our tables.

use chrono::{DateTime, Utc};
use conversations_db::OutboxEvent;
use conversations_events::v1::{self, envelope::Payload};

/// One notification (a message to one recipient), as the events name it.
#[derive(Debug, Clone, Copy)]
pub struct Notification<'a> {
    /// The application.
    pub app_id: &'a str,
    /// The conversation.
    pub conversation_id: &'a str,
    /// The message's number.
    pub message_seq: u64,
    /// The recipient's participant id.
    pub participant_id: &'a str,
    /// The recipient's address.
    pub recipient: &'a str,
}

/// What happened to it.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// Accepted by the SMTP server with this reply.
    Sent(&'a str),
    /// Failed for good.
    Failed(&'a str),
    /// Failed for now; tried again at the given time.
    Deferred(&'a str, DateTime<Utc>),
    /// Not sent: the address is suppressed (it bounced before).
    Suppressed,
    /// Not sent: the recipient muted the conversation.
    Muted,
}

use conversations_bus::event::timestamp;

/// The outbox event telling other services that `n` ended (for now) as `outcome`.
pub fn notification_event(
    n: Notification<'_>,
    outcome: Outcome<'_>,
    attempts: u32,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let recipient = Some(v1::Participant {
        participant_id: n.participant_id.to_owned(),
        email: n.recipient.to_owned(),
        ..Default::default()
    });
    let message_id = format!("{}.{}", n.conversation_id, n.message_seq);
    let detail = |reply: &str, next: Option<DateTime<Utc>>| v1::NotificationOutcome {
        message_seq: n.message_seq,
        message_id: message_id.clone(),
        recipient: recipient.clone(),
        smtp_reply: reply.to_owned(),
        attempts,
        next_attempt_at: next.map(timestamp),
    };
    let (event_type, payload) = match outcome {
        Outcome::Sent(reply) => (
            "notification_sent",
            Payload::NotificationSent(detail(reply, None)),
        ),
        Outcome::Deferred(reply, at) => (
            "notification_deferred",
            Payload::NotificationDeferred(detail(reply, Some(at))),
        ),
        Outcome::Suppressed => (
            "notification_suppressed",
            Payload::NotificationSuppressed(detail("address suppressed after a bounce", None)),
        ),
        Outcome::Muted => (
            "notification_muted",
            Payload::NotificationMuted(detail("recipient muted the conversation", None)),
        ),
        Outcome::Failed(reply) => (
            "notification_failed",
            Payload::NotificationFailed(v1::NotificationFailed {
                message_seq: n.message_seq,
                message_id: message_id.clone(),
                recipient: recipient.clone(),
                smtp_reply: reply.to_owned(),
                attempts,
            }),
        ),
    };
    conversations_bus::outbox_event(
        conversations_bus::EventHeader {
            event_type,
            app_id: n.app_id,
            conversation_id: n.conversation_id,
            conversation_seq: 0,
        },
        now,
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_become_typed_events_that_decode() {
        let n = Notification {
            app_id: "app",
            conversation_id: "conv",
            message_seq: 3,
            participant_id: "p",
            recipient: "fred@example.com",
        };
        let now = Utc::now();
        for (outcome, kind) in [
            (Outcome::Sent("250 ok"), "notification_sent"),
            (Outcome::Failed("550 no"), "notification_failed"),
            (Outcome::Deferred("451 later", now), "notification_deferred"),
            (Outcome::Suppressed, "notification_suppressed"),
            (Outcome::Muted, "notification_muted"),
        ] {
            let event = notification_event(n, outcome, 1, now);
            assert_eq!(event.event_type, kind);
            let envelope = conversations_events::decode(&event.payload).unwrap();
            assert_eq!(envelope.r#type, kind);
            assert_eq!(envelope.conversation_id, "conv");
        }
    }
}
