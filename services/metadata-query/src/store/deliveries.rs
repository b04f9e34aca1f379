//! The delivery-status read model: one row per (message, recipient), `pending` or `muted`
//! when the message is projected, then moved on by the notifier's events. Events of the
//! two sources arrive in any order; a state replaces a stored one only when it ranks
//! higher (or equal below final, a later retry), so the newest truth wins.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use conversations_db::AnyConnection;
use conversations_db::statement::{Statement, Value, rows_per_statement};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::InboxStore;
use crate::error::MetadataError;
use crate::projection::{DeliveryState, Update};
use crate::schema::{mq_conversations, mq_deliveries, mq_messages};
use crate::store::Planned;

/// One delivery row to write.
#[derive(Debug, Clone)]
pub(super) struct DeliveryRow<'a> {
    app_id: &'a str,
    conversation_id: &'a str,
    message_seq: i64,
    participant_id: &'a str,
    recipient: &'a str,
    state: DeliveryState,
    attempts: i32,
    smtp_reply: Option<&'a str>,
    at: NaiveDateTime,
}

impl DeliveryRow<'_> {
    /// Whether `self` should replace `other` (the same rule as the upsert's guard).
    fn supersedes(&self, other: &Self) -> bool {
        let (mine, theirs) = (self.state.rank(), other.state.rank());
        mine > theirs || (mine == theirs && mine < 2 && self.at >= other.at)
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The delivery rows a batch calls for: the notifier's outcomes, and a first state for
/// each recipient of each message.
pub(super) fn rows_of(batch: &[Planned]) -> Vec<DeliveryRow<'_>> {
    let mut rows = Vec::new();
    for planned in batch {
        match &planned.update {
            Update::Delivery(d) => rows.push(DeliveryRow {
                app_id: &d.app_id,
                conversation_id: &d.conversation_id,
                message_seq: to_i64(d.message_seq),
                participant_id: &d.participant_id,
                recipient: &d.recipient,
                state: d.state,
                attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
                smtp_reply: d.smtp_reply.as_deref(),
                at: d.at.naive_utc(),
            }),
            Update::Conversation(c) if !c.deleted => {
                let Some(message) = &c.message else { continue };
                for (participant_id, recipient, muted) in &message.recipients {
                    rows.push(DeliveryRow {
                        app_id: &c.app_id,
                        conversation_id: &c.conversation_id,
                        message_seq: to_i64(message.seq),
                        participant_id,
                        recipient,
                        state: if *muted {
                            DeliveryState::Muted
                        } else {
                            DeliveryState::Pending
                        },
                        attempts: 0,
                        smtp_reply: None,
                        at: message.created_at.naive_utc(),
                    });
                }
            }
            _ => {}
        }
    }
    rows
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Writes `rows`, after the batch's conversation changes: rows of deleted conversations
/// are dropped (a late notifier event must not bring an erased conversation back).
pub(super) fn write(
    conn: &mut AnyConnection,
    rows: Vec<DeliveryRow<'_>>,
) -> Result<(), MetadataError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: HashSet<&str> = rows.iter().map(|r| r.conversation_id).collect();
    let mut deleted: HashSet<String> = HashSet::new();
    let ids: Vec<&str> = ids.into_iter().collect();
    for chunk in ids.chunks(rows_per_statement(1)) {
        let found: Vec<Id> =
            Statement::new("SELECT id FROM mq_conversations WHERE deleted_seq > 0 AND id IN ")
                .texts_in(chunk.iter().copied())
                .load(conn)?;
        deleted.extend(found.into_iter().map(|r| r.id));
    }
    // One row per key in a statement (PostgreSQL refuses to upsert a row twice).
    let mut newest: HashMap<(&str, i64, &str), DeliveryRow<'_>> = HashMap::new();
    for row in rows {
        if deleted.contains(row.conversation_id) {
            continue;
        }
        let key = (row.conversation_id, row.message_seq, row.participant_id);
        match newest.get(&key) {
            Some(kept) if !row.supersedes(kept) => {}
            _ => {
                newest.insert(key, row);
            }
        }
    }
    let rows: Vec<DeliveryRow<'_>> = newest.into_values().collect();
    for chunk in rows.chunks(rows_per_statement(10)) {
        let mut upsert = Statement::new(
            "INSERT INTO mq_deliveries (conversation_id, message_seq, participant_id, app_id, \
             recipient, status, status_rank, attempts, smtp_reply, updated_at) VALUES ",
        );
        for r in chunk {
            upsert.row(&[
                Value::Text(r.conversation_id),
                Value::Int(r.message_seq),
                Value::Text(r.participant_id),
                Value::Text(r.app_id),
                Value::Text(r.recipient),
                Value::Text(r.state.as_str()),
                Value::Int(i64::from(r.state.rank())),
                Value::Int(i64::from(r.attempts)),
                Value::OptText(r.smtp_reply),
                Value::Time(r.at),
            ]);
        }
        upsert
            .push(
                " ON CONFLICT (conversation_id, message_seq, participant_id) DO UPDATE SET \
                 status = excluded.status, status_rank = excluded.status_rank, \
                 attempts = excluded.attempts, smtp_reply = excluded.smtp_reply, \
                 updated_at = excluded.updated_at \
                 WHERE excluded.status_rank > mq_deliveries.status_rank \
                 OR (excluded.status_rank = mq_deliveries.status_rank \
                     AND excluded.status_rank < 2 \
                     AND excluded.updated_at >= mq_deliveries.updated_at)",
            )
            .execute(conn)?;
    }
    Ok(())
}

/// One notification as the API shows it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The recipient's address.
    pub recipient: String,
    /// The recipient's participant id.
    pub participant_id: String,
    /// `pending`, `retry`, `sent`, `failed`, `muted` or `suppressed`.
    pub status: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// The SMTP server's last reply, or why nothing was sent.
    pub smtp_reply: Option<String>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl InboxStore {
    /// The notifications of message `seq` of a live conversation of `app`; `None` when
    /// there is no such message (for this application).
    pub fn deliveries(
        &self,
        app: &str,
        conversation_id: &str,
        seq: i64,
    ) -> Result<Option<Vec<Delivery>>, MetadataError> {
        let mut conn = self.conn()?;
        let live: i64 = mq_conversations::table
            .filter(mq_conversations::id.eq(conversation_id))
            .filter(mq_conversations::app_id.eq(app))
            .filter(mq_conversations::deleted_seq.eq(0))
            .count()
            .get_result(&mut *conn)?;
        let message: i64 = mq_messages::table
            .filter(mq_messages::conversation_id.eq(conversation_id))
            .filter(mq_messages::seq.eq(seq))
            .count()
            .get_result(&mut *conn)?;
        if live == 0 || message == 0 {
            return Ok(None);
        }
        type Row = (String, String, String, i32, Option<String>, NaiveDateTime);
        let rows: Vec<Row> = mq_deliveries::table
            .filter(mq_deliveries::conversation_id.eq(conversation_id))
            .filter(mq_deliveries::message_seq.eq(seq))
            .order(mq_deliveries::recipient.asc())
            .select((
                mq_deliveries::recipient,
                mq_deliveries::participant_id,
                mq_deliveries::status,
                mq_deliveries::attempts,
                mq_deliveries::smtp_reply,
                mq_deliveries::updated_at,
            ))
            .load(&mut *conn)?;
        Ok(Some(
            rows.into_iter()
                .map(
                    |(recipient, participant_id, status, attempts, smtp_reply, updated_at)| {
                        Delivery {
                            recipient,
                            participant_id,
                            status,
                            attempts: u32::try_from(attempts).unwrap_or(0),
                            smtp_reply,
                            updated_at: updated_at.and_utc(),
                        }
                    },
                )
                .collect(),
        ))
    }
}
