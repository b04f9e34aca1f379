//! The transactional outbox: events are written with the change they describe and
//! published later by the relay, which marks them only after the broker confirmed.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::connection::{AnyConnection, Store};
use crate::error::StoreError;
use crate::rows::{naive, to_i64, utc};
use crate::schema::{outbox, outbox_lease};

/// An event to be published, as written by [`Store::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// UUIDv7 of the event (the AMQP message id).
    pub event_id: String,
    /// The application it belongs to.
    pub app_id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// The conversation's version after the event.
    pub conversation_seq: u64,
    /// The event type (routing key).
    pub event_type: String,
    /// The encoded protobuf envelope.
    pub payload: Vec<u8>,
}

/// An outbox row waiting to be published, in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    /// Position in the outbox; publishing in this order keeps each conversation's order.
    pub id: i64,
    /// UUIDv7 of the event.
    pub event_id: String,
    /// The application it belongs to.
    pub app_id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// The conversation's version after the event.
    pub conversation_seq: i64,
    /// The event type (routing key).
    pub event_type: String,
    /// The encoded protobuf envelope.
    pub payload: Vec<u8>,
    /// When it was written.
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewOutboxRow<'a> {
    event_id: &'a str,
    app_id: &'a str,
    conversation_id: &'a str,
    conversation_seq: i64,
    event_type: &'a str,
    payload: &'a [u8],
    created_at: chrono::NaiveDateTime,
}

pub(crate) fn insert_outbox(
    conn: &mut AnyConnection,
    events: &[OutboxEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for e in events {
        diesel::insert_into(outbox::table)
            .values(NewOutboxRow {
                event_id: &e.event_id,
                app_id: &e.app_id,
                conversation_id: &e.conversation_id,
                conversation_seq: to_i64(e.conversation_seq),
                event_type: &e.event_type,
                payload: &e.payload,
                created_at: naive(now),
            })
            .execute(conn)?;
    }
    Ok(())
}

impl Store {
    /// Takes or renews the relay lease for `holder` until `now + ttl`. Only the holder
    /// publishes, so replicas of conversation-api never interleave (and reorder) events.
    pub fn acquire_relay_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let taken = diesel::update(
            outbox_lease::table.filter(outbox_lease::id.eq(1)).filter(
                outbox_lease::holder
                    .eq(holder)
                    .or(outbox_lease::expires_at.lt(naive(now))),
            ),
        )
        .set((
            outbox_lease::holder.eq(holder),
            outbox_lease::expires_at.eq(naive(now + ttl)),
        ))
        .execute(&mut *conn)?;
        Ok(taken == 1)
    }

    /// The oldest unpublished events, in commit order.
    pub fn unpublished(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut conn = self.conn()?;
        Ok(outbox::table
            .filter(outbox::published_at.is_null())
            .order(outbox::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(OutboxRow::as_select())
            .load(&mut *conn)?)
    }

    /// Marks events published once the broker has confirmed them.
    pub fn mark_published(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
            .set(outbox::published_at.eq(naive(now)))
            .execute(&mut *conn)?;
        Ok(())
    }

    /// Every event after outbox position `after`, in commit order, published or not: the
    /// replay feed a new metadata-query replica catches up from. Events are retained after
    /// publishing for exactly this reason.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut conn = self.conn()?;
        Ok(outbox::table
            .filter(outbox::id.gt(after))
            .order(outbox::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .select(OutboxRow::as_select())
            .load(&mut *conn)?)
    }
}

impl OutboxRow {
    /// When the event was written.
    pub fn created_at_utc(&self) -> DateTime<Utc> {
        utc(self.created_at)
    }
}
