//! `POST /api/v1/contacts/{contact}/recent-messages` (Airy's contact messages endpoint):
//! per conversation of the contact, its most recent messages, optionally only some
//! sources, each conversation paged by its own cursor.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use conversations_domain::Source;
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::cursor::{decode_message_cursor, encode_message_cursor};
use crate::error::MetadataError;
use crate::startup::AppState;

/// Messages per conversation when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 10;
/// Most messages per conversation.
pub const MAX_LIMIT: i64 = 100;
/// Conversations covered when no cursors are given (most recent activity first).
pub const DEFAULT_CONVERSATIONS: i64 = 20;
/// Most conversations per request.
pub const MAX_CONVERSATIONS: i64 = 100;
/// Most sources in `filter_sources`.
pub const MAX_SOURCES: usize = 20;

/// The request body.
fn source_list() -> utoipa::openapi::Array {
    conversations_web::schema::source_list(MAX_SOURCES)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentMessagesRequest {
    /// Only messages of these sources (inclusive OR); all when empty or absent.
    #[serde(default)]
    #[schema(schema_with = source_list)]
    pub filter_sources: Vec<String>,
    /// Conversation id → `next_cursor` from a previous response: scroll those
    /// conversations (only those are returned when given).
    #[serde(default)]
    pub cursors: BTreeMap<String, String>,
    /// Messages per conversation, 1 to 100 (default 10).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Conversations when no cursors are given, 1 to 100 (default 20).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[schema(minimum = 1, maximum = 100)]
    pub conversations_limit: Option<i64>,
}

/// One message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecentMessage {
    /// `{conversation id}.{number}`.
    pub id: String,
    /// Its number.
    pub seq: i64,
    /// The text.
    pub content: String,
    /// `api`, `email`, `call`, or an integrator's source.
    pub source: String,
    /// When it was posted (RFC 3339).
    pub sent_at: DateTime<Utc>,
    /// Whether the contact wrote it.
    pub from_contact: bool,
    /// The author's contact id.
    pub sender_contact_id: String,
    /// The author's name.
    pub sender_name: Option<String>,
}

/// Airy's `pagination_data`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaginationData {
    /// Always null: pages run from newest to oldest.
    pub previous_cursor: Option<String>,
    /// Pass back in `cursors` for older messages; null at the oldest.
    pub next_cursor: Option<String>,
    /// Messages of the conversation matching the source filter.
    pub total: i64,
}

/// One conversation's part of the response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationMessages {
    /// The sources present on this page.
    pub sources: Vec<String>,
    /// Messages, newest first.
    pub data: Vec<RecentMessage>,
    /// Paging within this conversation.
    pub pagination_data: PaginationData,
}

/// Answers the recent-messages request; the response maps conversation ids to their
/// messages (conversations without a matching message are left out).
#[utoipa::path(post, path = "/api/v1/contacts/{contact}/recent-messages", tag = "inbox",
    params(("contact" = String, Path, description = "Contact id, or `me` with a participant token")),
    request_body = RecentMessagesRequest,
    responses(
        (status = 200, description = "Conversation id → its recent messages (newest first) and paging", body = std::collections::BTreeMap<String, ConversationMessages>),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact (or not the token's own)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn recent_messages(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, MetadataError> {
    let body = crate::startup::read_body(payload).await?;
    let contact = viewer.resolve_contact(&path)?;
    // An empty body means "everything, first pages"; anything else must be the request.
    let request: RecentMessagesRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RecentMessagesRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| MetadataError::InvalidRequest(format!("invalid JSON body: {e}")))?
    };
    let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(MetadataError::InvalidRequest(format!(
            "limit is 1 to {MAX_LIMIT}"
        )));
    }
    let conversations_limit = request.conversations_limit.unwrap_or(DEFAULT_CONVERSATIONS);
    if !(1..=MAX_CONVERSATIONS).contains(&conversations_limit) {
        return Err(MetadataError::InvalidRequest(format!(
            "conversations_limit is 1 to {MAX_CONVERSATIONS}"
        )));
    }
    if request.filter_sources.len() > MAX_SOURCES {
        return Err(MetadataError::InvalidRequest(format!(
            "at most {MAX_SOURCES} filter_sources"
        )));
    }
    if request.cursors.len() > usize::try_from(MAX_CONVERSATIONS).unwrap_or(100) {
        return Err(MetadataError::InvalidRequest(format!(
            "at most {MAX_CONVERSATIONS} cursors"
        )));
    }
    let sources = request
        .filter_sources
        .iter()
        .map(|s| {
            Source::parse("filter_sources", s)
                .map(|s| s.as_str().to_owned())
                .map_err(|e| MetadataError::InvalidRequest(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut before: HashMap<String, i64> = HashMap::new();
    for (conversation, cursor) in &request.cursors {
        let seq = decode_message_cursor(cursor).ok_or_else(|| {
            MetadataError::InvalidRequest(format!(
                "the cursor for {conversation} is not one we issued"
            ))
        })?;
        before.insert(conversation.clone(), seq);
    }
    let store = state.store.clone();
    let app = viewer.app().to_owned();
    let who = contact.clone();
    let pages = web::block(move || -> Result<_, MetadataError> {
        if store.contact(&app, &who)?.is_none() {
            return Err(MetadataError::NotFound(format!(
                "contact {who} does not exist"
            )));
        }
        let conversations = if before.is_empty() {
            store.recent_conversations(&app, &who, conversations_limit)?
        } else {
            let asked: Vec<String> = before.keys().cloned().collect();
            store.member_of(&app, &who, &asked)?
        };
        let mut pages = Vec::with_capacity(conversations.len());
        for conversation in conversations {
            let page = store.recent_messages(
                &app,
                &conversation,
                &sources,
                before.get(&conversation).copied(),
                limit,
            )?;
            pages.push((conversation, page));
        }
        Ok(pages)
    })
    .await??;
    let mut response: BTreeMap<String, ConversationMessages> = BTreeMap::new();
    for (conversation, page) in pages {
        if page.messages.is_empty() {
            continue;
        }
        let next_cursor = page
            .has_more
            .then(|| page.messages.last())
            .flatten()
            .map(|m| encode_message_cursor(m.seq));
        let mut present: Vec<String> = page.messages.iter().map(|m| m.source.clone()).collect();
        present.sort();
        present.dedup();
        response.insert(
            conversation.clone(),
            ConversationMessages {
                sources: present,
                data: page
                    .messages
                    .into_iter()
                    .map(|m| RecentMessage {
                        id: format!("{}.{}", m.conversation_id, m.seq),
                        seq: m.seq,
                        content: m.body,
                        source: m.source,
                        sent_at: m.created_at.and_utc(),
                        from_contact: m.sender_contact == contact,
                        sender_contact_id: m.sender_contact,
                        sender_name: m.sender_name,
                    })
                    .collect(),
                pagination_data: PaginationData {
                    previous_cursor: None,
                    next_cursor,
                    total: page.total,
                },
            },
        );
    }
    Ok(HttpResponse::Ok().json(response))
}
