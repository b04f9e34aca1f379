//! `GET`/`PUT /api/v1/settings/unread-sources`: which integrator sources count as unread.
//! Messages from people (`api`, `email`) always do; events from other systems (e.g.
//! `salesforce_history`, `call`) only when the application lists their source here.
//! Changing the list recomputes the application's unread counts.

use actix_web::{HttpResponse, web};
use conversations_domain::Source;
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::error::MetadataError;
use crate::startup::AppState;

/// Most sources in the list.
pub const MAX_SOURCES: usize = 50;

fn source_list() -> utoipa::openapi::Array {
    conversations_web::schema::source_list(MAX_SOURCES)
}

/// The setting.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnreadSources {
    /// Sources besides `api` and `email` whose messages count as unread.
    #[schema(schema_with = source_list)]
    pub sources: Vec<String>,
}

/// Reads the setting.
#[utoipa::path(get, path = "/api/v1/settings/unread-sources", tag = "inbox",
    responses(
        (status = 200, description = "Integrator sources whose messages count as unread (besides `api` and `email`)", body = UnreadSources),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Participant tokens may not read settings", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_unread_sources(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, MetadataError> {
    let app = viewer.require_application()?.to_owned();
    let store = state.store.clone();
    let sources = web::block(move || store.unread_sources(&app)).await??;
    Ok(HttpResponse::Ok().json(UnreadSources { sources }))
}

/// Replaces the setting.
#[utoipa::path(put, path = "/api/v1/settings/unread-sources", tag = "inbox", request_body = UnreadSources,
    responses(
        (status = 200, description = "Stored; unread counts of the application's conversations recounted", body = UnreadSources),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Participant tokens may not change settings", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_unread_sources(
    state: web::Data<AppState>,
    viewer: Viewer,
    body: web::Json<UnreadSources>,
) -> Result<HttpResponse, MetadataError> {
    let app = viewer.require_application()?.to_owned();
    if body.sources.len() > MAX_SOURCES {
        return Err(MetadataError::InvalidRequest(format!(
            "at most {MAX_SOURCES} sources"
        )));
    }
    let mut sources = body
        .sources
        .iter()
        .map(|s| {
            Source::parse("sources", s)
                .map(|s| s.as_str().to_owned())
                .map_err(|e| MetadataError::InvalidRequest(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    sources.sort();
    sources.dedup();
    let store = state.store.clone();
    let saved = sources.clone();
    web::block(move || store.set_unread_sources(&app, &saved)).await??;
    Ok(HttpResponse::Ok().json(UnreadSources { sources }))
}
