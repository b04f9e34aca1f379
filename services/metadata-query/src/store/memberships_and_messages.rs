//! What a batch writes for its conversations' memberships and messages (steps 2 to 4 of
//! [`super::apply`]): memberships read and inserted, messages stored once, and the effects
//! of the new messages on memberships (activity, unread counts, call flags) and on the
//! conversations.

use std::collections::HashMap;

use conversations_db::AnyConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use chrono::NaiveDateTime;

use super::apply::{BatchCache, UNREAD_COUNT, naive, newest_per_conversation, to_i64};
use crate::error::MetadataError;
use crate::projection::{CallKind, ConversationUpdate, ParticipantState, PostedMessage};
use conversations_db::statement::{Statement, Value, guarded, rows_per_statement};

/// A membership of one of the batch's conversations, as it stands after the batch's
/// states are written.
pub(super) struct Member<'a> {
    conversation_id: String,
    contact_id: String,
    read_seq: i64,
    /// New, or its read marker moved: its unread count is recounted from the messages.
    recount: bool,
    /// A newer state of a stored membership, written when it is settled (one write per
    /// row and batch); `None` when the row is new (inserted already) or the batch has
    /// nothing newer.
    state: Option<(&'a ConversationUpdate, &'a ParticipantState)>,
}

#[derive(QueryableByName)]
struct StoredMembership {
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = Text)]
    contact_id: String,
    #[diesel(sql_type = BigInt)]
    state_seq: i64,
    #[diesel(sql_type = BigInt)]
    read_seq: i64,
}

/// Stores each member's newest state in the batch (when newer than the stored one) and
/// returns every membership of the batch's conversations as it then stands. Unread counts
/// and last activity are settled afterwards, in [`record_activity`].
pub(super) fn write_memberships<'a>(
    conn: &mut AnyConnection,
    updates: &[&'a ConversationUpdate],
) -> Result<Vec<Member<'a>>, MetadataError> {
    let conversations: Vec<&str> = newest_per_conversation(updates.iter().copied())
        .iter()
        .map(|u| u.conversation_id.as_str())
        .collect();
    let mut stored: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for chunk in conversations.chunks(rows_per_statement(1)) {
        let mut statement = Statement::new(
            "SELECT conversation_id, contact_id, state_seq, read_seq FROM mq_memberships \
             WHERE conversation_id IN ",
        );
        let rows: Vec<StoredMembership> = statement.texts_in(chunk.iter().copied()).load(conn)?;
        stored.extend(
            rows.into_iter()
                .map(|r| ((r.conversation_id, r.contact_id), (r.state_seq, r.read_seq))),
        );
    }

    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut newest: Vec<(&'a ConversationUpdate, &'a ParticipantState)> = Vec::new();
    for &u in updates {
        for p in &u.participants {
            let key = (u.conversation_id.as_str(), p.contact_id.as_str());
            match index.get(&key) {
                Some(&i) => {
                    if u.seq > newest[i].0.seq {
                        newest[i] = (u, p);
                    }
                }
                None => {
                    index.insert(key, newest.len());
                    newest.push((u, p));
                }
            }
        }
    }

    let mut members: Vec<Member<'a>> = Vec::with_capacity(stored.len() + newest.len());
    let mut inserts: Vec<(&ConversationUpdate, &ParticipantState)> = Vec::new();
    for &(u, p) in &newest {
        let key = (u.conversation_id.clone(), p.contact_id.clone());
        let read_seq = to_i64(p.read_seq);
        match stored.remove(&key) {
            None => {
                inserts.push((u, p));
                members.push(Member {
                    conversation_id: key.0,
                    contact_id: key.1,
                    read_seq,
                    recount: true,
                    state: None,
                });
            }
            Some((state_seq, stored_read)) if state_seq < to_i64(u.seq) => {
                members.push(Member {
                    conversation_id: key.0,
                    contact_id: key.1,
                    read_seq,
                    recount: read_seq != stored_read,
                    state: Some((u, p)),
                });
            }
            Some((_, stored_read)) => members.push(Member {
                conversation_id: key.0,
                contact_id: key.1,
                read_seq: stored_read,
                recount: false,
                state: None,
            }),
        }
    }
    // Members the batch says nothing about.
    members.extend(
        stored
            .into_iter()
            .map(|((conversation_id, contact_id), (_, read_seq))| Member {
                conversation_id,
                contact_id,
                read_seq,
                recount: false,
                state: None,
            }),
    );

    for chunk in inserts.chunks(rows_per_statement(15)) {
        let mut statement = Statement::new(
            "INSERT INTO mq_memberships (conversation_id, contact_id, app_id, email, \
               display_name, external_id, state_seq, active, muted, pinned, archived_at, \
               last_opened_at, read_seq, unread, last_activity) VALUES ",
        );
        for (u, p) in chunk {
            statement.row(&[
                Value::Text(&u.conversation_id),
                Value::Text(&p.contact_id),
                Value::Text(&u.app_id),
                Value::Text(&p.email),
                Value::OptText(p.display_name.as_deref()),
                Value::OptText(p.external_id.as_deref()),
                Value::Int(to_i64(u.seq)),
                Value::Bool(p.active),
                Value::Bool(p.muted),
                Value::Bool(p.pinned),
                Value::OptTime(p.archived_at.map(naive)),
                Value::OptTime(p.last_opened_at.map(naive)),
                Value::Int(to_i64(p.read_seq)),
                // Both settled in `record_activity`.
                Value::Int(0),
                Value::Time(naive(u.conversation.created_at)),
            ]);
        }
        // Writers hold the projection lock, so the rows read above are still absent.
        statement
            .push(" ON CONFLICT (conversation_id, contact_id) DO NOTHING")
            .execute(conn)?;
    }
    Ok(members)
}

/// A message this batch stored for the first time.
pub(super) struct Stored<'a> {
    conversation_id: &'a str,
    message: &'a PostedMessage,
    counted: bool,
}

#[derive(QueryableByName)]
struct MessageKey {
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// Inserts the batch's messages; returns those that were not stored before.
pub(super) fn insert_messages<'a>(
    conn: &mut AnyConnection,
    cache: &mut BatchCache,
    updates: &[&'a ConversationUpdate],
) -> Result<Vec<Stored<'a>>, MetadataError> {
    let mut candidates: HashMap<(&str, i64), Stored<'a>> = HashMap::new();
    let mut order: Vec<(&str, i64)> = Vec::new();
    for u in updates {
        if let Some(m) = &u.message {
            let key = (u.conversation_id.as_str(), to_i64(m.seq));
            if candidates.contains_key(&key) {
                continue;
            }
            let counted = cache.counts_as_unread(conn, &u.app_id, &m.source)?;
            order.push(key);
            candidates.insert(
                key,
                Stored {
                    conversation_id: &u.conversation_id,
                    message: m,
                    counted,
                },
            );
        }
    }
    let app_of: HashMap<&str, &str> = updates
        .iter()
        .map(|u| (u.conversation_id.as_str(), u.app_id.as_str()))
        .collect();
    let mut stored = Vec::new();
    for chunk in order.chunks(rows_per_statement(8)) {
        let mut statement = Statement::new(
            "INSERT INTO mq_messages (conversation_id, seq, app_id, sender_contact, \
               sender_name, source, body, created_at) VALUES ",
        );
        for key in chunk {
            let Some(s) = candidates.get(key) else {
                continue;
            };
            let m = s.message;
            statement.row(&[
                Value::Text(s.conversation_id),
                Value::Int(key.1),
                Value::Text(app_of.get(s.conversation_id).copied().unwrap_or_default()),
                Value::Text(&m.sender_contact),
                Value::OptText(m.sender_name.as_deref()),
                Value::Text(&m.source),
                Value::Text(&m.text),
                Value::Time(naive(m.created_at)),
            ]);
        }
        let inserted: Vec<MessageKey> = statement
            .push(" ON CONFLICT (conversation_id, seq) DO NOTHING RETURNING conversation_id, seq")
            .load(conn)?;
        for row in inserted {
            // The batch's own copy of the id, for a key of the batch's lifetime.
            if let Some((&id, _)) = app_of.get_key_value(row.conversation_id.as_str())
                && let Some(s) = candidates.remove(&(id, row.seq))
            {
                stored.push(s);
            }
        }
    }
    Ok(stored)
}

/// What a conversation's newly stored messages change about it.
struct Activity<'a> {
    conversation_id: &'a str,
    latest_at: NaiveDateTime,
    newest: &'a PostedMessage,
    /// The newest call message: its number and whether it left a call going.
    call: (i64, bool),
    /// The newest missed call's number (0: none).
    missed: i64,
    /// This conversation's new messages.
    messages: Vec<&'a Stored<'a>>,
}

fn activities<'a>(stored: &'a [Stored<'a>]) -> Vec<Activity<'a>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Activity<'a>> = Vec::new();
    for s in stored {
        let m = s.message;
        let i = *index.entry(s.conversation_id).or_insert_with(|| {
            out.push(Activity {
                conversation_id: s.conversation_id,
                latest_at: naive(m.created_at),
                newest: m,
                call: (0, false),
                missed: 0,
                messages: Vec::new(),
            });
            out.len() - 1
        });
        let a = &mut out[i];
        a.latest_at = a.latest_at.max(naive(m.created_at));
        if m.seq > a.newest.seq {
            a.newest = m;
        }
        let seq = to_i64(m.seq);
        if let Some(kind) = m.call {
            if seq > a.call.0 {
                a.call = (seq, kind == CallKind::Started);
            }
            if kind == CallKind::Missed {
                a.missed = a.missed.max(seq);
            }
        }
        a.messages.push(s);
    }
    out
}

/// Moves last message, call flags and last activity of the conversations that got new
/// messages; then settles their members' unread counts (adding the new messages unread for
/// them, or recounting where the read marker moved or the membership is new) and last
/// activity.
pub(super) fn record_activity(
    conn: &mut AnyConnection,
    stored: &[Stored<'_>],
    members: &[Member<'_>],
) -> Result<(), MetadataError> {
    let all = activities(stored);
    let previews: Vec<String> = all.iter().map(|a| a.newest.preview()).collect();
    let per_statement = rows_per_statement(11);
    for (chunk, previews) in all
        .chunks(per_statement)
        .zip(previews.chunks(per_statement))
    {
        update_conversations(conn, chunk, previews)?;
    }
    let by_conversation: HashMap<&str, &Activity<'_>> =
        all.iter().map(|a| (a.conversation_id, a)).collect();
    let settle: Vec<(&Member<'_>, i64)> = members
        .iter()
        .filter_map(|m| {
            let activity = by_conversation.get(m.conversation_id.as_str());
            if activity.is_none() && !m.recount && m.state.is_none() {
                return None;
            }
            let unread = activity.map_or(0, |a| {
                a.messages
                    .iter()
                    .filter(|s| {
                        s.counted
                            && s.message.sender_contact != m.contact_id
                            && to_i64(s.message.seq) > m.read_seq
                    })
                    .count()
            });
            Some((m, i64::try_from(unread).unwrap_or(i64::MAX)))
        })
        .collect();
    for chunk in settle.chunks(rows_per_statement(14)) {
        settle_memberships(conn, chunk)?;
    }
    Ok(())
}

/// The unread count of the membership being updated, counted from the stored messages
/// after the read marker `read_seq` (an SQL expression).
pub(super) fn recount(read_seq: &str) -> String {
    UNREAD_COUNT
        .replace(
            "m.conversation_id = ?",
            "m.conversation_id = mq_memberships.conversation_id",
        )
        .replace("m.seq > ?", &format!("m.seq > {read_seq}"))
        .replace(
            "m.sender_contact <> ?",
            "m.sender_contact <> mq_memberships.contact_id",
        )
        .replace("s.app_id = ?", "s.app_id = mq_memberships.app_id")
}

fn settle_memberships(
    conn: &mut AnyConnection,
    rows: &[(&Member<'_>, i64)],
) -> Result<(), MetadataError> {
    let mut statement = Statement::new(
        "WITH d (n_conversation, n_contact, n_add, n_recount, n_read_seq, n_has_state, \
           n_display_name, n_external_id, n_state_seq, n_active, n_muted, n_pinned, \
           n_archived_at, n_last_opened_at) AS (VALUES ",
    );
    for (m, add) in rows {
        let state = m.state.map(|(u, p)| (to_i64(u.seq), p));
        statement.row(&[
            Value::Text(&m.conversation_id),
            Value::Text(&m.contact_id),
            Value::Int(*add),
            Value::Bool(m.recount),
            Value::Int(m.read_seq),
            Value::Bool(state.is_some()),
            Value::OptText(state.and_then(|(_, p)| p.display_name.as_deref())),
            Value::OptText(state.and_then(|(_, p)| p.external_id.as_deref())),
            Value::Int(state.map_or(0, |(seq, _)| seq)),
            Value::Bool(state.is_some_and(|(_, p)| p.active)),
            Value::Bool(state.is_some_and(|(_, p)| p.muted)),
            Value::Bool(state.is_some_and(|(_, p)| p.pinned)),
            Value::OptTime(state.and_then(|(_, p)| p.archived_at.map(naive))),
            Value::OptTime(state.and_then(|(_, p)| p.last_opened_at.map(naive))),
        ]);
    }
    let newer = |column: &str| {
        guarded(
            "mq_memberships",
            column,
            "d.n_has_state",
            &format!("d.n_{column}"),
        )
    };
    let state_columns = [
        "display_name",
        "external_id",
        "state_seq",
        "active",
        "muted",
        "pinned",
        "archived_at",
        "last_opened_at",
    ]
    .map(newer)
    .join(", ");
    statement
        .end_list(&format!(
            ") UPDATE mq_memberships SET {state_columns}, read_seq = d.n_read_seq, \
               unread = CASE WHEN d.n_recount THEN {} \
                 ELSE mq_memberships.unread + d.n_add END, \
               last_activity = CASE WHEN mq_memberships.last_activity < c.last_activity \
                 THEN c.last_activity ELSE mq_memberships.last_activity END, \
               call_ongoing = c.call_ongoing, last_missed_call_seq = c.last_missed_call_seq \
             FROM d, mq_conversations c \
             WHERE mq_memberships.conversation_id = d.n_conversation \
               AND mq_memberships.contact_id = d.n_contact AND c.id = d.n_conversation",
            recount("d.n_read_seq")
        ))
        .execute(conn)?;
    Ok(())
}

fn update_conversations(
    conn: &mut AnyConnection,
    activities: &[Activity<'_>],
    previews: &[String],
) -> Result<(), MetadataError> {
    let mut statement = Statement::new(
        "WITH v (n_id, n_at, n_seq, n_sender, n_contact, n_preview, n_source, n_msg_at, \
           n_call_seq, n_ongoing, n_missed_seq) AS (VALUES ",
    );
    for (a, preview) in activities.iter().zip(previews) {
        let m = a.newest;
        statement.row(&[
            Value::Text(a.conversation_id),
            Value::Time(a.latest_at),
            Value::Int(to_i64(m.seq)),
            Value::OptText(m.sender_name.as_deref()),
            Value::Text(&m.sender_contact),
            Value::Text(preview),
            Value::Text(&m.source),
            Value::Time(naive(m.created_at)),
            Value::Int(a.call.0),
            Value::Bool(a.call.1),
            Value::Int(a.missed),
        ]);
    }
    let newer = "mq_conversations.last_message_seq < v.n_seq";
    let call = "mq_conversations.last_call_seq < v.n_call_seq";
    let set = |column: &str, condition: &str, value: &str| {
        guarded("mq_conversations", column, condition, value)
    };
    let assignments = [
        set(
            "last_activity",
            "mq_conversations.last_activity < v.n_at",
            "v.n_at",
        ),
        set("last_message_sender", newer, "v.n_sender"),
        set("last_message_sender_contact", newer, "v.n_contact"),
        set("last_message_preview", newer, "v.n_preview"),
        set("last_message_source", newer, "v.n_source"),
        set("last_message_at", newer, "v.n_msg_at"),
        set("last_message_seq", newer, "v.n_seq"),
        set("call_ongoing", call, "v.n_ongoing"),
        set("last_call_seq", call, "v.n_call_seq"),
        set(
            "last_missed_call_seq",
            "mq_conversations.last_missed_call_seq < v.n_missed_seq",
            "v.n_missed_seq",
        ),
    ]
    .join(", ");
    statement
        .end_list(&format!(
            ") UPDATE mq_conversations SET {assignments} FROM v WHERE mq_conversations.id = v.n_id"
        ))
        .execute(conn)?;
    Ok(())
}
