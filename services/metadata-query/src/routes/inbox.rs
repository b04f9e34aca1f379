//! `GET /api/v1/contacts/{contact}/conversations`: the contact's inbox, most recent
//! activity first (pinned first with `pinned_first=true`), filtered and paged.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::cursor::InboxCursor;
use crate::error::MetadataError;
use crate::routes::views::{
    INBOX_ITEM_TYPE, InboxItemView, InboxView, LastMessage, Link, Paging, PersonView,
};
use crate::startup::AppState;
use crate::store::{InboxFilter, InboxOrder, Relevant};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 10;
/// Largest page.
pub const MAX_LIMIT: i64 = 100;
/// Largest `start` (deeper pages go by cursor, which costs the same at any depth).
pub const MAX_START: i64 = 10_000;

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Offset (Minddistrict's `start`); 0 with a cursor.
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[param(minimum = 0, maximum = 10_000)]
    pub start: Option<i64>,
    /// Page size, 1 to 100 (default 10).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque: only cursors we issued are taken).
    #[param(pattern = r"^[A-Za-z0-9_-]{0,512}$")]
    pub cursor: Option<String>,
    /// `ongoing call`, `missed call`, `unread messages` or `all`.
    #[param(pattern = r"^ *(ongoing call|missed call|unread messages|all) *$")]
    pub relevant: Option<String>,
    /// `true` / `false`.
    #[param(pattern = r"^ *(true|false|1|0|yes|no)? *$")]
    pub muted: Option<String>,
    /// `true` / `false`.
    #[param(pattern = r"^ *(true|false|1|0|yes|no)? *$")]
    pub archived: Option<String>,
    /// `true` / `false`.
    #[param(pattern = r"^ *(true|false|1|0|yes|no)? *$")]
    pub pinned: Option<String>,
    /// RFC 3339 timestamp: only conversations with later activity.
    #[param(format = DateTime)]
    pub updated_after: Option<String>,
    /// `true`: pinned conversations first.
    #[param(pattern = r"^ *(true|false|1|0|yes|no)? *$")]
    pub pinned_first: Option<String>,
}

fn flag(name: &str, raw: Option<&str>) -> Result<Option<bool>, MetadataError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(MetadataError::InvalidRequest(format!(
            "{name} is `true` or `false`, not `{other}`"
        ))),
    }
}

/// Lists the contact's conversations.
#[utoipa::path(get, path = "/api/v1/contacts/{contact}/conversations", tag = "inbox",
    params(("contact" = String, Path, description = "Contact id, or `me` with a participant token"), InboxQuery),
    responses(
        (status = 200, description = "A page of the contact's conversations, most recent activity first, with the badge", body = crate::routes::views::InboxView),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact (or not the token's own)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, MetadataError> {
    let contact = viewer.resolve_contact(&path)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(MetadataError::InvalidRequest(format!(
            "limit is 1 to {MAX_LIMIT}"
        )));
    }
    let start = q.start.unwrap_or(0);
    if !(0..=MAX_START).contains(&start) {
        return Err(MetadataError::InvalidRequest(format!(
            "start is 0 to {MAX_START}; page deeper with `cursor`"
        )));
    }
    let relevant = q
        .relevant
        .as_deref()
        .map(|r| {
            Relevant::parse(r).ok_or_else(|| {
                MetadataError::InvalidRequest(format!(
                    "relevant is one of `ongoing call`, `missed call`, `unread messages`, `all`; not `{r}`"
                ))
            })
        })
        .transpose()?;
    let updated_after = q
        .updated_after
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    MetadataError::InvalidRequest(format!(
                        "updated_after is an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, not `{t}`"
                    ))
                })
        })
        .transpose()?;
    let filter = InboxFilter {
        relevant,
        muted: flag("muted", q.muted.as_deref())?,
        archived: flag("archived", q.archived.as_deref())?,
        pinned: flag("pinned", q.pinned.as_deref())?,
        updated_after,
    };
    let pinned_first = flag("pinned_first", q.pinned_first.as_deref())?.unwrap_or(false);
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let c = InboxCursor::decode(raw).ok_or_else(|| {
                MetadataError::InvalidRequest("cursor is not one we issued".into())
            })?;
            if c.pinned_first != pinned_first {
                return Err(MetadataError::InvalidRequest(
                    "the cursor was made for another `pinned_first` order".into(),
                ));
            }
            if start != 0 {
                return Err(MetadataError::InvalidRequest(
                    "give either `start` or `cursor`, not both".into(),
                ));
            }
            Some(c)
        }
    };
    let as_of = cursor
        .as_ref()
        .map_or_else(|| Utc::now().naive_utc(), |c| c.as_of);
    let order = InboxOrder {
        pinned_first,
        after: cursor
            .as_ref()
            .map(|c| (c.pinned, c.last_activity, c.conversation_id.clone())),
        offset: start,
        limit,
    };
    let store = state.store.clone();
    let app = viewer.app().to_owned();
    let lookup_contact = contact.clone();
    let (page, members) = web::block(move || -> Result<_, MetadataError> {
        if store.contact(&app, &lookup_contact)?.is_none() {
            return Err(MetadataError::NotFound(format!(
                "contact {lookup_contact} does not exist"
            )));
        }
        let page = store.inbox(&lookup_contact, &filter, &order, Some(as_of))?;
        let ids: Vec<String> = page
            .items
            .iter()
            .map(|i| i.conversation_id.clone())
            .collect();
        let members = store.members(&app, &ids, None)?;
        Ok((page, members))
    })
    .await??;
    let next_cursor = page.next_after.clone().map(|(pinned, last_activity, id)| {
        InboxCursor {
            pinned_first,
            pinned,
            last_activity,
            conversation_id: id,
            as_of,
        }
        .encode()
    });
    let public = &state.public_url;
    let items = page
        .items
        .into_iter()
        .map(|item| {
            let others: Vec<PersonView> = members
                .iter()
                .filter(|m| m.conversation_id == item.conversation_id && m.contact_id != contact)
                .map(|m| PersonView::new(&viewer, m))
                .collect();
            let last_message = (item.last_message_seq > 0).then(|| LastMessage {
                id: format!("{}.{}", item.conversation_id, item.last_message_seq),
                seq: item.last_message_seq,
                sender_name: item.last_message_sender.clone(),
                from_contact: item.last_message_sender_contact.as_deref() == Some(&contact),
                sender_contact_id: item.last_message_sender_contact.clone(),
                preview: item.last_message_preview.clone(),
                source: item.last_message_source.clone(),
                created: item.last_message_at,
            });
            InboxItemView {
                links: Vec::new(),
                kind: INBOX_ITEM_TYPE,
                api_url: format!("{public}/api/v1/conversations/{}", item.conversation_id),
                url: format!("{public}/conversations/{}", item.conversation_id),
                id: item.conversation_id,
                subject: item.subject,
                conversation_type: item.kind,
                last_activity: item.last_activity,
                unread: item.unread,
                has_call: item.has_call,
                has_ongoing_call: item.has_ongoing_call,
                has_missed_call: item.has_missed_call,
                participants: others.iter().map(PersonView::name).collect(),
                participant_details: others,
                last_message,
                muted: item.muted,
                pinned: item.pinned,
                archived_at: item.archived_at,
                last_opened_at: item.last_opened_at,
                last_read: item.read_seq,
            }
        })
        .collect();
    let view = InboxView {
        items,
        links: vec![Link {
            name: "contact",
            url: format!("{public}/api/v1/contacts/{contact}"),
        }],
        paging: Paging {
            found: page.found,
            limit,
            start,
            total: page.total,
            has_more: page.has_more,
            next_cursor: next_cursor.clone(),
            changed_since_first_page: page.changed_since,
        },
        badge: page.badge,
        has_more: page.has_more,
        next_cursor,
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            "Cache-Control",
            "max-age=0, no-cache, no-store, must-revalidate",
        ))
        .json(view))
}
