//! The transactional outbox, for every service that publishes events (conversation-api's
//! `outbox`, the notifier's `nt_outbox`): events are inserted in the same transaction as
//! the change they describe, then *sequenced* and published by the relay.
//!
//! Positions follow commit order. A row's serial `id` is taken when its transaction
//! inserts it, not when it commits, so under concurrent commits a lower id can become
//! visible after a higher one has been read. The feed therefore never pages by `id`: the
//! single relay holding the lease gives committed rows their `position` (1, 2, 3 …, counted
//! in the lease row so pruning never makes it restart), under a lock on the lease row, and
//! readers page by position. A row gets a position only once it is visible, and positions
//! are handed out in transactions that commit one after the other, so a reader that has
//! seen position N has seen every position below N.
//!
//! What has been published is one number in the lease row, `published_position`: the relay
//! publishes in position order and the broker confirms a prefix, so everything at or below
//! it is out. (Marking each row instead cost an `UPDATE` of every row, a second new version
//! of it and two more indexes to maintain: a third of the outbox's cost under load.)

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Nullable, Text, Timestamp};

use crate::connection::{AnyConnection, Db};
use crate::error::DbError;
use crate::statement::{Statement, Value, rows_per_statement};

/// An event to be published, as a service writes it with its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// UUIDv7 of the event (the AMQP message id).
    pub event_id: String,
    /// The application it belongs to.
    pub app_id: String,
    /// The conversation it belongs to (empty for application events).
    pub conversation_id: String,
    /// The conversation's version after the event (0 when not part of its history).
    pub conversation_seq: u64,
    /// The event type (routing key).
    pub event_type: String,
    /// The encoded protobuf envelope.
    pub payload: Vec<u8>,
    /// The W3C `traceparent` of the work that wrote the event (None when tracing is off),
    /// so the relay and every consumer continue that trace.
    pub trace_context: Option<String>,
}

/// A sequenced outbox row: what the relay publishes and the feed serves.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct OutboxRow {
    /// Position in commit order; the feed's cursor.
    #[diesel(sql_type = BigInt)]
    pub position: i64,
    /// UUIDv7 of the event.
    #[diesel(sql_type = Text)]
    pub event_id: String,
    /// The application it belongs to.
    #[diesel(sql_type = Text)]
    pub app_id: String,
    /// The conversation it belongs to.
    #[diesel(sql_type = Text)]
    pub conversation_id: String,
    /// The conversation's version after the event.
    #[diesel(sql_type = BigInt)]
    pub conversation_seq: i64,
    /// The event type (routing key).
    #[diesel(sql_type = Text)]
    pub event_type: String,
    /// The encoded protobuf envelope.
    #[diesel(sql_type = Binary)]
    pub payload: Vec<u8>,
    /// When it was written.
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    /// The W3C `traceparent` it was written under, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub trace_context: Option<String>,
}

impl OutboxRow {
    /// When the event was written.
    pub fn created_at_utc(&self) -> DateTime<Utc> {
        self.created_at.and_utc()
    }
}

#[derive(QueryableByName)]
struct LeaseRow {
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = Timestamp)]
    expires_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    last_position: i64,
}

/// The published watermark of a lease table, as a scalar subquery.
fn published(lease: &str) -> String {
    format!("(SELECT published_position FROM {lease} WHERE id = 1)")
}

/// Events deleted per pruning statement.
const PRUNE_SLICE: usize = 5_000;

const ROW_COLUMNS: &str = "position, event_id, app_id, conversation_id, conversation_seq, event_type, payload, created_at, trace_context";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Appends `INSERT INTO <table> (…) VALUES (…), …` of `events` to `statement`: the main
/// statement after a data-modifying `WITH` (PostgreSQL), so a change and its events are
/// written by one statement, one round trip and one commit. At most
/// [`rows_per_statement`]`(8)` events.
pub fn push_insert<'a>(
    statement: &mut Statement<'a>,
    table: &str,
    events: &'a [OutboxEvent],
    now: DateTime<Utc>,
) {
    let now = now.naive_utc();
    statement.end_list(&format!(
        "INSERT INTO {table} (event_id, app_id, conversation_id, conversation_seq, \
         event_type, payload, created_at, trace_context) VALUES "
    ));
    for e in events {
        statement.row(&[
            Value::Text(&e.event_id),
            Value::Text(&e.app_id),
            Value::Text(&e.conversation_id),
            Value::Int(to_i64(e.conversation_seq)),
            Value::Text(&e.event_type),
            Value::Bytes(&e.payload),
            Value::Time(now),
            Value::OptText(e.trace_context.as_deref()),
        ]);
    }
}

/// Inserts `events` into the outbox table `table` inside the caller's transaction, so they
/// commit (or not) with the change they describe.
pub fn insert(
    conn: &mut AnyConnection,
    table: &str,
    events: &[OutboxEvent],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    for chunk in events.chunks(rows_per_statement(8)) {
        let mut insert = Statement::new("");
        push_insert(&mut insert, table, chunk, now);
        // One event (a post's usual case) has a fixed shape: kept prepared.
        if chunk.len() == 1 {
            insert.execute_prepared(conn)?;
        } else {
            insert.execute(conn)?;
        }
    }
    Ok(())
}

/// One service's outbox: the table of events and the lease row of its relay.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Db,
    table: &'static str,
    lease: &'static str,
}

/// What one sequencing step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequenced {
    /// Another relay holds the lease.
    NotHolder,
    /// This many rows got positions; the last position handed out so far is `head`.
    Positions {
        /// Rows sequenced by this step.
        count: usize,
        /// The highest position of the outbox after this step.
        head: i64,
    },
}

impl Outbox {
    /// The outbox in `table`, with its relay's lease (and position counter) in `lease`.
    pub fn new(db: Db, table: &'static str, lease: &'static str) -> Self {
        Self { db, table, lease }
    }

    /// The outbox table's name (for inserts inside a service's own transactions).
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// Takes or renews the relay lease for `holder` until `now + ttl` and, when held, gives
    /// up to `limit` committed, not yet sequenced rows their positions, in id order. With
    /// `published` the rows also count as published (the in-process bus of the all-in-one,
    /// whose consumers read the outbox itself).
    pub fn sequence(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        limit: usize,
        published: bool,
    ) -> Result<Sequenced, DbError> {
        let _guard = self.db.write_guard();
        let mut conn = self.db.conn()?;
        let sqlite = self.db.is_sqlite();
        conn.transaction(|conn| {
            // The row lock serialises sequencing steps, so positions are handed out in
            // transactions that commit in order (SQLite: the write guard does that).
            let lock = if sqlite { "" } else { " FOR UPDATE" };
            if !sqlite {
                // Every row leaves the `unsequenced` partial index's predicate once it is
                // sequenced, leaving a dead entry behind until VACUUM. A plain index scan
                // marks those entries dead as it passes them (and btree then removes them
                // on its own); a bitmap scan, which the planner picks on stale statistics,
                // visits each of their heap pages on every step instead: 26 ms a step
                // after 12,000 events, growing until autovacuum comes by.
                Statement::new("SET LOCAL enable_bitmapscan = off").execute(conn)?;
            }
            let lease: Option<LeaseRow> = Statement::new(format!(
                "SELECT holder, expires_at, last_position FROM {} WHERE id = 1{lock}",
                self.lease
            ))
            .load(conn)?
            .pop();
            let Some(lease) = lease else {
                return Err(DbError::Corrupt(format!("{} has no lease row", self.lease)));
            };
            if lease.holder != holder && lease.expires_at >= now.naive_utc() {
                return Ok(Sequenced::NotHolder);
            }
            let mut assign =
                Statement::new(format!("UPDATE {} SET position = ? + r.rn", self.table));
            assign.bind(Value::Int(lease.last_position));
            assign
                .push(&format!(
                    " FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM {t} \
                     WHERE position IS NULL ORDER BY id LIMIT ?) AS r WHERE {t}.id = r.id",
                    t = self.table
                ))
                .bind(Value::Int(to_limit(limit)));
            let count = assign.execute_prepared(conn)?;
            let head = lease.last_position + i64::try_from(count).unwrap_or(0);
            let mut renew = Statement::new(format!(
                "UPDATE {} SET holder = ?, expires_at = ?, last_position = ?",
                self.lease
            ));
            renew
                .bind(Value::Text(holder))
                .bind(Value::Time((now + ttl).naive_utc()))
                .bind(Value::Int(head));
            if published {
                renew
                    .push(", published_position = ?")
                    .bind(Value::Int(head));
            }
            renew.push(" WHERE id = 1").execute_prepared(conn)?;
            Ok(Sequenced::Positions { count, head })
        })
    }

    /// The oldest sequenced but unpublished events, in position order.
    pub fn unpublished(&self, limit: usize) -> Result<Vec<OutboxRow>, DbError> {
        let mut conn = self.db.conn()?;
        Ok(Statement::new(format!(
            "SELECT {ROW_COLUMNS} FROM {} WHERE position > {} ORDER BY position LIMIT ?",
            self.table,
            published(self.lease)
        ))
        .bind(Value::Int(to_limit(limit)))
        .load(&mut conn)?)
    }

    /// How many events wait to be published and when the oldest of them was written: the
    /// backlog operators watch (it grows while the broker is away).
    pub fn backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
        #[derive(QueryableByName)]
        struct Backlog {
            #[diesel(sql_type = BigInt)]
            waiting: i64,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
            oldest: Option<chrono::NaiveDateTime>,
        }
        let mut conn = self.db.conn()?;
        let row: Option<Backlog> = Statement::new(format!(
            "SELECT COUNT(*) AS waiting, MIN(created_at) AS oldest FROM \
             (SELECT created_at FROM {t} WHERE position IS NULL \
              UNION ALL SELECT created_at FROM {t} WHERE position > {w}) AS waiting",
            t = self.table,
            w = published(self.lease)
        ))
        .load(&mut conn)?
        .pop();
        Ok(row.map_or((0, None), |r| (r.waiting, r.oldest.map(|t| t.and_utc()))))
    }

    /// Records that every event up to position `up_to` is published (the broker confirmed
    /// them, in order). Never moves the watermark back.
    pub fn mark_published(&self, up_to: i64) -> Result<(), DbError> {
        let _guard = self.db.write_guard();
        let mut conn = self.db.conn()?;
        Statement::new(format!(
            "UPDATE {} SET published_position = ? WHERE id = 1 AND published_position < ?",
            self.lease
        ))
        .bind(Value::Int(up_to))
        .bind(Value::Int(up_to))
        .execute_prepared(&mut conn)?;
        Ok(())
    }

    /// Sequenced events after position `after`, in position order: the feed in-process
    /// consumers and catching-up replicas read.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRow>, DbError> {
        let mut conn = self.db.conn()?;
        Ok(Statement::new(format!(
            "SELECT {ROW_COLUMNS} FROM {} WHERE position > ? ORDER BY position LIMIT ?",
            self.table
        ))
        .bind(Value::Int(after))
        .bind(Value::Int(to_limit(limit)))
        .load(&mut conn)?)
    }

    /// The lowest position still kept; when every sequenced event was pruned, the next
    /// position to come (so a reader below it knows it missed events).
    pub fn oldest(&self) -> Result<i64, DbError> {
        #[derive(QueryableByName)]
        struct Oldest {
            #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
            position: Option<i64>,
        }
        let rows: Vec<Oldest> = Statement::new(format!(
            "SELECT MIN(position) AS position FROM {}",
            self.table
        ))
        .load(&mut *self.db.conn()?)?;
        // (The connection is back in the pool before `head` takes one.)
        match rows.into_iter().next().and_then(|r| r.position) {
            Some(position) => Ok(position),
            None => Ok(self.head()? + 1),
        }
    }

    /// The highest position handed out so far (0 before the first).
    pub fn head(&self) -> Result<i64, DbError> {
        let mut conn = self.db.conn()?;
        let lease: Option<LeaseRow> = Statement::new(format!(
            "SELECT holder, expires_at, last_position FROM {} WHERE id = 1",
            self.lease
        ))
        .load(&mut conn)?
        .pop();
        Ok(lease.map_or(0, |l| l.last_position))
    }

    /// Deletes published events written before `before` and at or below position `up_to`
    /// (the lowest position an in-process consumer still needs); returns how many.
    ///
    /// Works from the oldest position in slices of [`PRUNE_SLICE`] and stops at the first
    /// slice that holds a newer event: positions follow commit order, so what comes after is
    /// newer too (give or take one transaction's duration), and a run never reads the whole
    /// retained feed.
    pub fn prune(&self, before: DateTime<Utc>, up_to: i64) -> Result<usize, DbError> {
        let mut total = 0;
        loop {
            let _guard = self.db.write_guard();
            let mut conn = self.db.conn()?;
            let deleted = Statement::new(format!(
                "DELETE FROM {t} WHERE position IN (SELECT position FROM {t} \
                 WHERE position <= {w} AND position <= ? ORDER BY position LIMIT ?) \
                 AND created_at < ?",
                t = self.table,
                w = published(self.lease)
            ))
            .bind(Value::Int(up_to))
            .bind(Value::Int(to_limit(PRUNE_SLICE)))
            .bind(Value::Time(before.naive_utc()))
            .execute(&mut conn)?;
            total += deleted;
            if deleted < PRUNE_SLICE {
                return Ok(total);
            }
        }
    }
}
