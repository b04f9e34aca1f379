//! Writing conversation-api's outbox rows inside its transactions; sequencing, publishing
//! and reading them is the shared [`conversations_db::Outbox`]'s job.

use chrono::{DateTime, Utc};
use conversations_db::OutboxEvent;

use crate::connection::OUTBOX_TABLE;
use crate::error::StoreError;
use conversations_db::AnyConnection;

pub(crate) fn insert_outbox(
    conn: &mut AnyConnection,
    events: &[OutboxEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    Ok(conversations_db::outbox::insert(
        conn,
        OUTBOX_TABLE,
        events,
        now,
    )?)
}
