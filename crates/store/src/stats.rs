//! Row counts, for operators (`conversations admin stats`) and for tests that check that a
//! refused request wrote nothing.

use diesel::prelude::*;

use crate::connection::Store;
use crate::error::StoreError;
use crate::schema::{conversations, messages, outbox, participants};

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Conversations (all applications).
    pub conversations: i64,
    /// Participants.
    pub participants: i64,
    /// Messages.
    pub messages: i64,
    /// Outbox events, published or not.
    pub outbox: i64,
}

impl Store {
    /// Counts rows of the main tables.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let mut conn = self.conn()?;
        Ok(Counts {
            conversations: conversations::table.count().get_result(&mut *conn)?,
            participants: participants::table.count().get_result(&mut *conn)?,
            messages: messages::table.count().get_result(&mut *conn)?,
            outbox: outbox::table.count().get_result(&mut *conn)?,
        })
    }
}
