//! `GET /internal/v1/events?after=&limit=`: every event ever committed, in commit order,
//! for a new metadata-query replica (or a rebuild) to catch up from before it follows its
//! queue. Internal: authenticated with `FEED_TOKEN`, never routed by the public gateway.

use actix_web::{HttpRequest, HttpResponse, web};
use conversations_events::feed::{FeedEvent, FeedPage};
use data_encoding::BASE64;
use serde::Deserialize;

use crate::error::ApiError;
use crate::startup::AppState;

/// Largest page of the feed.
pub const MAX_FEED_PAGE: usize = 1000;

/// Query of the feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Position to continue after (0 for the beginning).
    pub after: Option<i64>,
    /// Events per page, 1 to 1000 (default 500).
    pub limit: Option<usize>,
}

/// Serves a page of the event feed.
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let Some(expected) = state.feed_token.as_deref() else {
        return Err(ApiError::NotFound("no such resource".into()));
    };
    let presented = crate::auth::bearer(&req).unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(500);
    if limit == 0 || limit > MAX_FEED_PAGE {
        return Err(ApiError::InvalidQuery(format!(
            "limit is 1 to {MAX_FEED_PAGE}"
        )));
    }
    let store = state.store.clone();
    let rows = web::block(move || store.events_after(after, limit)).await??;
    Ok(HttpResponse::Ok().json(FeedPage {
        events: rows
            .into_iter()
            .map(|r| FeedEvent {
                position: r.position,
                event_type: r.event_type,
                payload: BASE64.encode(&r.payload),
            })
            .collect(),
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
