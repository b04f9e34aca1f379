//! Applying planned updates to the projection, a batch per transaction.
//!
//! Each row remembers the sequence number of the state it holds (`info_seq`, `state_seq`,
//! `last_message_seq`, …) and is only overwritten by a newer one, so an event applied twice
//! or late changes nothing. Unread counts are kept exact under any delivery order: a new
//! message counts for every other member whose read marker is before it, and whenever a
//! read marker moves the count is recomputed from the stored messages.
//!
//! The hot statements are plain SQL (upserts with `ON CONFLICT … DO UPDATE … WHERE`, which
//! PostgreSQL and SQLite share), written with `?` placeholders and numbered for
//! PostgreSQL; one event costs a handful of round trips.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_store::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};

use super::InboxStore;
use crate::error::MetadataError;
use crate::projection::{
    CallKind, ConversationUpdate, PEOPLE_SOURCES, ParticipantState, PostedMessage, Update,
};
use crate::schema::{mq_checkpoint, mq_conversations, mq_unread_sources};

/// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL (our SQL has no `?` elsewhere).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs one SQL statement with typed binds on whichever backend `conn` is.
macro_rules! run {
    ($conn:expr, $sql:expr, [$(($ty:ty, $val:expr)),* $(,)?]) => {{
        match $conn {
            AnyConnection::Postgresql(c) => {
                diesel::sql_query(numbered($sql))$(.bind::<$ty, _>($val))*.execute(c)
            }
            AnyConnection::Sqlite(c) => {
                diesel::sql_query($sql)$(.bind::<$ty, _>($val))*.execute(c)
            }
        }
    }};
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The unread count of a member, recomputed from the stored messages (used as a scalar
/// subquery with binds: conversation, read marker, contact, application).
const UNREAD_COUNT: &str = "(SELECT COUNT(*) FROM mq_messages m \
     WHERE m.conversation_id = ? AND m.seq > ? AND m.sender_contact <> ? \
     AND (m.source IN ('api', 'email') \
          OR m.source IN (SELECT s.source FROM mq_unread_sources s WHERE s.app_id = ?)))";

/// An event to apply, with its position in the replay feed when it came from there.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What it changes.
    pub update: Update,
    /// Feed position (catch-up only).
    pub feed_position: Option<i64>,
}

/// Per-transaction memory of settings that every message of an application needs.
#[derive(Default)]
struct BatchCache {
    counted_sources: HashMap<String, Vec<String>>,
    /// Contacts as stored (the store's memory, taken for the batch and given back).
    known_contacts: super::KnownContacts,
}

impl BatchCache {
    fn counts_as_unread(
        &mut self,
        conn: &mut AnyConnection,
        app: &str,
        source: &str,
    ) -> Result<bool, MetadataError> {
        if PEOPLE_SOURCES.contains(&source) {
            return Ok(true);
        }
        if !self.counted_sources.contains_key(app) {
            let sources: Vec<String> = mq_unread_sources::table
                .filter(mq_unread_sources::app_id.eq(app))
                .select(mq_unread_sources::source)
                .load(conn)?;
            self.counted_sources.insert(app.to_owned(), sources);
        }
        Ok(self
            .counted_sources
            .get(app)
            .is_some_and(|s| s.iter().any(|s| s == source)))
    }
}

impl InboxStore {
    /// Applies `batch` in one transaction, in order; records the highest feed position.
    pub fn apply(&self, batch: &[Planned]) -> Result<(), MetadataError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let mut cache = BatchCache {
            known_contacts: std::mem::take(&mut *self.known()),
            ..Default::default()
        };
        let result = conn.transaction::<_, MetadataError, _>(|conn| {
            let conn: &mut AnyConnection = conn;
            let cache = &mut cache;
            for planned in batch {
                match &planned.update {
                    Update::Ignore => {}
                    Update::KeyIssued {
                        app_id,
                        app_name,
                        key_hash,
                    } => {
                        run!(
                            conn,
                            "INSERT INTO mq_api_keys (key_hash, app_id, app_name) VALUES (?, ?, ?) \
                             ON CONFLICT (key_hash) DO NOTHING",
                            [(Text, key_hash), (Text, app_id), (Text, app_name)]
                        )?;
                    }
                    Update::Conversation(update) => apply_conversation(conn, cache, update)?,
                }
            }
            if let Some(position) = batch.iter().filter_map(|p| p.feed_position).max() {
                diesel::update(
                    mq_checkpoint::table
                        .filter(mq_checkpoint::id.eq(1))
                        .filter(mq_checkpoint::feed_position.lt(position)),
                )
                .set(mq_checkpoint::feed_position.eq(position))
                .execute(conn)?;
            }
            Ok(())
        });
        let mut known = self.known();
        *known = cache.known_contacts;
        // A rolled-back batch may have noted contacts that were never stored: forget all
        // (rare); and keep the memory bounded.
        if result.is_err() || known.len() > 200_000 {
            known.clear();
        }
        result
    }

    fn known(&self) -> std::sync::MutexGuard<'_, super::KnownContacts> {
        self.known_contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets which integrator sources count as unread for `app` and recomputes the unread
    /// counts of its conversations.
    pub fn set_unread_sources(&self, app: &str, sources: &[String]) -> Result<(), MetadataError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction::<_, MetadataError, _>(|conn| {
            let conn: &mut AnyConnection = conn;
            diesel::delete(mq_unread_sources::table.filter(mq_unread_sources::app_id.eq(app)))
                .execute(conn)?;
            for source in sources {
                diesel::insert_into(mq_unread_sources::table)
                    .values((
                        mq_unread_sources::app_id.eq(app),
                        mq_unread_sources::source.eq(source),
                    ))
                    .execute(conn)?;
            }
            let sql = format!(
                "UPDATE mq_memberships SET unread = {} WHERE app_id = ?",
                UNREAD_COUNT
                    .replace(
                        "m.conversation_id = ?",
                        "m.conversation_id = mq_memberships.conversation_id"
                    )
                    .replace("m.seq > ?", "m.seq > mq_memberships.read_seq")
                    .replace(
                        "m.sender_contact <> ?",
                        "m.sender_contact <> mq_memberships.contact_id"
                    )
                    .replace("s.app_id = ?", "s.app_id = mq_memberships.app_id")
            );
            run!(conn, &sql, [(Text, app)])?;
            Ok(())
        })
    }
}

fn apply_conversation(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    u: &ConversationUpdate,
) -> Result<(), MetadataError> {
    let seq = to_i64(u.seq);
    let existing: Option<(i64, i64)> = mq_conversations::table
        .filter(mq_conversations::id.eq(&u.conversation_id))
        .select((mq_conversations::info_seq, mq_conversations::deleted_seq))
        .first(conn)
        .optional()?;
    match existing {
        // Deleted is final: whatever else arrives about it is older news.
        Some((_, deleted)) if deleted > 0 => return Ok(()),
        None => {
            run!(
                conn,
                "INSERT INTO mq_conversations (id, app_id, kind, subject, info_seq, \
                 last_activity, last_message_seq, last_call_seq, call_ongoing, \
                 last_missed_call_seq, deleted_seq) \
                 VALUES (?, ?, ?, ?, ?, ?, 0, 0, FALSE, 0, 0)",
                [
                    (Text, &u.conversation_id),
                    (Text, &u.app_id),
                    (Text, &u.conversation.kind),
                    (Nullable<Text>, u.conversation.subject.as_deref()),
                    (BigInt, seq),
                    (Timestamp, naive(u.conversation.created_at)),
                ]
            )?;
        }
        Some((info_seq, _)) if seq > info_seq => {
            run!(
                conn,
                "UPDATE mq_conversations SET kind = ?, subject = ?, info_seq = ? WHERE id = ?",
                [
                    (Text, &u.conversation.kind),
                    (Nullable<Text>, u.conversation.subject.as_deref()),
                    (BigInt, seq),
                    (Text, &u.conversation_id),
                ]
            )?;
        }
        Some(_) => {}
    }
    if u.deleted {
        run!(
            conn,
            "UPDATE mq_conversations SET deleted_seq = ? WHERE id = ?",
            [(BigInt, seq), (Text, &u.conversation_id)]
        )?;
        run!(
            conn,
            "DELETE FROM mq_memberships WHERE conversation_id = ?",
            [(Text, &u.conversation_id)]
        )?;
        run!(
            conn,
            "DELETE FROM mq_messages WHERE conversation_id = ?",
            [(Text, &u.conversation_id)]
        )?;
        return Ok(());
    }
    for p in &u.participants {
        upsert_contact(conn, cache, &u.app_id, p)?;
        upsert_membership(conn, u, seq, p)?;
    }
    if let Some(m) = &u.message {
        let counted = cache.counts_as_unread(conn, &u.app_id, &m.source)?;
        record_message(conn, u, m, counted)?;
    }
    Ok(())
}

fn upsert_contact(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    app: &str,
    p: &ParticipantState,
) -> Result<(), MetadataError> {
    // Nothing new about this contact: no write (a `None` never overwrites a stored value).
    if let Some((name, external)) = cache.known_contacts.get(&p.contact_id)
        && (p.display_name.is_none() || p.display_name == *name)
        && (p.external_id.is_none() || p.external_id == *external)
    {
        return Ok(());
    }
    let stored = cache.known_contacts.get(&p.contact_id);
    let merged = (
        p.display_name
            .clone()
            .or_else(|| stored.and_then(|s| s.0.clone())),
        p.external_id
            .clone()
            .or_else(|| stored.and_then(|s| s.1.clone())),
    );
    cache.known_contacts.insert(p.contact_id.clone(), merged);
    run!(
        conn,
        "INSERT INTO mq_contacts (id, app_id, email, display_name, external_id) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET \
           display_name = COALESCE(excluded.display_name, mq_contacts.display_name), \
           external_id = COALESCE(excluded.external_id, mq_contacts.external_id) \
         WHERE (excluded.display_name IS NOT NULL \
                AND excluded.display_name IS DISTINCT FROM mq_contacts.display_name) \
            OR (excluded.external_id IS NOT NULL \
                AND excluded.external_id IS DISTINCT FROM mq_contacts.external_id)",
        [
            (Text, &p.contact_id),
            (Text, app),
            (Text, &p.email),
            (Nullable<Text>, p.display_name.as_deref()),
            (Nullable<Text>, p.external_id.as_deref()),
        ]
    )?;
    Ok(())
}

fn upsert_membership(
    conn: &mut AnyConnection,
    u: &ConversationUpdate,
    seq: i64,
    p: &ParticipantState,
) -> Result<(), MetadataError> {
    let read_seq = to_i64(p.read_seq);
    let sql = format!(
        "INSERT INTO mq_memberships (conversation_id, contact_id, app_id, email, display_name, \
           external_id, state_seq, active, muted, pinned, archived_at, last_opened_at, read_seq, \
           unread, last_activity) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {UNREAD_COUNT}, \
           (SELECT c.last_activity FROM mq_conversations c WHERE c.id = ?)) \
         ON CONFLICT (conversation_id, contact_id) DO UPDATE SET \
           display_name = excluded.display_name, external_id = excluded.external_id, \
           state_seq = excluded.state_seq, active = excluded.active, muted = excluded.muted, \
           pinned = excluded.pinned, archived_at = excluded.archived_at, \
           last_opened_at = excluded.last_opened_at, read_seq = excluded.read_seq, \
           unread = CASE WHEN mq_memberships.read_seq = excluded.read_seq \
                         THEN mq_memberships.unread ELSE excluded.unread END \
         WHERE mq_memberships.state_seq < excluded.state_seq"
    );
    run!(
        conn,
        &sql,
        [
            (Text, &u.conversation_id),
            (Text, &p.contact_id),
            (Text, &u.app_id),
            (Text, &p.email),
            (Nullable<Text>, p.display_name.as_deref()),
            (Nullable<Text>, p.external_id.as_deref()),
            (BigInt, seq),
            (Bool, p.active),
            (Bool, p.muted),
            (Bool, p.pinned),
            (Nullable<Timestamp>, p.archived_at.map(naive)),
            (Nullable<Timestamp>, p.last_opened_at.map(naive)),
            (BigInt, read_seq),
            // UNREAD_COUNT
            (Text, &u.conversation_id),
            (BigInt, read_seq),
            (Text, &p.contact_id),
            (Text, &u.app_id),
            // last_activity
            (Text, &u.conversation_id),
        ]
    )?;
    Ok(())
}

fn record_message(
    conn: &mut AnyConnection,
    u: &ConversationUpdate,
    m: &PostedMessage,
    counted: bool,
) -> Result<(), MetadataError> {
    let seq = to_i64(m.seq);
    let inserted = run!(
        conn,
        "INSERT INTO mq_messages (conversation_id, seq, app_id, sender_contact, sender_name, \
           source, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (conversation_id, seq) DO NOTHING",
        [
            (Text, &u.conversation_id),
            (BigInt, seq),
            (Text, &u.app_id),
            (Text, &m.sender_contact),
            (Nullable<Text>, m.sender_name.as_deref()),
            (Text, &m.source),
            (Text, &m.text),
            (Timestamp, naive(m.created_at)),
        ]
    )?;
    if inserted == 0 {
        return Ok(());
    }
    let at = naive(m.created_at);
    let call_kind = m.call.is_some();
    let ongoing = m.call == Some(CallKind::Started);
    let missed = m.call == Some(CallKind::Missed);
    let preview = m.preview();
    run!(
        conn,
        "UPDATE mq_conversations SET \
           last_activity = CASE WHEN last_activity < ? THEN ? ELSE last_activity END, \
           last_message_sender = CASE WHEN last_message_seq < ? THEN ? ELSE last_message_sender END, \
           last_message_sender_contact = CASE WHEN last_message_seq < ? THEN ? \
             ELSE last_message_sender_contact END, \
           last_message_preview = CASE WHEN last_message_seq < ? THEN ? ELSE last_message_preview END, \
           last_message_source = CASE WHEN last_message_seq < ? THEN ? ELSE last_message_source END, \
           last_message_at = CASE WHEN last_message_seq < ? THEN ? ELSE last_message_at END, \
           last_message_seq = CASE WHEN last_message_seq < ? THEN ? ELSE last_message_seq END, \
           call_ongoing = CASE WHEN ? AND last_call_seq < ? THEN ? ELSE call_ongoing END, \
           last_call_seq = CASE WHEN ? AND last_call_seq < ? THEN ? ELSE last_call_seq END, \
           last_missed_call_seq = CASE WHEN ? AND last_missed_call_seq < ? THEN ? \
             ELSE last_missed_call_seq END \
         WHERE id = ?",
        [
            (Timestamp, at),
            (Timestamp, at),
            (BigInt, seq),
            (Nullable<Text>, m.sender_name.as_deref()),
            (BigInt, seq),
            (Text, &m.sender_contact),
            (BigInt, seq),
            (Text, &preview),
            (BigInt, seq),
            (Text, &m.source),
            (BigInt, seq),
            (Timestamp, at),
            (BigInt, seq),
            (BigInt, seq),
            (Bool, call_kind),
            (BigInt, seq),
            (Bool, ongoing),
            (Bool, call_kind),
            (BigInt, seq),
            (BigInt, seq),
            (Bool, missed),
            (BigInt, seq),
            (BigInt, seq),
            (Text, &u.conversation_id),
        ]
    )?;
    run!(
        conn,
        "UPDATE mq_memberships SET \
           last_activity = CASE WHEN last_activity < ? THEN ? ELSE last_activity END, \
           unread = unread + CASE WHEN ? AND contact_id <> ? AND read_seq < ? THEN 1 ELSE 0 END \
         WHERE conversation_id = ?",
        [
            (Timestamp, at),
            (Timestamp, at),
            (Bool, counted),
            (Text, &m.sender_contact),
            (BigInt, seq),
            (Text, &u.conversation_id),
        ]
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("SELECT ? WHERE a = ? AND b = ?"),
            "SELECT $1 WHERE a = $2 AND b = $3"
        );
    }
}
