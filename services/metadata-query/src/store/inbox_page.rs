//! One page of a contact's inbox, read on one connection inside the snapshot
//! [`InboxStore::inbox`](super::InboxStore::inbox) opens: the filtered count, the badge,
//! the page of memberships in keyset order and the conversations they belong to.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_db::AnyConnection;
use diesel::prelude::*;

use super::read::{InboxFilter, InboxItem, InboxOrder, InboxPage, Relevant};
use crate::error::MetadataError;
use crate::schema::{mq_conversations, mq_memberships};

/// Applies an [`InboxFilter`] to a boxed query over `mq_memberships`, joined or not: every
/// filter reads the membership alone (call flags are copied onto it by the projection).
macro_rules! membership_filters {
    ($q:expr, $filter:expr) => {{
        use crate::schema::mq_memberships as m;
        let mut q = $q;
        match $filter.relevant {
            Some(Relevant::OngoingCall) => q = q.filter(m::call_ongoing.eq(true)),
            Some(Relevant::MissedCall) => q = q.filter(m::last_missed_call_seq.gt(m::read_seq)),
            Some(Relevant::UnreadMessages) => q = q.filter(m::unread.gt(0)),
            Some(Relevant::All) => {
                q = q.filter(
                    m::call_ongoing
                        .eq(true)
                        .or(m::last_missed_call_seq.gt(m::read_seq))
                        .or(m::unread.gt(0)),
                )
            }
            None => {}
        }
        if let Some(muted) = $filter.muted {
            q = q.filter(m::muted.eq(muted));
        }
        if let Some(pinned) = $filter.pinned {
            q = q.filter(m::pinned.eq(pinned));
        }
        match $filter.archived {
            Some(true) => q = q.filter(m::archived_at.is_not_null()),
            Some(false) => q = q.filter(m::archived_at.is_null()),
            None => {}
        }
        if let Some(after) = $filter.updated_after {
            q = q.filter(m::last_activity.gt(after.naive_utc()));
        }
        q
    }};
}

type InboxRow = (
    (
        String,
        String,
        Option<String>,
        i64,
        bool,
        i64,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    ),
    (
        NaiveDateTime,
        i64,
        bool,
        bool,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        i64,
    ),
);

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// [`InboxStore::inbox`] on one connection, inside its snapshot.
pub(super) fn inbox_page(
    conn: &mut AnyConnection,
    contact: &str,
    filter: &InboxFilter,
    order: &InboxOrder,
    as_of: Option<NaiveDateTime>,
) -> Result<InboxPage, MetadataError> {
    use mq_conversations as c;
    use mq_memberships as m;
    // Memberships only: the covering index `mq_inbox_recent` answers it alone.
    let filtered = || {
        let q = m::table
            .filter(m::contact_id.eq(contact.to_owned()))
            .filter(m::active.eq(true))
            .into_boxed();
        membership_filters!(q, filter)
    };
    let (total, badge): (i64, Option<i64>) = m::table
        .filter(m::contact_id.eq(contact))
        .filter(m::active.eq(true))
        .select(diesel::dsl::sql::<(
            diesel::sql_types::BigInt,
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        )>(
            "COUNT(*), CAST(SUM(CASE WHEN muted THEN 0 ELSE unread END) AS BIGINT)",
        ))
        .first(conn)?;
    // Counting matches costs a pass over the contact's index entries: skipped when
    // nothing is filtered.
    let found: i64 = if *filter == InboxFilter::default() {
        total
    } else {
        filtered().count().get_result(conn)?
    };
    let mut q = filtered();
    if let Some((pinned, at, id)) = &order.after {
        // `last_activity <= at` bounds the index range scan (deep pages cost what the
        // first does); the disjunction only sorts out ties at `at`.
        let before_in_time = m::last_activity.le(*at).and(
            m::last_activity
                .lt(*at)
                .or(m::conversation_id.lt(id.clone())),
        );
        if order.pinned_first {
            q = if *pinned {
                q.filter(
                    m::pinned
                        .eq(false)
                        .or(m::pinned.eq(true).and(before_in_time)),
                )
            } else {
                q.filter(m::pinned.eq(false).and(before_in_time))
            };
        } else {
            q = q.filter(before_in_time);
        }
    }
    q = if order.pinned_first {
        q.order((
            m::pinned.desc(),
            m::last_activity.desc(),
            m::conversation_id.desc(),
        ))
    } else {
        q.order((m::last_activity.desc(), m::conversation_id.desc()))
    };
    // First the page's conversations, in order, from the index; then their rows. The
    // next page continues from the order this statement saw, whatever changes before
    // the rows are read.
    let ordered: Vec<(String, bool, NaiveDateTime)> = q
        .offset(order.offset)
        .limit(order.limit + 1)
        .select((m::conversation_id, m::pinned, m::last_activity))
        .load(conn)?;
    let page_len = usize::try_from(order.limit).unwrap_or(0);
    let has_more = ordered.len() > page_len;
    let next_after = if has_more {
        ordered
            .get(page_len.saturating_sub(1))
            .map(|(id, pinned, at)| (*pinned, *at, id.clone()))
    } else {
        None
    };
    let keys: Vec<String> = ordered.into_iter().map(|(id, _, _)| id).collect();
    let mut rows: Vec<InboxRow> = if keys.is_empty() {
        Vec::new()
    } else {
        m::table
            .inner_join(c::table)
            .filter(m::contact_id.eq(contact))
            .filter(m::conversation_id.eq_any(&keys))
            .select((
                (
                    c::id,
                    c::kind,
                    c::subject,
                    c::last_call_seq,
                    c::call_ongoing,
                    c::last_missed_call_seq,
                    c::last_message_seq,
                    c::last_message_sender,
                    c::last_message_sender_contact,
                    c::last_message_preview,
                    c::last_message_source,
                    c::last_message_at,
                ),
                (
                    m::last_activity,
                    m::unread,
                    m::muted,
                    m::pinned,
                    m::archived_at,
                    m::last_opened_at,
                    m::read_seq,
                ),
            ))
            .load(conn)?
    };
    let position: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    rows.sort_by_key(|(conv, _)| position.get(conv.0.as_str()).copied());
    let items = rows
        .into_iter()
        .take(usize::try_from(order.limit).unwrap_or(0))
        .map(|(conv, member)| InboxItem {
            conversation_id: conv.0,
            kind: conv.1,
            subject: conv.2,
            has_call: conv.3 > 0,
            has_ongoing_call: conv.4,
            has_missed_call: conv.5 > member.6,
            last_message_seq: conv.6,
            last_message_sender: conv.7,
            last_message_sender_contact: conv.8,
            last_message_preview: conv.9,
            last_message_source: conv.10,
            last_message_at: conv.11.map(utc),
            last_activity: utc(member.0),
            unread: member.1,
            muted: member.2,
            pinned: member.3,
            archived_at: member.4.map(utc),
            last_opened_at: member.5.map(utc),
            read_seq: member.6,
        })
        .collect();
    let changed_since = match as_of {
        Some(as_of) => m::table
            .filter(m::contact_id.eq(contact))
            .filter(m::active.eq(true))
            .filter(m::last_activity.gt(as_of))
            .count()
            .get_result(conn)?,
        None => 0,
    };
    Ok(InboxPage {
        items,
        has_more,
        next_after,
        found,
        total,
        badge: badge.unwrap_or(0),
        changed_since,
    })
}
