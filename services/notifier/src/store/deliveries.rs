//! The notifier's record of notification emails: one row per (message, recipient), so a
//! redelivered event never mails anyone twice, and a queue of due sends that survives
//! restarts (transient SMTP failures wait here for their retry, blocking nothing else).
//! Every change is written with the events that tell other services about it.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use conversations_db::statement::{Statement, Value, rows_per_statement};
use conversations_db::{AnyConnection, DbError, OutboxEvent};

use super::schema::{nt_checkpoint, nt_deleted_conversations, nt_deliveries as d, nt_outbox};
use super::{NotifierStore, OUTBOX_TABLE, naive, to_i64, to_u64, utc};

/// Where one notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting to be sent.
    Pending,
    /// Claimed by a sender; reclaimed if the sender dies.
    Sending,
    /// A transient failure; sent again at `next_attempt_at`.
    Retry,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good (5xx); `smtp_reply` says why.
    Failed,
    /// The recipient muted the conversation; nothing sent.
    Muted,
    /// The address bounced before; nothing sent.
    Suppressed,
}

impl DeliveryStatus {
    /// Name in the database and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Retry => "retry",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Muted => "muted",
            Self::Suppressed => "suppressed",
        }
    }

    fn parse(raw: &str) -> Result<Self, DbError> {
        Ok(match raw {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "retry" => Self::Retry,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "muted" => Self::Muted,
            "suppressed" => Self::Suppressed,
            other => return Err(DbError::Corrupt(format!("delivery status `{other}`"))),
        })
    }
}

/// A notification to record (rendered already when it is to be sent).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Application of the conversation.
    pub app_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The message's number.
    pub message_seq: u64,
    /// The recipient's participant id.
    pub participant_id: String,
    /// The recipient's address (SMTP `RCPT TO`).
    pub recipient: String,
    /// `Pending`, `Muted` or `Suppressed`.
    pub status: DeliveryStatus,
    /// SMTP `MAIL FROM` (the VERP bounce address).
    pub envelope_from: String,
    /// The complete RFC 5322 message; `None` when nothing is to be sent.
    pub raw_message: Option<Vec<u8>>,
    /// The W3C `traceparent` of the event's processing, continued by the SMTP send.
    pub trace_context: Option<String>,
}

/// A recorded notification.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Row id.
    pub id: String,
    /// Application of the conversation.
    pub app_id: String,
    /// The conversation.
    pub conversation_id: String,
    /// The message's number.
    pub message_seq: u64,
    /// The recipient's participant id.
    pub participant_id: String,
    /// The recipient's address.
    pub recipient: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Send attempts so far.
    pub attempts: u32,
    /// The last SMTP reply.
    pub smtp_reply: Option<String>,
    /// SMTP `MAIL FROM`.
    pub envelope_from: String,
    /// The message, while it still has to be sent.
    pub raw_message: Option<Vec<u8>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The trace the notification belongs to (W3C `traceparent`), if traced.
    pub trace_context: Option<String>,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = d)]
struct DeliveryRow {
    id: String,
    app_id: String,
    conversation_id: String,
    message_seq: i64,
    participant_id: String,
    recipient: String,
    status: String,
    attempts: i32,
    smtp_reply: Option<String>,
    envelope_from: String,
    raw_message: Option<Vec<u8>>,
    updated_at: NaiveDateTime,
    trace_context: Option<String>,
}

impl DeliveryRow {
    fn into_delivery(self) -> Result<Delivery, DbError> {
        Ok(Delivery {
            id: self.id,
            app_id: self.app_id,
            conversation_id: self.conversation_id,
            message_seq: to_u64(self.message_seq),
            participant_id: self.participant_id,
            recipient: self.recipient,
            status: DeliveryStatus::parse(&self.status)?,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            smtp_reply: self.smtp_reply,
            envelope_from: self.envelope_from,
            raw_message: self.raw_message,
            updated_at: utc(self.updated_at),
            trace_context: self.trace_context,
        })
    }
}

/// How a send ended.
#[derive(Debug, Clone)]
pub enum DeliveryOutcome {
    /// Accepted.
    Sent {
        /// The server's reply.
        reply: String,
    },
    /// Try again at `at`.
    Retry {
        /// The server's reply or the connection error.
        reply: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Refused for good.
    Failed {
        /// The server's reply.
        reply: String,
    },
}

/// `status IN ('pending', 'retry', 'sending')` written out, not bound: only then can
/// PostgreSQL use the partial index `nt_deliveries_due` (whose predicate it must prove
/// from the query), also in a prepared statement's generic plan. With a bound list the
/// claim scanned the whole table, growing with every mail ever sent.
fn is_open() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(OPEN)
}

/// The condition of a delivery still to be sent, as SQL.
const OPEN: &str = "status IN ('pending', 'retry', 'sending')";

impl NotifierStore {
    /// Records notifications, skipping those already recorded (a redelivered event), with
    /// `events(new rows)` describing the new ones and, when the events were read from a
    /// feed, its new position, all in one transaction. Returns how many were new.
    pub fn record_deliveries(
        &self,
        rows: &[NewDelivery],
        events: impl FnOnce(&[&NewDelivery]) -> Vec<OutboxEvent>,
        feed_position: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            let deleted: Vec<String> = nt_deleted_conversations::table
                .filter(
                    nt_deleted_conversations::conversation_id
                        .eq_any(rows.iter().map(|r| r.conversation_id.as_str())),
                )
                .select(nt_deleted_conversations::conversation_id)
                .load(conn)?;
            let candidates: Vec<&NewDelivery> = rows
                .iter()
                .filter(|r| !deleted.contains(&r.conversation_id))
                .collect();
            let mut new_keys: std::collections::HashSet<(String, i64, String)> =
                insert_new(conn, &candidates, now)?
                    .into_iter()
                    .map(|k| (k.conversation_id, k.message_seq, k.participant_id))
                    .collect();
            // In the order given, each once.
            let inserted: Vec<&NewDelivery> = candidates
                .into_iter()
                .filter(|r| {
                    new_keys.remove(&(
                        r.conversation_id.clone(),
                        to_i64(r.message_seq),
                        r.participant_id.clone(),
                    ))
                })
                .collect();
            conversations_db::outbox::insert(conn, OUTBOX_TABLE, &events(&inserted), now)?;
            if let Some(position) = feed_position {
                set_feed_position(conn, position)?;
            }
            Ok(inserted.len())
        })
    }

    /// Claims up to `limit` due notifications for `claimer` (unique per call) for `lease`;
    /// a claim not finished within the lease is due again (the sender died).
    pub fn claim_due_deliveries(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        if let AnyConnection::Postgresql(_) = &mut *conn {
            // One statement: the sender sends nothing while it claims, so a claim's
            // round trips are a pause in the mail flow. SKIP LOCKED: replicas claiming at
            // the same moment take different mails instead of waiting for each other.
            return Statement::new(format!(
                "UPDATE nt_deliveries SET status = 'sending', claimed_by = ?, \
                 next_attempt_at = ?, attempts = attempts + 1, updated_at = ? \
                 WHERE id IN (SELECT id FROM nt_deliveries WHERE {OPEN} \
                   AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ? \
                   FOR UPDATE SKIP LOCKED) \
                 RETURNING id, app_id, conversation_id, message_seq, participant_id, \
                   recipient, status, attempts, smtp_reply, envelope_from, raw_message, \
                   updated_at, trace_context"
            ))
            .bind(Value::Text(claimer))
            .bind(Value::Time(naive(now + lease)))
            .bind(Value::Time(naive(now)))
            .bind(Value::Time(naive(now)))
            .bind(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)))
            .load::<DeliveryRow>(&mut conn)?
            .into_iter()
            .map(DeliveryRow::into_delivery)
            .collect();
        }
        conn.transaction(|conn| {
            let due: Vec<String> = d::table
                .filter(is_open())
                .filter(d::next_attempt_at.le(naive(now)))
                .order(d::next_attempt_at.asc())
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .select(d::id)
                .load(conn)?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(
                d::table
                    .filter(d::id.eq_any(&due))
                    .filter(is_open())
                    .filter(d::next_attempt_at.le(naive(now))),
            )
            .set((
                d::status.eq(DeliveryStatus::Sending.as_str()),
                d::claimed_by.eq(claimer),
                d::next_attempt_at.eq(naive(now + lease)),
                d::attempts.eq(d::attempts + 1),
                d::updated_at.eq(naive(now)),
            ))
            .execute(conn)?;
            // By primary key: `claimed_by` has no index, and a filter on it alone scanned
            // every delivery ever recorded on each claim (a cost that grew with history).
            d::table
                .filter(d::id.eq_any(&due))
                .filter(d::claimed_by.eq(claimer))
                .filter(d::status.eq(DeliveryStatus::Sending.as_str()))
                .select(DeliveryRow::as_select())
                .load(conn)?
                .into_iter()
                .map(DeliveryRow::into_delivery)
                .collect()
        })
    }

    /// Records how claimed sends ended, with the events to publish about them, in one
    /// transaction. Only rows still claimed by `claimer` change.
    pub fn finish_deliveries(
        &self,
        claimer: &str,
        results: &[(String, DeliveryOutcome)],
        events: &[OutboxEvent],
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        if let AnyConnection::Postgresql(_) = &mut *conn
            && results.len() <= RECORD_IN_ONE
            && events.len() <= RECORD_IN_ONE
            && !results.is_empty()
        {
            // One statement (a data-modifying WITH, then the events' INSERT): one round
            // trip and one commit. Every mail in flight waits for this write before its
            // connection takes the next, so its latency bounds how many mails go out a
            // second (SMTP_CONNECTIONS / latency); four round trips made it 2-3 times longer.
            let mut statement = Statement::new("WITH ");
            push_outcomes(&mut statement, claimer, results, now, ", done AS (");
            if events.is_empty() {
                statement.push(") SELECT 1");
            } else {
                statement.push(") ");
                conversations_db::outbox::push_insert(&mut statement, OUTBOX_TABLE, events, now);
            }
            statement.execute(&mut conn)?;
            return Ok(());
        }
        conn.transaction(|conn| {
            for chunk in results.chunks(rows_per_statement(4)) {
                let mut statement = Statement::new("WITH ");
                push_outcomes(&mut statement, claimer, chunk, now, "");
                statement.execute(conn)?;
            }
            conversations_db::outbox::insert(conn, OUTBOX_TABLE, events, now)
        })
    }

    /// Every notification of one message, for the API.
    pub fn deliveries_for_message(
        &self,
        conversation_id: &str,
        message_seq: u64,
    ) -> Result<Vec<Delivery>, DbError> {
        let mut conn = self.conn()?;
        d::table
            .filter(d::conversation_id.eq(conversation_id))
            .filter(d::message_seq.eq(to_i64(message_seq)))
            .order(d::created_at.asc())
            .select(DeliveryRow::as_select())
            .load(&mut *conn)?
            .into_iter()
            .map(DeliveryRow::into_delivery)
            .collect()
    }

    /// Erases a deleted conversation: its deliveries (with the rendered mails) go, its
    /// events in the outbox become copies of `tombstone` (the deletion event, which carries
    /// no text or address), and its id is remembered so a late message is never mailed.
    pub fn erase_conversation(
        &self,
        conversation_id: &str,
        tombstone: &[u8],
        feed_position: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| {
            diesel::delete(d::table.filter(d::conversation_id.eq(conversation_id)))
                .execute(conn)?;
            diesel::update(nt_outbox::table.filter(nt_outbox::conversation_id.eq(conversation_id)))
                .set((
                    nt_outbox::event_type.eq("conversation_deleted"),
                    nt_outbox::payload.eq(tombstone),
                ))
                .execute(conn)?;
            let known: i64 = nt_deleted_conversations::table
                .filter(nt_deleted_conversations::conversation_id.eq(conversation_id))
                .count()
                .get_result(conn)?;
            if known == 0 {
                diesel::insert_into(nt_deleted_conversations::table)
                    .values((
                        nt_deleted_conversations::conversation_id.eq(conversation_id),
                        nt_deleted_conversations::deleted_at.eq(naive(now)),
                    ))
                    .execute(conn)?;
            }
            if let Some(position) = feed_position {
                set_feed_position(conn, position)?;
            }
            Ok(())
        })
    }

    /// How many notifications are not finished yet (pending, being sent, waiting for a
    /// retry): zero means everything recorded has been sent or given up.
    pub fn open_deliveries(&self) -> Result<i64, DbError> {
        let mut conn = self.conn()?;
        Ok(d::table.filter(is_open()).count().get_result(&mut *conn)?)
    }

    /// When the next open notification is due, to sleep until then.
    pub fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>, DbError> {
        let mut conn = self.conn()?;
        let next: Option<NaiveDateTime> = d::table
            .filter(is_open())
            .select(diesel::dsl::min(d::next_attempt_at))
            .first(&mut *conn)?;
        Ok(next.map(utc))
    }
}

/// Moves the recorded feed position forward (never back).
pub(super) fn set_feed_position(conn: &mut AnyConnection, position: i64) -> Result<(), DbError> {
    diesel::update(
        nt_checkpoint::table
            .filter(nt_checkpoint::id.eq(1))
            .filter(nt_checkpoint::feed_position.lt(position)),
    )
    .set(nt_checkpoint::feed_position.eq(position))
    .execute(conn)?;
    Ok(())
}

/// The key of a delivery the insert created.
#[derive(QueryableByName)]
struct NewKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    conversation_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    message_seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    participant_id: String,
}

/// Inserts the deliveries not recorded yet, in multi-row statements (a redelivered event's
/// rows collide with `nt_deliveries_once` and are skipped); returns the keys it created.
fn insert_new(
    conn: &mut AnyConnection,
    rows: &[&NewDelivery],
    now: DateTime<Utc>,
) -> Result<Vec<NewKey>, DbError> {
    let now = naive(now);
    let ids: Vec<String> = rows
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let mut created = Vec::with_capacity(rows.len());
    for (chunk, ids) in rows
        .chunks(rows_per_statement(14))
        .zip(ids.chunks(rows_per_statement(14)))
    {
        let mut insert = Statement::new(
            "INSERT INTO nt_deliveries (id, app_id, conversation_id, message_seq, \
             participant_id, recipient, status, attempts, next_attempt_at, envelope_from, \
             raw_message, created_at, updated_at, trace_context) VALUES ",
        );
        for (row, id) in chunk.iter().zip(ids) {
            insert.row(&[
                Value::Text(id),
                Value::Text(&row.app_id),
                Value::Text(&row.conversation_id),
                Value::Int(to_i64(row.message_seq)),
                Value::Text(&row.participant_id),
                Value::Text(&row.recipient),
                Value::Text(row.status.as_str()),
                Value::Int(0),
                Value::Time(now),
                Value::Text(&row.envelope_from),
                Value::OptBytes(row.raw_message.as_deref()),
                Value::Time(now),
                Value::Time(now),
                Value::OptText(row.trace_context.as_deref()),
            ]);
        }
        created.extend(
            insert
                .push(
                    " ON CONFLICT (conversation_id, message_seq, participant_id) DO NOTHING \
                     RETURNING conversation_id, message_seq, participant_id",
                )
                .load::<NewKey>(conn)?,
        );
    }
    Ok(created)
}

/// Outcomes recorded by one statement at most on PostgreSQL (binds: 4 per outcome, 8 per
/// event, well below the limit).
const RECORD_IN_ONE: usize = 1_000;

/// Appends `v (…) AS (VALUES …)<between>UPDATE nt_deliveries … FROM v …` to a statement
/// that starts with `WITH `: how some sends ended. Only rows still claimed by `claimer`
/// change (a sender whose claim expired and was taken over writes nothing). `between` is
/// `", done AS ("` when the update is itself a `WITH` part (PostgreSQL), else empty.
fn push_outcomes<'a>(
    statement: &mut Statement<'a>,
    claimer: &'a str,
    results: &'a [(String, DeliveryOutcome)],
    now: DateTime<Utc>,
    between: &str,
) {
    statement.push("v (n_id, n_status, n_reply, n_retry_at) AS (VALUES ");
    for (id, outcome) in results {
        let (status, reply, retry_at) = match outcome {
            DeliveryOutcome::Sent { reply } => (DeliveryStatus::Sent, reply, None),
            DeliveryOutcome::Retry { reply, at } => {
                (DeliveryStatus::Retry, reply, Some(naive(*at)))
            }
            DeliveryOutcome::Failed { reply } => (DeliveryStatus::Failed, reply, None),
        };
        statement.row(&[
            Value::Text(id),
            Value::Text(status.as_str()),
            Value::Text(reply),
            Value::OptTime(retry_at),
        ]);
    }
    // A retry keeps its message for the next attempt; a finished one drops it.
    statement
        .end_list(&format!(
            "){between} UPDATE nt_deliveries SET status = v.n_status, smtp_reply = v.n_reply, \
             next_attempt_at = COALESCE(v.n_retry_at, nt_deliveries.next_attempt_at), \
             raw_message = CASE WHEN v.n_retry_at IS NULL THEN NULL \
               ELSE nt_deliveries.raw_message END, \
             updated_at = ? FROM v WHERE nt_deliveries.id = v.n_id \
             AND nt_deliveries.claimed_by = ?"
        ))
        .bind(Value::Time(naive(now)))
        .bind(Value::Text(claimer));
}
