//! JSON shapes of the read API. Inbox items follow the Minddistrict conversation metadata
//! (`@type`, `@url`, `subject`, `last_activity`, `unread`, `has_call`,
//! `has_ongoing_call`, `has_missed_call`, `url`, `participants`), plus our own fields.
//! Participant tokens never see other people's addresses.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Viewer;
use crate::store::{Contact, MemberView};

/// `@type` of inbox items.
pub const INBOX_ITEM_TYPE: &str = "https://conversations.dev/ns/inbox-item";
/// `@type` of contacts.
pub const CONTACT_TYPE: &str = "https://conversations.dev/ns/contact";

/// A discovery link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// What it is for.
    pub name: &'static str,
    /// Where.
    pub url: String,
}

/// A contact.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    /// Type.
    #[serde(rename = "@type")]
    pub kind: &'static str,
    /// This resource.
    #[serde(rename = "@url")]
    pub url: String,
    /// Discovery: `conversations` and `recent-messages`.
    #[serde(rename = "@links")]
    pub links: Vec<Link>,
    /// Contact id.
    pub id: String,
    /// Address.
    pub email: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The integrator's id.
    pub external_id: Option<String>,
}

impl ContactView {
    /// The view of `c`, with links under `public_url`.
    pub fn new(public_url: &str, c: Contact) -> Self {
        let url = format!("{public_url}/api/v1/contacts/{}", c.id);
        Self {
            kind: CONTACT_TYPE,
            links: vec![
                Link {
                    name: "conversations",
                    url: format!("{url}/conversations"),
                },
                Link {
                    name: "recent-messages",
                    url: format!("{url}/recent-messages"),
                },
            ],
            url,
            id: c.id,
            email: c.email,
            display_name: c.display_name,
            external_id: c.external_id,
        }
    }
}

/// Another participant, as the viewer may see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    /// Contact id.
    pub contact_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// The integrator's id: shown to the application, and to a token only for its own
    /// contact (like the address).
    pub external_id: Option<String>,
    /// Address: shown to the application, and to a token only for its own contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl PersonView {
    /// `m` as `viewer` may see them.
    pub fn new(viewer: &Viewer, m: &MemberView) -> Self {
        let own = match viewer.contact() {
            None => true,
            Some(me) => me == m.contact_id,
        };
        Self {
            contact_id: m.contact_id.clone(),
            display_name: m.display_name.clone(),
            external_id: own.then(|| m.external_id.clone()).flatten(),
            email: own.then(|| m.email.clone()),
        }
    }

    /// The name shown in `participants`: display name, else (for the application) the
    /// address, else "Participant".
    pub fn name(&self) -> String {
        self.display_name
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| "Participant".to_owned())
    }
}

/// The last message of a conversation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LastMessage {
    /// `{conversation id}.{number}`.
    pub id: String,
    /// Its number.
    pub seq: i64,
    /// The author's name.
    pub sender_name: Option<String>,
    /// The author's contact id.
    pub sender_contact_id: Option<String>,
    /// Whether the contact wrote it.
    pub from_contact: bool,
    /// The first characters of the text.
    pub preview: Option<String>,
    /// `api`, `email`, `call`, or an integrator's source.
    pub source: Option<String>,
    /// When it was posted.
    pub created: Option<DateTime<Utc>>,
}

/// One conversation in the inbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxItemView {
    /// Links of the item (none yet; kept for the Minddistrict shape).
    #[serde(rename = "@links")]
    pub links: Vec<Link>,
    /// Type.
    #[serde(rename = "@type")]
    pub kind: &'static str,
    /// The conversation in the API (conversation-api).
    #[serde(rename = "@url")]
    pub api_url: String,
    /// Conversation id.
    pub id: String,
    /// Subject.
    pub subject: Option<String>,
    /// `group` or `personal`.
    #[serde(rename = "type")]
    pub conversation_type: String,
    /// Last message (or creation) time, RFC 3339.
    pub last_activity: DateTime<Utc>,
    /// Unread messages.
    pub unread: i64,
    /// Any call ever.
    pub has_call: bool,
    /// A call going on now.
    pub has_ongoing_call: bool,
    /// A missed call the contact has not read past.
    pub has_missed_call: bool,
    /// Web page of the conversation.
    pub url: String,
    /// Names of the other active participants.
    pub participants: Vec<String>,
    /// The other active participants in detail.
    pub participant_details: Vec<PersonView>,
    /// The last message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
    /// Muted by the contact.
    pub muted: bool,
    /// Pinned by the contact.
    pub pinned: bool,
    /// Archived by the contact.
    pub archived_at: Option<DateTime<Utc>>,
    /// Last opened by the contact.
    pub last_opened_at: Option<DateTime<Utc>>,
    /// The contact's read marker.
    pub last_read: i64,
}

/// Minddistrict's `@paging`, plus the keyset cursor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paging {
    /// Items matching the filters.
    pub found: i64,
    /// Page size.
    pub limit: i64,
    /// Offset of this page (0 when paging by cursor).
    pub start: i64,
    /// All of the contact's conversations, unfiltered.
    pub total: i64,
    /// Whether more items follow.
    pub has_more: bool,
    /// Pass as `cursor=` for the next page (stable while messages arrive).
    pub next_cursor: Option<String>,
    /// Conversations with activity since the first page was served: they moved to the top,
    /// refresh the first page to see them.
    pub changed_since_first_page: i64,
}

/// `GET /api/v1/contacts/{contact}/conversations`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxView {
    /// The page.
    #[serde(rename = "@items")]
    pub items: Vec<InboxItemView>,
    /// Links of the listing (the contact).
    #[serde(rename = "@links")]
    pub links: Vec<Link>,
    /// Paging.
    #[serde(rename = "@paging")]
    pub paging: Paging,
    /// Total unread messages across the contact's unmuted conversations.
    pub badge: i64,
    /// Same as `@paging.has_more`.
    pub has_more: bool,
    /// Same as `@paging.next_cursor`.
    pub next_cursor: Option<String>,
}
