//! Reading messages: one by number, or a page after a cursor, optionally by source.

use conversations_domain::{
    ConversationId, DisplayName, EmailAddress, Message, MessageText, Source,
};
use diesel::prelude::*;

use crate::connection::Store;
use crate::error::StoreError;
use crate::rows::{MessageRow, RecipientJson, parse_id, to_i64, to_u64, utc};
use crate::schema::messages;

/// A message as read back (the domain's own type).
pub type StoredMessage = Message;

/// One page of messages in order, with where the next page starts.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// The messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// The number of the last message on this page when more follow.
    pub next_after: Option<u64>,
}

impl MessageRow {
    fn into_domain(self) -> Result<Message, StoreError> {
        let recipients: Vec<RecipientJson> = serde_json::from_str(&self.recipients)
            .map_err(|e| StoreError::Corrupt(format!("message recipients: {e}")))?;
        Ok(Message {
            seq: to_u64(self.seq),
            sender: parse_id("sender id", &self.sender_id)?,
            sender_email: EmailAddress::from_trusted(self.sender_email),
            sender_name: self.sender_name.map(DisplayName::from_trusted),
            text: MessageText::from_trusted(self.body),
            source: Source::from_trusted(self.source),
            inbound_id: self
                .inbound_id
                .map(|id| parse_id("inbound id", &id))
                .transpose()?,
            trimmed_text: self.trimmed_text.map(MessageText::from_trusted),
            created_at: utc(self.created_at),
            recipients: recipients
                .into_iter()
                .map(RecipientJson::into_domain)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Store {
    /// One message by its number.
    pub fn message(
        &self,
        conversation: ConversationId,
        seq: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut conn = self.conn()?;
        messages::table
            .filter(messages::conversation_id.eq(conversation.to_string()))
            .filter(messages::seq.eq(to_i64(seq)))
            .select(MessageRow::as_select())
            .first(&mut *conn)
            .optional()?
            .map(MessageRow::into_domain)
            .transpose()
    }

    /// Up to `limit` messages numbered after `after`, oldest first; only those from the
    /// given sources when `sources` is not empty.
    pub fn messages(
        &self,
        conversation: ConversationId,
        after: u64,
        limit: usize,
        sources: &[String],
    ) -> Result<MessagePage, StoreError> {
        let mut conn = self.conn()?;
        let mut query = messages::table
            .filter(messages::conversation_id.eq(conversation.to_string()))
            .filter(messages::seq.gt(to_i64(after)))
            .select(MessageRow::as_select())
            .order(messages::seq.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
            .into_boxed();
        if !sources.is_empty() {
            query = query.filter(messages::source.eq_any(sources.to_vec()));
        }
        let mut rows = query.load(&mut *conn)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let messages: Vec<Message> = rows
            .into_iter()
            .map(MessageRow::into_domain)
            .collect::<Result<_, _>>()?;
        let next_after = more.then(|| messages.last().map(|m| m.seq)).flatten();
        Ok(MessagePage {
            messages,
            next_after,
        })
    }
}
