//! The OpenAPI document, generated from the handlers and types (utoipa) and served at
//! `/api/v1/openapi.json`.

use actix_web::HttpResponse;
use conversations_web::ApiConventions;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Conversations API", description = "Threaded conversations between an application's users, by web and by email."),
    paths(
        crate::routes::application::show,
        crate::routes::application::update,
        crate::routes::keys::list,
        crate::routes::keys::issue,
        crate::routes::keys::revoke,
        crate::routes::conversations::create,
        crate::routes::conversations::view,
        crate::routes::conversations::post_message,
        crate::routes::conversations::update,
        crate::routes::conversations::delete,
        crate::routes::messages::list,
        crate::routes::messages::view,
        crate::routes::participants::list,
        crate::routes::participants::add,
        crate::routes::participants::update,
        crate::routes::participants::remove,
        crate::routes::read::mark_read,
        crate::routes::tokens::mint,
        crate::routes::sign_in::sign_in,
        crate::routes::unsubscribe::confirm_page,
        crate::routes::unsubscribe::unsubscribe,
        crate::routes::health::livez,
        crate::routes::health::readyz,
    ),
    modifiers(&CONVENTIONS),
    security(("api_key" = []))
)]
pub struct ApiDoc;

/// The shared conventions: bearer key everywhere but health and unsubscribe, problem
/// answers, 422 for a body of the wrong shape.
const CONVENTIONS: ApiConventions = ApiConventions {
    public_paths: &["/livez", "/readyz", "/api/v1/unsubscribe/{token}"],
    invalid_body_status: 422,
    conflict_on_writes: true,
};

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
