//! Reading the inbox: contacts, a contact's conversations (the page itself is read by
//! `inbox_page`, in one snapshot), participants of conversations, recent messages.

use chrono::{DateTime, NaiveDateTime, Utc};
use conversations_db::AnyConnection;
use diesel::prelude::*;

use super::InboxStore;
use crate::error::MetadataError;
use crate::schema::{mq_contacts, mq_memberships, mq_messages};

/// A person within one application.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mq_contacts)]
pub struct Contact {
    /// Stable id (see [`crate::projection::contact_id`]).
    pub id: String,
    /// The application.
    pub app_id: String,
    /// Address.
    pub email: String,
    /// Latest display name seen.
    pub display_name: Option<String>,
    /// The integrator's id.
    pub external_id: Option<String>,
}

/// The `relevant=` filter of the inbox (Minddistrict's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relevant {
    /// A call is going on now.
    OngoingCall,
    /// A missed call after the contact's read marker.
    MissedCall,
    /// Unread messages.
    UnreadMessages,
    /// Any of the above.
    All,
}

impl Relevant {
    /// Parses the query value (`ongoing call`, `missed call`, `unread messages`, `all`;
    /// `_` or `-` may stand for the space).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw
            .trim()
            .to_ascii_lowercase()
            .replace(['_', '-'], " ")
            .as_str()
        {
            "ongoing call" => Some(Self::OngoingCall),
            "missed call" => Some(Self::MissedCall),
            "unread messages" => Some(Self::UnreadMessages),
            "all" => Some(Self::All),
            _ => None,
        }
    }
}

/// Which of a contact's conversations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    /// Only relevant ones.
    pub relevant: Option<Relevant>,
    /// Only muted (true) or unmuted (false) ones.
    pub muted: Option<bool>,
    /// Only archived (true) or not archived (false) ones.
    pub archived: Option<bool>,
    /// Only pinned (true) or unpinned (false) ones.
    pub pinned: Option<bool>,
    /// Only those with activity after this instant.
    pub updated_after: Option<DateTime<Utc>>,
}

/// Sort order and position.
#[derive(Debug, Clone, Default)]
pub struct InboxOrder {
    /// Pinned conversations first.
    pub pinned_first: bool,
    /// Continue after this item (keyset): (pinned, last activity, conversation id).
    pub after: Option<(bool, NaiveDateTime, String)>,
    /// Skip this many (offset paging, `start`).
    pub offset: i64,
    /// Page size.
    pub limit: i64,
}

/// One conversation in a contact's inbox.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// Conversation id.
    pub conversation_id: String,
    /// `group` or `personal`.
    pub kind: String,
    /// Subject.
    pub subject: Option<String>,
    /// Last message (or creation) time.
    pub last_activity: DateTime<Utc>,
    /// Unread messages for this contact.
    pub unread: i64,
    /// Any call event (started, ended or missed) ever.
    pub has_call: bool,
    /// A call going on.
    pub has_ongoing_call: bool,
    /// A missed call the contact has not read past.
    pub has_missed_call: bool,
    /// Muted by the contact.
    pub muted: bool,
    /// Pinned by the contact.
    pub pinned: bool,
    /// Archived by the contact.
    pub archived_at: Option<DateTime<Utc>>,
    /// Last opened by the contact.
    pub last_opened_at: Option<DateTime<Utc>>,
    /// The contact's read marker.
    pub read_seq: i64,
    /// Number of the last message (0 when none).
    pub last_message_seq: i64,
    /// Last message's author name.
    pub last_message_sender: Option<String>,
    /// Last message's author contact id.
    pub last_message_sender_contact: Option<String>,
    /// Last message preview.
    pub last_message_preview: Option<String>,
    /// Last message's source.
    pub last_message_source: Option<String>,
    /// Last message's time.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// A page of the inbox.
#[derive(Debug, Clone)]
pub struct InboxPage {
    /// The items.
    pub items: Vec<InboxItem>,
    /// Whether more follow.
    pub has_more: bool,
    /// Where the next page starts (pinned, last activity, conversation id of this page's
    /// last item as it was ordered): the keyset cursor. `None` on the last page.
    pub next_after: Option<(bool, NaiveDateTime, String)>,
    /// How many match the filter.
    pub found: i64,
    /// How many conversations the contact is in, unfiltered.
    pub total: i64,
    /// Unread messages across the contact's unmuted conversations (badge).
    pub badge: i64,
    /// Conversations with activity after `as_of` (they moved to the top meanwhile).
    pub changed_since: i64,
}

/// A member of a conversation.
#[derive(Debug, Clone, Queryable)]
pub struct MemberView {
    /// Conversation id.
    pub conversation_id: String,
    /// Contact id.
    pub contact_id: String,
    /// Address.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The integrator's id.
    pub external_id: Option<String>,
}

/// A message in the recent-messages view.
#[derive(Debug, Clone, Queryable)]
pub struct MessageItem {
    /// Conversation id.
    pub conversation_id: String,
    /// Number in the conversation.
    pub seq: i64,
    /// Author's contact id.
    pub sender_contact: String,
    /// Author's name.
    pub sender_name: Option<String>,
    /// Source.
    pub source: String,
    /// Text.
    pub body: String,
    /// Posted at.
    pub created_at: NaiveDateTime,
}

/// A page of one conversation's messages, newest first.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// The messages.
    pub messages: Vec<MessageItem>,
    /// Whether older ones follow.
    pub has_more: bool,
    /// How many match the source filter in the conversation.
    pub total: i64,
}

impl InboxStore {
    /// The contact with this id in `app`.
    pub fn contact(&self, app: &str, id: &str) -> Result<Option<Contact>, MetadataError> {
        let mut conn = self.conn()?;
        Ok(mq_contacts::table
            .filter(mq_contacts::id.eq(id))
            .filter(mq_contacts::app_id.eq(app))
            .select(Contact::as_select())
            .first(&mut *conn)
            .optional()?)
    }

    /// The contact with this integrator id in `app`.
    pub fn contact_by_external_id(
        &self,
        app: &str,
        external_id: &str,
    ) -> Result<Option<Contact>, MetadataError> {
        let mut conn = self.conn()?;
        Ok(mq_contacts::table
            .filter(mq_contacts::app_id.eq(app))
            .filter(mq_contacts::external_id.eq(external_id))
            .select(Contact::as_select())
            .first(&mut *conn)
            .optional()?)
    }

    /// One page of a contact's inbox. Its counts, badge and items are read in one
    /// snapshot (a read-only repeatable-read transaction on PostgreSQL, a read transaction
    /// on SQLite), so a page never shows a badge from before an event beside items from
    /// after it.
    pub fn inbox(
        &self,
        contact: &str,
        filter: &InboxFilter,
        order: &InboxOrder,
        as_of: Option<NaiveDateTime>,
    ) -> Result<InboxPage, MetadataError> {
        let mut pooled = self.conn()?;
        let conn: &mut AnyConnection = &mut pooled;
        conn.transaction::<_, MetadataError, _>(|conn| {
            if let AnyConnection::Postgresql(_) = conn {
                diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(conn)?;
            }
            super::inbox_page::inbox_page(conn, contact, filter, order, as_of)
        })
    }

    /// Active members of the listed conversations of `app`; when `member` is given, only
    /// of the conversations that contact is active in.
    pub fn members(
        &self,
        app: &str,
        conversation_ids: &[String],
        member: Option<&str>,
    ) -> Result<Vec<MemberView>, MetadataError> {
        use mq_memberships as m;
        let mut conn = self.conn()?;
        let mut ids: Vec<String> = conversation_ids.to_vec();
        if let Some(contact) = member {
            ids = m::table
                .filter(m::contact_id.eq(contact))
                .filter(m::active.eq(true))
                .filter(m::conversation_id.eq_any(&ids))
                .select(m::conversation_id)
                .load(&mut *conn)?;
        }
        Ok(m::table
            .filter(m::app_id.eq(app))
            .filter(m::conversation_id.eq_any(&ids))
            .filter(m::active.eq(true))
            .order((m::conversation_id.asc(), m::email.asc()))
            .select((
                m::conversation_id,
                m::contact_id,
                m::email,
                m::display_name,
                m::external_id,
            ))
            .load(&mut *conn)?)
    }

    /// The contact's active conversations in `app`, most recent activity first (ids
    /// only). The application is filtered here too, not only by the caller's contact
    /// check, so that no route can read across applications by forgetting that check.
    pub fn recent_conversations(
        &self,
        app: &str,
        contact: &str,
        limit: i64,
    ) -> Result<Vec<String>, MetadataError> {
        use mq_memberships as m;
        let mut conn = self.conn()?;
        Ok(m::table
            .filter(m::app_id.eq(app))
            .filter(m::contact_id.eq(contact))
            .filter(m::active.eq(true))
            .order((m::last_activity.desc(), m::conversation_id.desc()))
            .limit(limit)
            .select(m::conversation_id)
            .load(&mut *conn)?)
    }

    /// Which of `ids` the contact is active in, within `app`.
    pub fn member_of(
        &self,
        app: &str,
        contact: &str,
        ids: &[String],
    ) -> Result<Vec<String>, MetadataError> {
        use mq_memberships as m;
        let mut conn = self.conn()?;
        Ok(m::table
            .filter(m::app_id.eq(app))
            .filter(m::contact_id.eq(contact))
            .filter(m::active.eq(true))
            .filter(m::conversation_id.eq_any(ids))
            .select(m::conversation_id)
            .load(&mut *conn)?)
    }

    /// A page of a conversation's messages, newest first, before message `before`,
    /// optionally only some sources.
    pub fn recent_messages(
        &self,
        app: &str,
        conversation: &str,
        sources: &[String],
        before: Option<i64>,
        limit: i64,
    ) -> Result<MessagePage, MetadataError> {
        use mq_messages as msg;
        let mut conn = self.conn()?;
        let scoped = || {
            let mut q = msg::table
                .filter(msg::app_id.eq(app.to_owned()))
                .filter(msg::conversation_id.eq(conversation.to_owned()))
                .into_boxed();
            if !sources.is_empty() {
                q = q.filter(msg::source.eq_any(sources.to_vec()));
            }
            q
        };
        let total: i64 = scoped().count().get_result(&mut *conn)?;
        let mut q = scoped();
        if let Some(before) = before {
            q = q.filter(msg::seq.lt(before));
        }
        let mut messages: Vec<MessageItem> = q
            .order(msg::seq.desc())
            .limit(limit + 1)
            .select((
                msg::conversation_id,
                msg::seq,
                msg::sender_contact,
                msg::sender_name,
                msg::source,
                msg::body,
                msg::created_at,
            ))
            .load(&mut *conn)?;
        let has_more = messages.len() as i64 > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(MessagePage {
            messages,
            has_more,
            total,
        })
    }
}
