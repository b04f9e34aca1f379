//! `GET /api/v1/contacts?email=…` (or `?external_id=…`) and `GET /api/v1/contacts/{id}`:
//! a contact and the discovery links of its inbox resources.

use actix_web::{HttpResponse, web};
use conversations_domain::{EmailAddress, ExternalId};
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
    #[param(schema_with = conversations_web::schema::email)]
    pub email: Option<String>,
    /// The integrator's id.
    #[param(schema_with = conversations_web::schema::external_id)]
    pub external_id: Option<String>,
}

/// Finds a contact by address or integrator id (both: the contact must have both; neither
/// finds none).
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
    let external = query
        .external_id
        .as_deref()
        .map(|e| {
            ExternalId::parse("external_id", e)
                .map_err(|e| MetadataError::InvalidRequest(e.to_string()))
        })
        .transpose()?;
    let contact = match (&query.email, external) {
        (Some(email), external) => {
            let email = EmailAddress::parse("email", email)
                .map_err(|e| MetadataError::InvalidRequest(e.to_string()))?;
            let id = store.contact_ids().id(&app, email.as_str());
            web::block(move || store.contact(&app, &id))
                .await??
                // Both given: the contact must have both.
                .filter(|c| {
                    external
                        .as_ref()
                        .is_none_or(|e| c.external_id.as_deref() == Some(e.as_str()))
                })
        }
        (None, Some(external)) => {
            web::block(move || store.contact_by_external_id(&app, external.as_str())).await??
        }
        // No criterion matches no contact (a search, not a malformed request).
        (None, None) => None,
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
