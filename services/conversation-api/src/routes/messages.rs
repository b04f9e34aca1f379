//! Reading messages: one by number, or a page filtered by source.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::redact;
use crate::routes::conversation_id;
use crate::routes::conversations::PageQuery;
use crate::startup::AppState;
use crate::views::{MessageList, MessageWithParticipants, Views};

/// Most sources one filter may name.
const MAX_SOURCES: usize = 20;

/// `?source=a,b&limit=&cursor=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated sources to keep (e.g. `api,email`); all when absent.
    #[param(pattern = r"^ *([a-z0-9_.-]{1,64} *)?(, *([a-z0-9_.-]{1,64} *)?)*$")]
    pub source: Option<String>,
    /// Messages per page, 1 to 500 (default 100).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

/// `GET /api/v1/conversations/{id}/messages`: messages, oldest first, optionally only
/// those of some sources (e.g. events from other systems).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", params(("id" = String, Path), ListQuery),
    responses((status = 200, body = MessageList), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let query = query.into_inner();
    let (limit, after) = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let sources: Vec<String> = query
        .source
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    conversations_domain::Source::parse("source", s)
                        .map(|s| s.as_str().to_owned())
                        .map_err(|e| ApiError::InvalidQuery(e.to_string()))
                })
                .collect::<Result<_, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if sources.len() > MAX_SOURCES {
        return Err(ApiError::InvalidQuery(format!(
            "at most {MAX_SOURCES} sources"
        )));
    }
    let store = state.store.clone();
    let app = caller.app();
    let member = caller.clone();
    let (conversation, page) = web::block(move || -> Result<_, ApiError> {
        let conversation = store
            .load_conversation(app, id)?
            .ok_or_else(|| ApiError::NotFound(format!("conversation {id} does not exist")))?;
        member.check_member(&conversation)?;
        let page = store.messages(id, after, limit, &sources)?;
        Ok((conversation, page))
    })
    .await??;
    let views = Views {
        codec: &state.codec,
    };
    let list = MessageList {
        messages: page
            .messages
            .iter()
            .map(|m| views.message(&conversation, m))
            .collect(),
        next_cursor: page.next_after.map(|n| n.to_string()),
    };
    Ok(HttpResponse::Ok().json(redact::body_for(
        &state.aliases,
        &caller,
        &conversation,
        &list,
    )?))
}

/// `GET /api/v1/conversations/{id}/{n}`: one message, out of context.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/{n}", params(("id" = String, Path), ("n" = u64, Path)),
    responses((status = 200, body = MessageWithParticipants), (status = 404, body = crate::error::Problem)))]
pub async fn view(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let app = caller.app();
    let (raw_id, raw_seq) = path.into_inner();
    let id = conversation_id(&raw_id)?;
    let not_found = || ApiError::NotFound(format!("message {raw_id}/{raw_seq} does not exist"));
    let seq: u64 = raw_seq.parse().map_err(|_| not_found())?;
    let store = state.store.clone();
    let found = web::block(move || -> Result<_, ApiError> {
        let Some(conversation) = store.load_conversation(app, id)? else {
            return Ok(None);
        };
        Ok(store.message(id, seq)?.map(|m| (conversation, m)))
    })
    .await??;
    let (conversation, message) = found.ok_or_else(not_found)?;
    caller.check_member(&conversation)?;
    let view = Views {
        codec: &state.codec,
    }
    .message_with_participants(&conversation, &message);
    Ok(HttpResponse::Ok().json(redact::body_for(
        &state.aliases,
        &caller,
        &conversation,
        &view,
    )?))
}
