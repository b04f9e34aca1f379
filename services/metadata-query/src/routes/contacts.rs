//! `GET /api/v1/contacts?email=…` (or `?external_id=…`) and `GET /api/v1/contacts/{id}`:
//! a contact and the discovery links of its inbox resources.

use actix_web::{HttpResponse, web};
use conversations_domain::EmailAddress;
use serde::Deserialize;

use crate::auth::Viewer;
use crate::error::MetadataError;
use crate::routes::views::ContactView;
use crate::startup::AppState;

/// Lookup by address or by the integrator's id.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    /// The contact's address.
    pub email: Option<String>,
    /// The integrator's id.
    pub external_id: Option<String>,
}

/// Finds a contact by address or integrator id.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "inbox", params(FindQuery),
    responses(
        (status = 200, description = "The contact, with links to its conversations and recent messages", body = ContactView),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact (or not the token's own)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn find(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<FindQuery>,
) -> Result<HttpResponse, MetadataError> {
    let app = viewer.app().to_owned();
    let store = state.store.clone();
    let contact = match (&query.email, &query.external_id) {
        (Some(email), None) => {
            let email = EmailAddress::parse("email", email)
                .map_err(|e| MetadataError::InvalidRequest(e.to_string()))?;
            let id = store.contact_ids().id(&app, email.as_str());
            web::block(move || store.contact(&app, &id)).await??
        }
        (None, Some(external)) => {
            let external = external.clone();
            web::block(move || store.contact_by_external_id(&app, &external)).await??
        }
        _ => {
            return Err(MetadataError::InvalidRequest(
                "give exactly one of `email` and `external_id`".into(),
            ));
        }
    };
    let contact = contact
        .filter(|c| viewer.contact().is_none_or(|me| me == c.id))
        .ok_or_else(|| MetadataError::NotFound("no such contact".into()))?;
    Ok(HttpResponse::Ok().json(ContactView::new(&state.public_url, contact)))
}

/// One contact by id (`me` with a participant token).
#[utoipa::path(get, path = "/api/v1/contacts/{contact}", tag = "inbox",
    params(("contact" = String, Path, description = "Contact id, or `me` with a participant token")),
    responses(
        (status = 200, description = "The contact", body = ContactView),
        (status = 400, description = "Malformed parameter", body = crate::error::Problem, content_type = "application/problem+json"), (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact (or not the token's own)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn view(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
) -> Result<HttpResponse, MetadataError> {
    let id = viewer.resolve_contact(&path)?;
    let app = viewer.app().to_owned();
    let store = state.store.clone();
    let contact = web::block(move || store.contact(&app, &id))
        .await??
        .ok_or_else(|| MetadataError::NotFound(format!("contact {path} does not exist")))?;
    Ok(HttpResponse::Ok().json(ContactView::new(&state.public_url, contact)))
}
