//! Applying planned updates to the projection, a batch per transaction, set by set.
//!
//! Each row remembers the sequence number of the state it holds (`info_seq`, `state_seq`,
//! `last_message_seq`, …) and is only overwritten by a newer one, so an event applied twice
//! or late changes nothing. A batch is applied in a fixed number of statements whatever
//! its size (one multi-row statement per table and step), because a round trip per event
//! cannot keep up with thousands of events a second:
//!
//! 1. the projection lock is taken (writers sharing a database apply one batch at a time);
//!    conversations already deleted are dropped from the batch; deletions in it are applied
//!    (deletion is final: everything else about that conversation is older news);
//! 2. conversation rows and contacts are upserted with the newest state the batch holds;
//!    the memberships of the batch's conversations are read, new ones inserted;
//! 3. the batch's messages are inserted; those that were new move the conversations' last
//!    message, call flags and last activity;
//! 4. every membership the batch touches is written once: its newest state, its last
//!    activity, its unread count, and the conversation's call flags (copied, so that the
//!    inbox filters and their counts read memberships alone).
//!
//! Unread counts stay exact under any delivery order and any batching: a membership that
//! is new or whose read marker moves is recounted from the stored messages (the batch's
//! included); any other gains the batch's new messages that are unread for it (counted in
//! Rust against the read marker read in step 2, which the lock keeps current). A message is
//! stored once, so it is counted once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_db::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::InboxStore;
use super::memberships_and_messages::{self, recount};
use crate::error::MetadataError;
use crate::projection::{ConversationUpdate, PEOPLE_SOURCES, Update};
use crate::schema::{mq_checkpoint, mq_unread_sources};
use conversations_db::statement::{Statement, Value, rows_per_statement};

pub(super) fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(super) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The unread count of a member, recomputed from the stored messages (used as a scalar
/// subquery with binds: conversation, read marker, contact, application).
pub(super) const UNREAD_COUNT: &str = "(SELECT COUNT(*) FROM mq_messages m \
     WHERE m.conversation_id = ? AND m.seq > ? AND m.sender_contact <> ? \
     AND (m.source IN ('api', 'email') \
          OR m.source IN (SELECT s.source FROM mq_unread_sources s WHERE s.app_id = ?)))";

/// Where in which feed an event was read: the checkpoint row (`mq_checkpoint.id`: 1 for
/// conversation-api's outbox, 2 for the notifier's in the all-in-one) and the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPosition {
    /// The checkpoint row of the feed.
    pub checkpoint: i32,
    /// The event's position in that feed.
    pub position: i64,
}

/// An event to apply, with its position in the replay feed when it came from there.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What it changes.
    pub update: Update,
    /// The feed (checkpoint id) and position it came from, when read from a feed rather
    /// than a queue; recorded in the same transaction.
    pub feed_position: Option<FeedPosition>,
}

/// Per-transaction memory of settings that every message of an application needs.
#[derive(Default)]
pub(super) struct BatchCache {
    counted_sources: HashMap<String, Vec<String>>,
    /// Contacts as stored (the store's memory, taken for the batch and given back).
    known_contacts: super::KnownContacts,
}

impl BatchCache {
    pub(super) fn counts_as_unread(
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
    /// Applies `batch` in one transaction; records the highest feed position.
    pub fn apply(&self, batch: &[Planned]) -> Result<(), MetadataError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let result = self.apply_in_transaction(batch);
        crate::metrics::batch_applied(batch.len(), started.elapsed(), result.is_ok());
        result
    }

    fn apply_in_transaction(&self, batch: &[Planned]) -> Result<(), MetadataError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let mut cache = BatchCache {
            known_contacts: std::mem::take(&mut *self.known()),
            ..Default::default()
        };
        let result = conn.transaction::<_, MetadataError, _>(|conn| {
            let conn: &mut AnyConnection = conn;
            lock_projection(conn)?;
            apply_batch(conn, &mut cache, batch)?;
            super::deliveries::write(conn, super::deliveries::rows_of(batch))?;
            let mut highest: HashMap<i32, i64> = HashMap::new();
            for at in batch.iter().filter_map(|p| p.feed_position) {
                let seen = highest.entry(at.checkpoint).or_insert(at.position);
                *seen = (*seen).max(at.position);
            }
            for (checkpoint, position) in highest {
                diesel::update(
                    mq_checkpoint::table
                        .filter(mq_checkpoint::id.eq(checkpoint))
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
        drop(known);
        // The batch's connection goes back first: with a pool of one, analyzing would
        // otherwise wait for itself.
        drop(conn);
        if result.is_ok() {
            self.refresh_statistics_if_due(batch.len());
        }
        result
    }

    /// Analyzes the projection tables when the schedule says so (PostgreSQL). A failure
    /// only costs query plans, so it is logged, not returned.
    fn refresh_statistics_if_due(&self, events: usize) {
        let Some(schedule) = &self.analyze else {
            return;
        };
        let due = schedule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .applied(u64::try_from(events).unwrap_or(u64::MAX));
        if !due {
            return;
        }
        let started = std::time::Instant::now();
        let outcome = self.conn().and_then(|mut conn| {
            Statement::new("ANALYZE mq_conversations, mq_memberships, mq_messages, mq_contacts")
                .execute(&mut conn)
                .map_err(MetadataError::from)
        });
        match outcome {
            Ok(_) => tracing::debug!(took = ?started.elapsed(), "projection tables analyzed"),
            Err(e) => tracing::warn!(error = %e, "analyzing the projection tables failed"),
        }
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
            lock_projection(conn)?;
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
            let recount = recount("mq_memberships.read_seq");
            let mut statement = Statement::new(format!(
                "UPDATE mq_memberships SET unread = {recount} WHERE app_id = ?"
            ));
            statement.bind(Value::Text(app));
            statement.execute(conn)?;
            Ok(())
        })
    }
}

/// The advisory lock key writers of one projection database hold for a transaction
/// (an arbitrary constant: "inbx" in ASCII).
const PROJECTION_LOCK: i64 = 0x696e_6278;

/// Makes writers of the same projection database (replicas sharing it and its queue) apply
/// their batches one at a time: a batch reads the memberships it is about to change and
/// computes unread counts from them, which only holds if nobody changes them meanwhile.
/// Reads are not blocked. SQLite has a single writer anyway (`write_guard`).
pub(super) fn lock_projection(conn: &mut AnyConnection) -> Result<(), MetadataError> {
    if let AnyConnection::Postgresql(_) = conn {
        Statement::new(format!("SELECT pg_advisory_xact_lock({PROJECTION_LOCK})")).execute(conn)?;
    }
    Ok(())
}

fn apply_batch(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    batch: &[Planned],
) -> Result<(), MetadataError> {
    let mut updates: Vec<&ConversationUpdate> = Vec::with_capacity(batch.len());
    for planned in batch {
        match &planned.update {
            Update::Ignore => {}
            Update::KeyIssued {
                app_id,
                app_name,
                key_hash,
            } => {
                let mut statement =
                    Statement::new("INSERT INTO mq_api_keys (key_hash, app_id, app_name) VALUES ");
                statement
                    .row(&[
                        Value::Text(key_hash),
                        Value::Text(app_id),
                        Value::Text(app_name),
                    ])
                    .push(" ON CONFLICT (key_hash) DO NOTHING")
                    .execute(conn)?;
            }
            Update::KeyRevoked { key_hash } => {
                Statement::new("DELETE FROM mq_api_keys WHERE key_hash IN ")
                    .row(&[Value::Text(key_hash)])
                    .execute(conn)?;
            }
            Update::Conversation(update) => updates.push(update),
            // Written after the conversations (see `deliveries::write`).
            Update::Delivery(_) => {}
        }
    }
    if updates.is_empty() {
        return Ok(());
    }
    let already_deleted = deleted_conversations(conn, &updates)?;
    updates.retain(|u| !already_deleted.contains(u.conversation_id.as_str()));
    upsert_contacts(conn, cache, &updates)?;

    let deleting: HashSet<&str> = updates
        .iter()
        .filter(|u| u.deleted)
        .map(|u| u.conversation_id.as_str())
        .collect();
    if !deleting.is_empty() {
        let deletions: Vec<&ConversationUpdate> =
            newest_per_conversation(updates.iter().copied().filter(|u| u.deleted));
        // People the rest of the batch still writes about keep their contact.
        let staying: HashSet<&str> = updates
            .iter()
            .filter(|u| !deleting.contains(u.conversation_id.as_str()))
            .flat_map(|u| u.participants.iter().map(|p| p.contact_id.as_str()))
            .collect();
        delete_conversations(conn, cache, &deletions, &staying)?;
        updates.retain(|u| !deleting.contains(u.conversation_id.as_str()));
    }
    if updates.is_empty() {
        return Ok(());
    }
    upsert_conversations(conn, &newest_per_conversation(updates.iter().copied()))?;
    let members = memberships_and_messages::write_memberships(conn, &updates)?;
    let stored = memberships_and_messages::insert_messages(conn, cache, &updates)?;
    memberships_and_messages::record_activity(conn, &stored, &members)?;
    Ok(())
}

/// For each conversation, its update with the highest sequence number, in first-seen order.
pub(super) fn newest_per_conversation<'a>(
    updates: impl Iterator<Item = &'a ConversationUpdate>,
) -> Vec<&'a ConversationUpdate> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut newest: Vec<&ConversationUpdate> = Vec::new();
    for u in updates {
        match index.get(u.conversation_id.as_str()) {
            Some(&i) => {
                if u.seq > newest[i].seq {
                    newest[i] = u;
                }
            }
            None => {
                index.insert(&u.conversation_id, newest.len());
                newest.push(u);
            }
        }
    }
    newest
}

#[derive(QueryableByName)]
struct ConversationId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The batch's conversations that are deleted in the projection.
fn deleted_conversations(
    conn: &mut AnyConnection,
    updates: &[&ConversationUpdate],
) -> Result<HashSet<String>, MetadataError> {
    let ids: Vec<&str> = updates
        .iter()
        .map(|u| u.conversation_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut deleted = HashSet::new();
    for chunk in ids.chunks(rows_per_statement(1)) {
        let mut statement =
            Statement::new("SELECT id FROM mq_conversations WHERE deleted_seq > 0 AND id IN ");
        statement.texts_in(chunk.iter().copied());
        let rows: Vec<ConversationId> = statement.load(conn)?;
        deleted.extend(rows.into_iter().map(|r| r.id));
    }
    Ok(deleted)
}

/// The values of a new conversation row (all counters zero), with `deleted_seq`.
fn conversation_row(u: &ConversationUpdate, deleted_seq: i64) -> [Value<'_>; 11] {
    [
        Value::Text(&u.conversation_id),
        Value::Text(&u.app_id),
        Value::Text(&u.conversation.kind),
        Value::OptText(u.conversation.subject.as_deref()),
        Value::Int(to_i64(u.seq)),
        Value::Time(naive(u.conversation.created_at)),
        Value::Int(0),
        Value::Int(0),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(deleted_seq),
    ]
}

const INSERT_CONVERSATIONS: &str = "INSERT INTO mq_conversations (id, app_id, kind, subject, \
     info_seq, last_activity, last_message_seq, last_call_seq, call_ongoing, \
     last_missed_call_seq, deleted_seq) VALUES ";

#[derive(QueryableByName)]
struct ContactId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    contact_id: String,
}

/// Marks conversations deleted (creating the row when unseen, so later news is ignored)
/// and removes their inbox entries and messages.
fn delete_conversations(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    deletions: &[&ConversationUpdate],
    staying: &HashSet<&str>,
) -> Result<(), MetadataError> {
    for chunk in deletions.chunks(rows_per_statement(11)) {
        let mut statement = Statement::new(INSERT_CONVERSATIONS);
        for u in chunk {
            statement.row(&conversation_row(u, to_i64(u.seq)));
        }
        statement
            .push(" ON CONFLICT (id) DO UPDATE SET deleted_seq = excluded.deleted_seq")
            .execute(conn)?;
        // Erasure: the tombstone keeps only what orders later events, nothing of what
        // the conversation said.
        Statement::new(
            "UPDATE mq_conversations SET subject = NULL, last_message_sender = NULL, \
             last_message_sender_contact = NULL, last_message_preview = NULL WHERE id IN ",
        )
        .texts_in(chunk.iter().map(|u| u.conversation_id.as_str()))
        .execute(conn)?;
        let members: Vec<ContactId> = Statement::new(
            "SELECT DISTINCT contact_id FROM mq_memberships WHERE conversation_id IN ",
        )
        .texts_in(chunk.iter().map(|u| u.conversation_id.as_str()))
        .load(conn)?;
        let members: Vec<ContactId> = members
            .into_iter()
            .filter(|c| !staying.contains(c.contact_id.as_str()))
            .collect();
        for table in ["mq_memberships", "mq_messages", "mq_deliveries"] {
            Statement::new(format!("DELETE FROM {table} WHERE conversation_id IN "))
                .texts_in(chunk.iter().map(|u| u.conversation_id.as_str()))
                .execute(conn)?;
        }
        // People known only from the deleted conversations: their addresses go too.
        for people in members.chunks(rows_per_statement(1)) {
            Statement::new("DELETE FROM mq_contacts WHERE id IN ")
                .texts_in(people.iter().map(|c| c.contact_id.as_str()))
                .push(
                    " AND NOT EXISTS (SELECT 1 FROM mq_memberships m \
                     WHERE m.contact_id = mq_contacts.id)",
                )
                .execute(conn)?;
            for person in people {
                cache.known_contacts.remove(&person.contact_id);
            }
        }
    }
    Ok(())
}

/// Creates unseen conversations and moves subject and kind forward.
fn upsert_conversations(
    conn: &mut AnyConnection,
    newest: &[&ConversationUpdate],
) -> Result<(), MetadataError> {
    for chunk in newest.chunks(rows_per_statement(11)) {
        let mut statement = Statement::new(INSERT_CONVERSATIONS);
        for u in chunk {
            statement.row(&conversation_row(u, 0));
        }
        statement
            .push(
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                 subject = excluded.subject, info_seq = excluded.info_seq \
                 WHERE mq_conversations.info_seq < excluded.info_seq",
            )
            .execute(conn)?;
    }
    Ok(())
}

/// Stores contacts whose name or external id the batch tells something new about; a value
/// missing from an event never erases a stored one.
fn upsert_contacts(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    updates: &[&ConversationUpdate],
) -> Result<(), MetadataError> {
    /// What the batch says about one contact: its latest present values.
    struct Told<'a> {
        id: &'a str,
        app: &'a str,
        email: &'a str,
        name: Option<&'a str>,
        external: Option<&'a str>,
    }
    let mut told: Vec<Told<'_>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for u in updates {
        for p in &u.participants {
            // The memory only decides what is worth writing; the values written are the
            // batch's own (another replica may have stored newer ones meanwhile).
            if let Some((name, external)) = cache.known_contacts.get(&p.contact_id)
                && (p.display_name.is_none() || p.display_name == *name)
                && (p.external_id.is_none() || p.external_id == *external)
            {
                continue;
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
            let i = *seen.entry(&p.contact_id).or_insert_with(|| {
                told.push(Told {
                    id: &p.contact_id,
                    app: &u.app_id,
                    email: &p.email,
                    name: None,
                    external: None,
                });
                told.len() - 1
            });
            let t = &mut told[i];
            t.name = p.display_name.as_deref().or(t.name);
            t.external = p.external_id.as_deref().or(t.external);
        }
    }
    for chunk in told.chunks(rows_per_statement(5)) {
        let mut statement = Statement::new(
            "INSERT INTO mq_contacts (id, app_id, email, display_name, external_id) VALUES ",
        );
        for t in chunk {
            statement.row(&[
                Value::Text(t.id),
                Value::Text(t.app),
                Value::Text(t.email),
                Value::OptText(t.name),
                Value::OptText(t.external),
            ]);
        }
        statement
            .push(
                " ON CONFLICT (id) DO UPDATE SET \
                   display_name = COALESCE(excluded.display_name, mq_contacts.display_name), \
                   external_id = COALESCE(excluded.external_id, mq_contacts.external_id) \
                 WHERE (excluded.display_name IS NOT NULL \
                        AND excluded.display_name IS DISTINCT FROM mq_contacts.display_name) \
                    OR (excluded.external_id IS NOT NULL \
                        AND excluded.external_id IS DISTINCT FROM mq_contacts.external_id)",
            )
            .execute(conn)?;
    }
    Ok(())
}
