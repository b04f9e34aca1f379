//! The suppression list, for the application (API key): `GET /api/v1/suppressions` and
//! `DELETE /api/v1/suppressions/{email}`. Lifting one tells the notifier through an
//! `address_unsuppressed` event.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::ApiKey;
use crate::error::InboundError;
use crate::pipeline::Inbound;
use crate::store::Suppression;

/// Most addresses per page.
const MAX_PAGE: usize = 500;

/// `?cursor=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Addresses per page, 1 to 500 (default 100).
    pub limit: Option<usize>,
}

/// A page of suppressed addresses.
#[derive(Debug, Serialize)]
pub struct SuppressionList {
    /// In address order.
    pub suppressions: Vec<Suppression>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/suppressions`.
pub async fn list(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    query: web::Query<SuppressionQuery>,
) -> Result<HttpResponse, InboundError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(InboundError::BadRequest(format!(
            "limit is 1 to {MAX_PAGE}"
        )));
    }
    let store = inbound.store().clone();
    let suppressions =
        web::block(move || store.suppressions(&app, query.cursor.as_deref(), limit)).await??;
    let next_cursor = (suppressions.len() == limit)
        .then(|| suppressions.last().map(|s| s.email.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(SuppressionList {
        suppressions,
        next_cursor,
    }))
}

/// `DELETE /api/v1/suppressions/{email}`: 204, or 404 when it was not suppressed.
pub async fn lift(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, InboundError> {
    let email = path.into_inner().trim().to_ascii_lowercase();
    let store = inbound.store().clone();
    let missing = format!("{email} is not suppressed");
    let lifted =
        web::block(move || store.lift_suppression(&app, &email, chrono::Utc::now())).await??;
    if !lifted {
        return Err(InboundError::NotFound(missing));
    }
    inbound.wake_relay();
    Ok(HttpResponse::NoContent().finish())
}
