//! What an event means for the inbox, decided without I/O: [`plan`] turns a decoded
//! envelope into an [`Update`] that the store applies. Every event carries the state of the
//! conversation and of the participants it concerns *after* that event, stamped with the
//! conversation's sequence number; the store keeps, per row, the newest state it has seen,
//! so duplicates change nothing and a stale event never overwrites newer state.

use chrono::{DateTime, Utc};
use conversations_events::Timestamp;
use conversations_events::v1::{self, envelope::Payload};
use data_encoding::HEXLOWER;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Characters of a message kept as the inbox preview.
pub const PREVIEW_CHARS: usize = 140;

/// Sources whose messages always count as unread: people writing, through the API or by
/// email. Other sources count only when the application lists them.
pub const PEOPLE_SOURCES: [&str; 2] = ["api", "email"];

/// The source integrators post call events with.
pub const CALL_SOURCE: &str = "call";

/// Contact ids: the stable id of a contact (a person within one application) is the first
/// 32 hex digits of HMAC-SHA-256, keyed with the projection's secret, over the application
/// id and the lower-cased address. Keyed, because participant tokens see other people's
/// contact ids: an unkeyed hash would let them confirm a guessed address offline. Every
/// replica reads the same key from the database, so URLs work whichever one answers.
#[derive(Clone)]
pub struct ContactIds {
    key: std::sync::Arc<[u8]>,
}

impl std::fmt::Debug for ContactIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactIds(<secret key>)")
    }
}

impl ContactIds {
    /// Ids keyed with `key` (the projection's secret).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.into() }
    }

    /// The id of `email` in `app_id`.
    pub fn id(&self, app_id: &str, email: &str) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(app_id.as_bytes());
        mac.update(b"\n");
        mac.update(email.to_lowercase().as_bytes());
        HEXLOWER.encode(&mac.finalize().into_bytes())[..32].to_owned()
    }
}

/// A call event, posted by integrators as a message with source `call` whose text starts
/// with the kind (`started`, `ended` or `missed`), optionally followed by free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A call began; it is ongoing until an `ended` or `missed` call message follows.
    Started,
    /// The call ended.
    Ended,
    /// Nobody picked up: a missed call for every participant who has not read past it.
    Missed,
}

impl CallKind {
    /// The kind of a call message's text; `None` when it names none of them.
    pub fn parse(text: &str) -> Option<Self> {
        let word = text
            .split(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == '.')
            .find(|w| !w.is_empty())?
            .to_ascii_lowercase();
        match word.as_str() {
            "started" => Some(Self::Started),
            "ended" => Some(Self::Ended),
            "missed" => Some(Self::Missed),
            _ => None,
        }
    }
}

/// The conversation as of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    /// `group` or `personal`.
    pub kind: String,
    /// `None` until set.
    pub subject: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// One participant as of the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantState {
    /// Their contact id.
    pub contact_id: String,
    /// Their address (lower-case).
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The integrator's id.
    pub external_id: Option<String>,
    /// False once they left.
    pub active: bool,
    /// No notifications.
    pub muted: bool,
    /// Pinned in their inbox.
    pub pinned: bool,
    /// When they archived it.
    pub archived_at: Option<DateTime<Utc>>,
    /// When they last opened it.
    pub last_opened_at: Option<DateTime<Utc>>,
    /// Their read marker.
    pub read_seq: u64,
}

/// A posted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    /// Its number in the conversation.
    pub seq: u64,
    /// The author's contact id.
    pub sender_contact: String,
    /// The author's display name.
    pub sender_name: Option<String>,
    /// `api`, `email`, `call`, or an integrator's source.
    pub source: String,
    /// The text.
    pub text: String,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// For messages with source `call`: which call event.
    pub call: Option<CallKind>,
    /// Whom the message notifies: (participant id, address, muted).
    pub recipients: Vec<(String, String, bool)>,
}

impl PostedMessage {
    /// The inbox preview: the first line-folded [`PREVIEW_CHARS`] characters.
    pub fn preview(&self) -> String {
        let folded: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut preview: String = folded.chars().take(PREVIEW_CHARS).collect();
        if folded.chars().count() > PREVIEW_CHARS {
            preview.push('…');
        }
        preview
    }
}

/// What one event changes in the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// An application key to accept (`application_key_issued`).
    KeyIssued {
        /// The application.
        app_id: String,
        /// Its name.
        app_name: String,
        /// Hex SHA-256 of the key.
        key_hash: String,
    },
    /// An application key to refuse from now on (`application_key_revoked`).
    KeyRevoked {
        /// Hex SHA-256 of the key.
        key_hash: String,
    },
    /// A conversation event.
    Conversation(Box<ConversationUpdate>),
    /// What happened to one notification email (the notifier's events).
    Delivery(DeliveryUpdate),
    /// Nothing for the inbox (e.g. `notification_failed`).
    Ignore,
}

/// Where one notification stands, as the delivery-status API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not sent yet (the notifier has it, or has not seen the message yet).
    Pending,
    /// A transient failure; it is tried again.
    Retry,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good.
    Failed,
    /// Not sent: the address bounced before.
    Suppressed,
    /// Not sent: the recipient muted the conversation.
    Muted,
}

impl DeliveryState {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retry => "retry",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Muted => "muted",
        }
    }

    /// Events may arrive in any order (two outboxes, redeliveries): a state only replaces
    /// one of lower rank, or of the same rank below final (a later retry).
    pub fn rank(self) -> i32 {
        match self {
            Self::Pending => 0,
            Self::Retry => 1,
            Self::Sent | Self::Failed | Self::Suppressed | Self::Muted => 2,
        }
    }
}

/// One notification's new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// The application.
    pub app_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The message's number.
    pub message_seq: u64,
    /// The recipient's participant id.
    pub participant_id: String,
    /// The recipient's address.
    pub recipient: String,
    /// The state.
    pub state: DeliveryState,
    /// Send attempts so far.
    pub attempts: u32,
    /// The SMTP server's last reply, or why nothing was sent.
    pub smtp_reply: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// A conversation event, reduced to states and facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationUpdate {
    /// The application.
    pub app_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The conversation's sequence number after the event.
    pub seq: u64,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// The conversation's state after it.
    pub conversation: ConversationState,
    /// The participants whose state the event carries.
    pub participants: Vec<ParticipantState>,
    /// The message, for `message_posted`.
    pub message: Option<PostedMessage>,
    /// True for `conversation_deleted`.
    pub deleted: bool,
}

/// Why an event cannot be projected (it is dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event cannot be projected: {0}")]
pub struct PlanError(pub String);

fn time(t: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn participant(ids: &ContactIds, app_id: &str, p: &v1::Participant) -> ParticipantState {
    let email = p.email.to_lowercase();
    ParticipantState {
        contact_id: ids.id(app_id, &email),
        email,
        display_name: non_empty(&p.display_name),
        external_id: non_empty(&p.external_id),
        active: p.active,
        muted: p.muted,
        pinned: p.pinned,
        archived_at: time(p.archived_at.as_ref()),
        last_opened_at: time(p.last_opened_at.as_ref()),
        read_seq: p.last_read_seq,
    }
}

/// Decides what `envelope` changes in the inbox.
pub fn plan(envelope: &v1::Envelope, ids: &ContactIds) -> Result<Update, PlanError> {
    let payload = envelope
        .payload
        .as_ref()
        .ok_or_else(|| PlanError("no payload".into()))?;
    let app_id = envelope.app_id.clone();
    if app_id.is_empty() {
        return Err(PlanError("no app_id".into()));
    }
    let (info, participants, message, deleted) = match payload {
        Payload::ApplicationKeyRevoked(k) => {
            if k.key_hash.len() != 64 {
                return Err(PlanError("key_hash is not a hex SHA-256".into()));
            }
            return Ok(Update::KeyRevoked {
                key_hash: k.key_hash.clone(),
            });
        }
        Payload::ApplicationKeyIssued(k) => {
            if k.key_hash.len() != 64 {
                return Err(PlanError("key_hash is not a hex SHA-256".into()));
            }
            return Ok(Update::KeyIssued {
                app_id,
                app_name: k.application_name.clone(),
                key_hash: k.key_hash.clone(),
            });
        }
        Payload::NotificationFailed(e) => {
            let outcome = v1::NotificationOutcome {
                message_seq: e.message_seq,
                message_id: e.message_id.clone(),
                recipient: e.recipient.clone(),
                smtp_reply: e.smtp_reply.clone(),
                attempts: e.attempts,
                next_attempt_at: None,
            };
            return delivery(envelope, &outcome, DeliveryState::Failed);
        }
        Payload::NotificationSent(e) => return delivery(envelope, e, DeliveryState::Sent),
        Payload::NotificationDeferred(e) => return delivery(envelope, e, DeliveryState::Retry),
        Payload::NotificationSuppressed(e) => {
            return delivery(envelope, e, DeliveryState::Suppressed);
        }
        Payload::NotificationMuted(e) => return delivery(envelope, e, DeliveryState::Muted),
        // The suppression list is inbound-mail's and the notifier's business.
        Payload::AddressSuppressed(_)
        | Payload::AddressUnsuppressed(_)
        | Payload::RejectionNotice(_) => {
            return Ok(Update::Ignore);
        }
        Payload::ConversationCreated(e) => (e.conversation.as_ref(), vec![], None, false),
        Payload::ParticipantAdded(e) => (
            e.conversation.as_ref(),
            e.participant.iter().collect(),
            None,
            false,
        ),
        Payload::ParticipantRemoved(e) => (
            e.conversation.as_ref(),
            e.participant.iter().collect(),
            None,
            false,
        ),
        Payload::ConversationUpdated(e) => (
            e.conversation.as_ref(),
            e.participant.iter().collect(),
            None,
            false,
        ),
        Payload::ConversationRead(e) => (
            e.conversation.as_ref(),
            e.participant.iter().collect(),
            None,
            false,
        ),
        Payload::ConversationDeleted(e) => (e.conversation.as_ref(), vec![], None, true),
        Payload::MessagePosted(e) => {
            let sender = e
                .sender
                .as_ref()
                .ok_or_else(|| PlanError("message without sender".into()))?;
            let created_at =
                time(e.created.as_ref()).ok_or_else(|| PlanError("message without time".into()))?;
            let message = PostedMessage {
                seq: e.message_seq,
                sender_contact: ids.id(&app_id, &sender.email),
                sender_name: non_empty(&sender.display_name),
                source: e.source.clone(),
                text: e.text.clone(),
                created_at,
                call: (e.source == CALL_SOURCE)
                    .then(|| CallKind::parse(&e.text))
                    .flatten(),
                recipients: e
                    .recipients
                    .iter()
                    .map(|r| (r.participant_id.clone(), r.email.clone(), r.muted))
                    .collect(),
            };
            let people = std::iter::once(sender).chain(&e.recipients).collect();
            (e.conversation.as_ref(), people, Some(message), false)
        }
    };
    let info = info.ok_or_else(|| PlanError("no conversation state".into()))?;
    if envelope.conversation_id.is_empty() || envelope.conversation_seq == 0 {
        return Err(PlanError("no conversation id or sequence".into()));
    }
    let occurred_at =
        time(envelope.occurred_at.as_ref()).ok_or_else(|| PlanError("no occurred_at".into()))?;
    Ok(Update::Conversation(Box::new(ConversationUpdate {
        conversation: ConversationState {
            kind: info.kind.clone(),
            subject: non_empty(&info.subject),
            created_at: time(info.created_at.as_ref()).unwrap_or(occurred_at),
        },
        participants: participants
            .into_iter()
            .map(|p| participant(ids, &app_id, p))
            .collect(),
        app_id,
        conversation_id: envelope.conversation_id.clone(),
        seq: envelope.conversation_seq,
        occurred_at,
        message,
        deleted,
    })))
}

/// A notifier event as a delivery update.
fn delivery(
    envelope: &v1::Envelope,
    e: &v1::NotificationOutcome,
    state: DeliveryState,
) -> Result<Update, PlanError> {
    let recipient = e
        .recipient
        .as_ref()
        .ok_or_else(|| PlanError("notification without recipient".into()))?;
    if envelope.conversation_id.is_empty() || e.message_seq == 0 {
        return Err(PlanError(
            "notification without conversation or message".into(),
        ));
    }
    let at =
        time(envelope.occurred_at.as_ref()).ok_or_else(|| PlanError("no occurred_at".into()))?;
    Ok(Update::Delivery(DeliveryUpdate {
        app_id: envelope.app_id.clone(),
        conversation_id: envelope.conversation_id.clone(),
        message_seq: e.message_seq,
        participant_id: recipient.participant_id.clone(),
        recipient: recipient.email.clone(),
        state,
        attempts: e.attempts,
        smtp_reply: non_empty(&e.smtp_reply),
        at,
    }))
}

#[cfg(test)]
mod tests;
