//! `GET /internal/v1/events?after=&limit=`: the events committed, in commit order (feed
//! positions), for a new metadata-query replica (or a rebuild) to catch up from before it
//! follows its queue; events older than `FEED_RETENTION_DAYS` are pruned, and a replica
//! further behind rebuilds from `GET /internal/v1/snapshot?after=&limit=`, the current
//! state as events. Internal: authenticated with `FEED_TOKEN`, never routed by the public
//! gateway.

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
    check_feed_token(&state, &req)?;
    let after = query.after.unwrap_or(0);
    let limit = query.limit.unwrap_or(500);
    if limit == 0 || limit > MAX_FEED_PAGE {
        return Err(ApiError::InvalidQuery(format!(
            "limit is 1 to {MAX_FEED_PAGE}"
        )));
    }
    let store = state.store.clone();
    let (rows, oldest) = web::block(move || -> Result<_, ApiError> {
        let outbox = store.outbox();
        let rows = outbox
            .events_after(after, limit)
            .map_err(conversations_store::StoreError::from)?;
        // Read after the page: pruning in between then shows as a gap, never hides one.
        let oldest = outbox
            .oldest()
            .map_err(conversations_store::StoreError::from)?;
        Ok((rows, Some(oldest)))
    })
    .await??;
    Ok(HttpResponse::Ok().json(FeedPage {
        oldest,
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

/// Query of the snapshot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// `next` of the previous page; absent for the first.
    pub after: Option<String>,
    /// Conversations per page, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

/// Serves a page of the snapshot of current state.
pub async fn snapshot(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SnapshotQuery>,
) -> Result<HttpResponse, ApiError> {
    check_feed_token(&state, &req)?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::InvalidQuery("limit is 1 to 500".into()));
    }
    let after = query.into_inner().after;
    let store = state.store.clone();
    let codec = state.codec.clone();
    let page = web::block(move || crate::snapshot::page(&store, &codec, after.as_deref(), limit))
        .await??;
    Ok(HttpResponse::Ok().json(page))
}

/// The feed and the snapshot answer only the feed's own token (404 when it is unset).
fn check_feed_token(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = state
        .feed_token
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
    else {
        return Err(ApiError::NotFound("no such resource".into()));
    };
    let presented = crate::auth::bearer(req).unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// Compares a presented secret in constant time (`subtle`): how long the answer takes
/// tells nothing about how much of a guess was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
