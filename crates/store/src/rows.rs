//! Database rows and their conversion to and from domain types. Timestamps are stored as
//! UTC without zone; ids as UUID text (portable across both backends).

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_domain::conversation::Recipient;
use conversations_domain::{
    AppId, Conversation, ConversationId, ConversationKind, DisplayName, EmailAddress, ExternalId,
    Participant, ParticipantId, Subject,
};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::schema::{conversations, messages, participants};

pub(crate) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn parse_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} `{raw}` is not a UUID")))
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = conversations)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct ConversationRow {
    pub id: String,
    pub app_id: String,
    pub kind: String,
    pub subject: Option<String>,
    pub owner_email: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
    pub message_count: i64,
    pub pinned_message: Option<i64>,
}

impl ConversationRow {
    pub fn from_domain(c: &Conversation, updated_at: DateTime<Utc>) -> Self {
        Self {
            id: c.id.to_string(),
            app_id: c.app_id.to_string(),
            kind: c.kind.as_str().to_owned(),
            subject: c.subject.as_ref().map(|s| s.as_str().to_owned()),
            owner_email: c.owner.as_ref().map(|s| s.as_str().to_owned()),
            created_at: naive(c.created_at),
            updated_at: naive(updated_at),
            version: to_i64(c.version),
            message_count: to_i64(c.message_count),
            pinned_message: c.pinned_message.map(to_i64),
        }
    }

    pub fn into_domain(
        self,
        participants: Vec<ParticipantRow>,
    ) -> Result<Conversation, StoreError> {
        Ok(Conversation {
            id: parse_id::<ConversationId>("conversation id", &self.id)?,
            app_id: parse_id::<AppId>("application id", &self.app_id)?,
            kind: ConversationKind::parse("kind", &self.kind)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            subject: self.subject.map(Subject::from_trusted),
            owner: self.owner_email.map(EmailAddress::from_trusted),
            created_at: utc(self.created_at),
            version: to_u64(self.version),
            message_count: to_u64(self.message_count),
            pinned_message: self.pinned_message.map(to_u64),
            participants: participants
                .into_iter()
                .map(ParticipantRow::into_domain)
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = participants)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct ParticipantRow {
    pub id: String,
    pub conversation_id: String,
    pub position: i64,
    pub email: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub joined_at: NaiveDateTime,
    pub left_at: Option<NaiveDateTime>,
    pub last_read_seq: i64,
    pub muted: bool,
    pub pinned: bool,
    pub archived_at: Option<NaiveDateTime>,
    pub last_opened_at: Option<NaiveDateTime>,
}

impl ParticipantRow {
    pub fn from_domain(conversation: ConversationId, position: usize, p: &Participant) -> Self {
        Self {
            id: p.id.to_string(),
            conversation_id: conversation.to_string(),
            position: i64::try_from(position).unwrap_or(i64::MAX),
            email: p.email.as_str().to_owned(),
            display_name: p.display_name.as_ref().map(|n| n.as_str().to_owned()),
            external_id: p.external_id.as_ref().map(|n| n.as_str().to_owned()),
            joined_at: naive(p.joined_at),
            left_at: p.left_at.map(naive),
            last_read_seq: to_i64(p.last_read_seq),
            muted: p.muted,
            pinned: p.pinned,
            archived_at: p.archived_at.map(naive),
            last_opened_at: p.last_opened_at.map(naive),
        }
    }

    pub fn into_domain(self) -> Result<Participant, StoreError> {
        Ok(Participant {
            id: parse_id::<ParticipantId>("participant id", &self.id)?,
            email: EmailAddress::from_trusted(self.email),
            display_name: self.display_name.map(DisplayName::from_trusted),
            external_id: self.external_id.map(ExternalId::from_trusted),
            joined_at: utc(self.joined_at),
            left_at: self.left_at.map(utc),
            last_read_seq: to_u64(self.last_read_seq),
            muted: self.muted,
            pinned: self.pinned,
            archived_at: self.archived_at.map(utc),
            last_opened_at: self.last_opened_at.map(utc),
        })
    }
}

/// A recipient as stored in `messages.recipients` (a JSON array).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RecipientJson {
    pub participant_id: String,
    pub email: String,
    pub muted: bool,
}

impl RecipientJson {
    pub fn from_domain(r: &Recipient) -> Self {
        Self {
            participant_id: r.participant_id.to_string(),
            email: r.email.as_str().to_owned(),
            muted: r.muted,
        }
    }

    pub fn into_domain(self) -> Result<Recipient, StoreError> {
        Ok(Recipient {
            participant_id: parse_id("participant id", &self.participant_id)?,
            email: EmailAddress::from_trusted(self.email),
            muted: self.muted,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub(crate) struct MessageRow {
    pub seq: i64,
    pub sender_id: String,
    pub sender_email: String,
    pub sender_name: Option<String>,
    pub body: String,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub recipients: String,
    pub inbound_id: Option<String>,
    pub trimmed_text: Option<String>,
}
