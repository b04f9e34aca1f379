//! `GET /api/v1/participants?conversation_ids=a,b,c` (SAMA's get_participants_by_cids):
//! the active participants of each listed conversation the caller may see. Ids the
//! caller may not see (another application's, or, for a token, conversations its contact
//! is not in) are ignored, as SAMA does.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::error::MetadataError;
use crate::routes::views::PersonView;
use crate::startup::AppState;

/// Most conversation ids per request.
pub const MAX_IDS: usize = 100;

/// Query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsQuery {
    /// Comma-separated conversation ids (1 to 100; an empty entry is refused).
    #[param(pattern = r"^[^,\x00]*[^\s,\x00][^,\x00]*(,[^,\x00]*[^\s,\x00][^,\x00]*){0,99}$")]
    pub conversation_ids: String,
}

/// One conversation's participants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationParticipants {
    /// Conversation id.
    pub id: String,
    /// Active participants.
    pub participants: Vec<PersonView>,
}

/// The response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParticipantsView {
    /// One entry per visible conversation, in the order asked.
    pub conversations: Vec<ConversationParticipants>,
}

/// Lists participants by conversation ids.
#[utoipa::path(get, path = "/api/v1/participants", tag = "inbox", params(ParticipantsQuery),
    responses(
        (status = 200, description = "The active participants of each listed conversation the caller may see", body = ParticipantsView),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn by_conversation_ids(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<ParticipantsQuery>,
) -> Result<HttpResponse, MetadataError> {
    // Capped before any work: more than MAX_IDS entries (duplicates count) are refused
    // before they are compared with one another.
    let listed: Vec<&str> = query
        .conversation_ids
        .split(',')
        .map(str::trim)
        .take(MAX_IDS + 1)
        .collect();
    if listed.iter().any(|id| id.is_empty()) {
        return Err(MetadataError::InvalidRequest(
            "conversation_ids: an empty entry (two commas in a row, or one at either end)".into(),
        ));
    }
    if listed.len() > MAX_IDS {
        return Err(MetadataError::InvalidRequest(format!(
            "at most {MAX_IDS} conversation_ids"
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(listed.len());
    let ids: Vec<String> = listed
        .into_iter()
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(MetadataError::InvalidRequest(
            "conversation_ids lists at least one conversation id".into(),
        ));
    }
    let store = state.store.clone();
    let app = viewer.app().to_owned();
    let member = viewer.contact().map(str::to_owned);
    let asked = ids.clone();
    let members = web::block(move || store.members(&app, &asked, member.as_deref())).await??;
    let conversations = ids
        .into_iter()
        .filter_map(|id| {
            let participants: Vec<PersonView> = members
                .iter()
                .filter(|m| m.conversation_id == id)
                .map(|m| PersonView::new(&viewer, m))
                .collect();
            (!participants.is_empty()).then_some(ConversationParticipants { id, participants })
        })
        .collect();
    Ok(HttpResponse::Ok().json(ParticipantsView { conversations }))
}
