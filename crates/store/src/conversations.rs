//! Loading a conversation for a decision, and committing the decided events together with
//! their outbox rows (and an idempotent response) in one transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use conversations_domain::{AppId, Conversation, ConversationId, EmailAddress, Event, EventKind};
use diesel::prelude::*;

use crate::connection::Store;
use crate::error::{StoreError, is_unique_violation};
use crate::idempotency::{StoredResponse, insert_response};
use crate::outbox::insert_outbox;
use crate::rows::{ConversationRow, ParticipantRow, RecipientJson, naive, to_i64};
use crate::schema::{conversations, idempotency_keys, messages, outbox, participants};
use conversations_db::AnyConnection;
use conversations_db::OutboxEvent;
use conversations_db::statement::{Statement, Value};

/// Everything one command changes, written atomically by [`Store::commit`].
#[derive(Debug)]
pub struct Commit<'a> {
    /// The state before the command (version 0 for a new conversation).
    pub before: &'a Conversation,
    /// The state after applying `events`.
    pub after: &'a Conversation,
    /// The events decided, in order.
    pub events: &'a [Event],
    /// The same events encoded for the bus, one outbox row each.
    pub outbox: Vec<OutboxEvent>,
    /// The response to replay for this request's `Idempotency-Key`, if it had one.
    pub idempotent_response: Option<(String, StoredResponse)>,
    /// When the command was decided.
    pub now: DateTime<Utc>,
}

impl Store {
    /// The conversation with its participants, if it exists in this application.
    pub fn load_conversation(
        &self,
        app: AppId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError> {
        let mut conn = self.conn()?;
        load(&mut conn, app, id)
    }

    /// The live personal conversation between `a` and `b` in this application, whether
    /// or not both are still in it (so it can be re-opened with its history).
    pub fn find_personal(
        &self,
        app: AppId,
        a: &EmailAddress,
        b: &EmailAddress,
    ) -> Result<Option<ConversationId>, StoreError> {
        let mut conn = self.conn()?;
        let with_a = participants::table
            .filter(participants::email.eq(a.as_str()))
            .select(participants::conversation_id);
        let with_b = participants::table
            .filter(participants::email.eq(b.as_str()))
            .select(participants::conversation_id);
        let ids: Vec<String> = conversations::table
            .filter(conversations::app_id.eq(app.to_string()))
            .filter(conversations::kind.eq("personal"))
            .filter(conversations::id.eq_any(with_a))
            .filter(conversations::id.eq_any(with_b))
            .order(conversations::created_at.asc())
            .select(conversations::id)
            .limit(1)
            .load(&mut *conn)?;
        ids.first()
            .map(|id| crate::rows::parse_id("conversation id", id))
            .transpose()
    }

    /// Writes the events' effects, their outbox rows and the idempotent response in one
    /// transaction. Fails with [`StoreError::Conflict`] when the conversation changed since
    /// `before` was loaded; the caller then reloads and decides again.
    pub fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction(|conn| write(conn, &commit))
    }
}

fn load(
    conn: &mut AnyConnection,
    app: AppId,
    id: ConversationId,
) -> Result<Option<Conversation>, StoreError> {
    let Some(row) = conversations::table
        .filter(conversations::id.eq(id.to_string()))
        .filter(conversations::app_id.eq(app.to_string()))
        .select(ConversationRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let people = participants::table
        .filter(participants::conversation_id.eq(id.to_string()))
        .order(participants::position.asc())
        .select(ParticipantRow::as_select())
        .load(conn)?;
    row.into_domain(people).map(Some)
}

fn write(conn: &mut AnyConnection, c: &Commit<'_>) -> Result<(), StoreError> {
    let id = c.after.id.to_string();
    let deleted = c
        .events
        .iter()
        .any(|e| e.kind == EventKind::ConversationDeleted);
    if c.before.version == 0 {
        diesel::insert_into(conversations::table)
            .values(ConversationRow::from_domain(c.after, c.now))
            .execute(conn)?;
    } else {
        let updated = conversations_db::prepared::update(
            conn,
            conversations::table,
            ConversationRow::from_domain(c.after, c.now),
            conversations::id
                .eq(&id)
                .and(conversations::version.eq(to_i64(c.before.version))),
        )?;
        if updated != 1 {
            return Err(StoreError::Conflict);
        }
    }

    if deleted {
        diesel::delete(messages::table.filter(messages::conversation_id.eq(&id))).execute(conn)?;
        diesel::delete(participants::table.filter(participants::conversation_id.eq(&id)))
            .execute(conn)?;
        diesel::delete(conversations::table.filter(conversations::id.eq(&id))).execute(conn)?;
        erase(conn, c, &id)?;
    } else {
        write_participants(conn, c)?;
        for event in c.events {
            if let EventKind::MessagePosted(m) = &event.kind {
                let recipients: Vec<RecipientJson> = m
                    .recipients
                    .iter()
                    .map(RecipientJson::from_domain)
                    .collect();
                let recipients = serde_json::to_string(&recipients)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // A fixed shape, kept prepared (diesel's insert of a row never is).
                let mut insert = Statement::new(
                    "INSERT INTO messages (conversation_id, seq, sender_id, sender_email, \
                     sender_name, body, source, created_at, recipients, inbound_id, \
                     trimmed_text) VALUES ",
                );
                let (sender_id, inbound_id) =
                    (m.sender.to_string(), m.inbound_id.map(|id| id.to_string()));
                insert.row(&[
                    Value::Text(&id),
                    Value::Int(to_i64(m.seq)),
                    Value::Text(&sender_id),
                    Value::Text(m.sender_email.as_str()),
                    Value::OptText(m.sender_name.as_ref().map(|n| n.as_str())),
                    Value::Text(m.text.as_str()),
                    Value::Text(m.source.as_str()),
                    Value::Time(naive(m.created_at)),
                    Value::Text(&recipients),
                    Value::OptText(inbound_id.as_deref()),
                    Value::OptText(m.trimmed_text.as_ref().map(|t| t.as_str())),
                ]);
                insert.execute_prepared(conn).map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict
                    } else {
                        e.into()
                    }
                })?;
            }
        }
    }

    insert_outbox(conn, &c.outbox, c.now)?;
    if let Some((key, response)) = &c.idempotent_response {
        insert_response(conn, c.after.app_id, key, response, c.now)?;
    }
    Ok(())
}

/// Writes every participant whose row the events changed, from the final state.
/// Erasure: nothing of a deleted conversation stays behind. Its earlier outbox rows (the
/// feed's stored payloads, published or not) become copies of the deletion event, which
/// carries no text, subject or address; stored idempotent responses that show it are
/// removed (a retried request then meets a conversation that no longer exists).
fn erase(conn: &mut AnyConnection, c: &Commit<'_>, id: &str) -> Result<(), StoreError> {
    let tombstone = c
        .outbox
        .iter()
        .find(|e| e.event_type == "conversation_deleted")
        .ok_or_else(|| StoreError::Corrupt("a deletion without its event".into()))?;
    diesel::update(outbox::table.filter(outbox::conversation_id.eq(id)))
        .set((
            outbox::event_type.eq(&tombstone.event_type),
            outbox::payload.eq(&tombstone.payload),
        ))
        .execute(conn)?;
    let mentioning = format!("%{id}%");
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::app_id.eq(c.after.app_id.to_string()))
            .filter(
                idempotency_keys::body
                    .like(&mentioning)
                    .or(idempotency_keys::location.like(&mentioning)),
            ),
    )
    .execute(conn)?;
    Ok(())
}

fn write_participants(conn: &mut AnyConnection, c: &Commit<'_>) -> Result<(), StoreError> {
    let touched: BTreeSet<_> = c
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ParticipantAdded(p) | EventKind::ParticipantUpdated(p) => Some(p.id),
            EventKind::ParticipantRemoved { participant, .. } => Some(participant.id),
            EventKind::ConversationRead { participant, .. } => Some(*participant),
            EventKind::MessagePosted(m) => Some(m.sender),
            _ => None,
        })
        .collect();
    for (position, p) in c.after.participants.iter().enumerate() {
        if !touched.contains(&p.id) {
            continue;
        }
        let row = ParticipantRow::from_domain(c.after.id, position, p);
        let known = c.before.participants.iter().any(|old| old.id == p.id);
        if known {
            conversations_db::prepared::update(
                conn,
                participants::table,
                &row,
                participants::id.eq(&row.id),
            )?;
        } else {
            diesel::insert_into(participants::table)
                .values(&row)
                .execute(conn)
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict
                    } else {
                        e.into()
                    }
                })?;
        }
    }
    Ok(())
}
