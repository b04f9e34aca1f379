//! Erasing the mails of deleted conversations, and (all-in-one) the position in
//! conversation-api's outbox up to which deletions were read.

use chrono::Utc;
use conversations_db::{AnyConnection, DbError};
use diesel::prelude::*;

use super::schema::{
    im_checkpoint as checkpoint, im_deleted_conversations as deleted, im_inbound as log,
};
use super::{InboundStore, LogEntry, naive};

/// The one row of `im_checkpoint`.
const CHECKPOINT_ROW: i32 = 1;

/// Whether `conversation` was deleted.
pub(super) fn is_deleted(conn: &mut AnyConnection, conversation: &str) -> Result<bool, DbError> {
    let n: i64 = deleted::table
        .filter(deleted::conversation_id.eq(conversation))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// `entry` without what it says, for a mail of a conversation deleted meanwhile.
pub(super) fn scrubbed(entry: &LogEntry) -> LogEntry {
    LogEntry {
        sender: String::new(),
        subject: String::new(),
        reason: format!("{} (conversation deleted since)", entry.reason),
        details: super::Details::default(),
        raw_message: None,
        ..entry.clone()
    }
}

impl InboundStore {
    /// Deletes every logged mail of `conversation` and remembers that it was deleted.
    /// Returns how many mails went.
    pub fn erase_conversation(&self, conversation: &str) -> Result<usize, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            if !is_deleted(conn, conversation)? {
                diesel::insert_into(deleted::table)
                    .values((
                        deleted::conversation_id.eq(conversation),
                        deleted::deleted_at.eq(naive(Utc::now())),
                    ))
                    .execute(conn)?;
            }
            Ok(
                diesel::delete(log::table.filter(log::conversation_id.eq(conversation)))
                    .execute(conn)?,
            )
        })
    }

    /// All-in-one: the outbox position deletions were read up to; the first start records
    /// `head` (deletions before inbound-mail existed concern no mail of its own).
    pub fn checkpoint_or_start_at(&self, head: i64) -> Result<i64, DbError> {
        if let Some(position) = self.checkpoint()? {
            return Ok(position);
        }
        self.set_checkpoint(head)?;
        Ok(head)
    }

    /// The recorded position, if any.
    pub fn checkpoint(&self) -> Result<Option<i64>, DbError> {
        let mut conn = self.conn()?;
        Ok(checkpoint::table
            .filter(checkpoint::id.eq(CHECKPOINT_ROW))
            .select(checkpoint::feed_position)
            .first(&mut *conn)
            .optional()?)
    }

    /// Records `position` (never moving back).
    pub fn set_checkpoint(&self, position: i64) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let current: Option<i64> = checkpoint::table
                .filter(checkpoint::id.eq(CHECKPOINT_ROW))
                .select(checkpoint::feed_position)
                .first(conn)
                .optional()?;
            match current {
                Some(current) if current >= position => {}
                Some(_) => {
                    diesel::update(checkpoint::table.filter(checkpoint::id.eq(CHECKPOINT_ROW)))
                        .set(checkpoint::feed_position.eq(position))
                        .execute(conn)?;
                }
                None => {
                    diesel::insert_into(checkpoint::table)
                        .values((
                            checkpoint::id.eq(CHECKPOINT_ROW),
                            checkpoint::feed_position.eq(position),
                        ))
                        .execute(conn)?;
                }
            }
            Ok(())
        })
    }
}
