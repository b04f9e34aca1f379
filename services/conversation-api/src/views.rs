//! Response bodies. The seed's fields come first with the seed's meaning (`id`,
//! `created`, `subject`, `participants` as addresses, `messages`, `sender`, `text`,
//! `notifications`); our additions follow.

use chrono::{DateTime, Utc};
use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_domain::{Conversation, Message, Participant};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"conversation": {...}}`, as the seed wraps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEnvelope {
    /// The conversation.
    pub conversation: ConversationView,
}

/// A conversation with (a page of) its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    /// Conversation id.
    pub id: String,
    /// When it was created (RFC 3339).
    pub created: DateTime<Utc>,
    /// Subject; absent until set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Addresses of the current participants, sorted.
    pub participants: Vec<String>,
    /// Messages, oldest first (a page of them when `next_cursor` is set).
    pub messages: Vec<MessageView>,
    /// Pass as `?cursor=` to get the next page of messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// `group` or `personal`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The owner's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Number of messages in the conversation.
    pub message_count: u64,
    /// The pinned message's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_message: Option<u64>,
    /// Everyone who is or was in it, with their own state and reply address.
    pub participant_details: Vec<ParticipantView>,
}

/// One participant in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// Participant id (stable across leaving and re-joining).
    pub id: String,
    /// Their address.
    pub email: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The integrator's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Their personal reply address for this conversation (HMAC-signed).
    pub reply_to: String,
    /// False once they have left.
    pub active: bool,
    /// When they (last) joined.
    pub joined_at: DateTime<Utc>,
    /// When they left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_at: Option<DateTime<Utc>>,
    /// Number of the last message they read.
    pub last_read: u64,
    /// Messages after their read marker.
    pub unread: u64,
    /// No email notifications.
    pub muted: bool,
    /// Pinned in their inbox.
    pub pinned: bool,
    /// When they archived it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<DateTime<Utc>>,
    /// When they last opened it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_opened_at: Option<DateTime<Utc>>,
}

/// One message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// `{conversation id}.{number}`.
    pub id: String,
    /// When it was posted.
    pub created: DateTime<Utc>,
    /// The author's address.
    pub sender: String,
    /// The body.
    pub text: String,
    /// Addresses notified by email (everyone but the sender, except muted ones).
    pub notifications: Vec<String>,
    /// Its number in the conversation.
    pub seq: u64,
    /// The author's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// `api`, `email` or an integrator's source.
    pub source: String,
    /// For a message that came by email: its entry in the incoming log
    /// (`GET /api/v1/inbound/{id}` shows what was trimmed from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_id: Option<String>,
    /// For a message that came by email: what reply extraction cut from the mail (quoted
    /// history, signature), participants' addresses masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trimmed_text: Option<String>,
}

/// A single message out of context (`GET /conversations/{id}/{n}`) or a freshly posted
/// one: the seed adds the conversation's participants.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageWithParticipants {
    /// The message.
    #[serde(flatten)]
    pub message: MessageView,
    /// Addresses of the conversation's current participants, sorted.
    pub participants: Vec<String>,
}

/// `GET /conversations/{id}/messages`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// Messages, oldest first.
    pub messages: Vec<MessageView>,
    /// Pass as `?cursor=` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Builds views; holds what every view needs besides the data.
pub struct Views<'a> {
    /// Signs reply addresses.
    pub codec: &'a ReplyAddressCodec,
}

/// Addresses of the active participants, sorted as the seed shows them.
pub fn participant_emails(c: &Conversation) -> Vec<String> {
    let mut emails: Vec<String> = c
        .active_participants()
        .map(|p| p.email.as_str().to_owned())
        .collect();
    emails.sort();
    emails
}

/// The message's public id.
pub fn message_id(c: &Conversation, seq: u64) -> String {
    format!("{}.{}", c.id, seq)
}

impl Views<'_> {
    /// A whole conversation view.
    pub fn conversation(
        &self,
        c: &Conversation,
        messages: &[Message],
        next_cursor: Option<String>,
    ) -> ConversationEnvelope {
        ConversationEnvelope {
            conversation: ConversationView {
                id: c.id.to_string(),
                created: c.created_at,
                subject: c.subject.as_ref().map(|s| s.as_str().to_owned()),
                participants: participant_emails(c),
                messages: messages.iter().map(|m| self.message(c, m)).collect(),
                next_cursor,
                kind: c.kind.as_str(),
                owner: c.owner.as_ref().map(|o| o.as_str().to_owned()),
                message_count: c.message_count,
                pinned_message: c.pinned_message,
                participant_details: c
                    .participants
                    .iter()
                    .map(|p| self.participant(c, p))
                    .collect(),
            },
        }
    }

    /// One participant in detail.
    pub fn participant(&self, c: &Conversation, p: &Participant) -> ParticipantView {
        ParticipantView {
            id: p.id.to_string(),
            email: p.email.as_str().to_owned(),
            name: p.display_name.as_ref().map(|n| n.as_str().to_owned()),
            external_id: p.external_id.as_ref().map(|n| n.as_str().to_owned()),
            reply_to: self.codec.encode(c.app_id, c.id, p.id),
            active: p.is_active(),
            joined_at: p.joined_at,
            left_at: p.left_at,
            last_read: p.last_read_seq,
            unread: p.unread(c.message_count),
            muted: p.muted,
            pinned: p.pinned,
            archived_at: p.archived_at,
            last_opened_at: p.last_opened_at,
        }
    }

    /// One message.
    pub fn message(&self, c: &Conversation, m: &Message) -> MessageView {
        MessageView {
            id: message_id(c, m.seq),
            created: m.created_at,
            sender: m.sender_email.as_str().to_owned(),
            text: m.text.as_str().to_owned(),
            notifications: m.notified().map(|e| e.as_str().to_owned()).collect(),
            seq: m.seq,
            sender_name: m.sender_name.as_ref().map(|n| n.as_str().to_owned()),
            source: m.source.as_str().to_owned(),
            inbound_id: m.inbound_id.map(|id| id.to_string()),
            trimmed_text: m.trimmed_text.as_ref().map(|t| t.as_str().to_owned()),
        }
    }

    /// A message with the conversation's participants.
    pub fn message_with_participants(
        &self,
        c: &Conversation,
        m: &Message,
    ) -> MessageWithParticipants {
        MessageWithParticipants {
            message: self.message(c, m),
            participants: participant_emails(c),
        }
    }
}
