//! The incoming log, for the application (API key): `GET /api/v1/inbound?outcome=&cursor=`,
//! `GET /api/v1/inbound/{id}`, `GET /api/v1/inbound/{id}/raw` and
//! `POST /api/v1/inbound/{id}/replay`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::ApiKey;
use crate::decide::Outcome;
use crate::error::InboundError;
use crate::pipeline::Inbound;
use crate::store::LogEntry;

/// Most entries per page.
const MAX_PAGE: usize = 200;

/// `?outcome=&cursor=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only mails of this outcome.
    pub outcome: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
}

/// One entry as the API shows it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    #[serde(flatten)]
    entry: LogEntry,
    /// Whether the raw mail is still kept (`…/raw`, replay).
    raw_available: bool,
}

impl From<LogEntry> for EntryView {
    fn from(entry: LogEntry) -> Self {
        Self {
            raw_available: entry.raw_message.is_some(),
            entry,
        }
    }
}

/// A page of the log.
#[derive(Debug, Serialize)]
pub struct LogList {
    /// Newest first.
    pub inbound: Vec<EntryView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/inbound`.
pub async fn list(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, InboundError> {
    let query = query.into_inner();
    let outcome = query
        .outcome
        .as_deref()
        .map(|o| {
            Outcome::parse(o).ok_or_else(|| {
                InboundError::BadRequest(format!(
                    "unknown outcome `{o}`: posted, duplicate, auto_reply, bounce, rejected, held or error"
                ))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(InboundError::BadRequest(format!(
            "limit is 1 to {MAX_PAGE}"
        )));
    }
    let store = inbound.store().clone();
    let page =
        web::block(move || store.entries(&app, outcome, query.cursor.as_deref(), limit)).await??;
    Ok(HttpResponse::Ok().json(LogList {
        inbound: page.entries.into_iter().map(EntryView::from).collect(),
        next_cursor: page.next,
    }))
}

async fn load(inbound: &Inbound, app: String, id: String) -> Result<LogEntry, InboundError> {
    let store = inbound.store().clone();
    let missing = format!("no inbound mail {id}");
    web::block(move || store.entry(&app, &id))
        .await??
        .ok_or(InboundError::NotFound(missing))
}

/// `GET /api/v1/inbound/{id}`.
pub async fn view(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, InboundError> {
    let entry = load(&inbound, app, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(EntryView::from(entry)))
}

/// `GET /api/v1/inbound/{id}/raw`: the mail as received (`message/rfc822`).
pub async fn raw(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, InboundError> {
    let entry = load(&inbound, app, path.into_inner()).await?;
    let raw = entry.raw_message.ok_or_else(|| {
        InboundError::NotFound("the raw mail is no longer kept (INBOUND_RETENTION_DAYS)".into())
    })?;
    Ok(HttpResponse::Ok().content_type("message/rfc822").body(raw))
}

/// `POST /api/v1/inbound/{id}/replay`: runs a stored mail that was not posted through the
/// current code again (after a fix, or after the participant was added back).
pub async fn replay(
    inbound: web::Data<Inbound>,
    ApiKey(app): ApiKey,
    path: web::Path<String>,
) -> Result<HttpResponse, InboundError> {
    let entry = load(&inbound, app, path.into_inner()).await?;
    if matches!(
        Outcome::parse(&entry.outcome),
        Some(Outcome::Posted | Outcome::Duplicate)
    ) {
        return Err(InboundError::Conflict(format!(
            "inbound mail {} was already {}; only mails that were not posted are replayed",
            entry.id, entry.outcome
        )));
    }
    if entry.raw_message.is_none() {
        return Err(InboundError::Conflict(format!(
            "the raw mail of {} is no longer kept (INBOUND_RETENTION_DAYS)",
            entry.id
        )));
    }
    let handled = inbound.replay(entry).await?;
    Ok(HttpResponse::Ok().json(handled))
}
