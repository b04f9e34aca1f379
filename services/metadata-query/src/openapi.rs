//! The OpenAPI document of the inbox read API, generated from the handlers and types
//! (utoipa) and served at [`PATH`]; the all-in-one server merges it into its
//! `/api/v1/openapi.json`.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use conversations_web::ApiConventions;
use utoipa::OpenApi;

/// Where the standalone service (and the all-in-one) serve this document. Not under
/// `/api/v1/openapi.json`, which is conversation-api's behind the gateway.
pub const PATH: &str = "/api/v1/openapi/metadata-query.json";

/// The read API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Conversations inbox API (metadata-query)",
        description = "Each person's inbox across an application's conversations: unread counts, \
            relevance filters, call flags, recent messages. Authenticate with the application's \
            API key or a participant token (`POST /api/v1/tokens` on conversation-api), as \
            `Authorization: Bearer …`."
    ),
    paths(
        crate::routes::contacts::find,
        crate::routes::contacts::view,
        crate::routes::inbox::list,
        crate::routes::events::stream,
        crate::routes::recent::recent_messages,
        crate::routes::participants::by_conversation_ids,
        crate::routes::deliveries::list,
        crate::routes::settings::get_unread_sources,
        crate::routes::settings::put_unread_sources,
        crate::routes::health::livez,
        crate::routes::health::readyz,
    ),
    modifiers(&CONVENTIONS),
    security(("api_key" = []))
)]
pub struct InboxApiDoc;

/// The shared conventions: bearer key or token everywhere but health, problem answers,
/// 400 for a body of the wrong shape.
const CONVENTIONS: ApiConventions = ApiConventions {
    public_paths: &["/livez", "/readyz"],
    invalid_body_status: 400,
    conflict_on_writes: false,
};

/// `GET /api/v1/openapi/metadata-query.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(InboxApiDoc::openapi())
}

/// `base` (conversation-api's document) with this API's paths and schemas added: what the
/// all-in-one server, which serves both APIs on one port, describes itself with.
pub fn merged(mut base: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    base.merge(InboxApiDoc::openapi());
    base
}

/// Serves `document` at `/api/v1/openapi.json`; the all-in-one registers it before
/// conversation-api's `/api/v1` scope, whose own document it replaces.
pub fn configure_combined(cfg: &mut web::ServiceConfig, document: Arc<utoipa::openapi::OpenApi>) {
    cfg.route(
        "/api/v1/openapi.json",
        web::get().to(move || {
            let document = document.clone();
            async move { HttpResponse::Ok().json(&*document) }
        }),
    );
}
