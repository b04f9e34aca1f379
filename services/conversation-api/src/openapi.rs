//! The OpenAPI document, generated from the handlers and types (utoipa) and served at
//! `/api/v1/openapi.json`.

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Conversations API", description = "Threaded conversations between an application's users, by web and by email."),
    paths(
        crate::routes::application::show,
        crate::routes::application::update,
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
        crate::routes::unsubscribe::unsubscribe,
        crate::routes::health::livez,
        crate::routes::health::readyz,
    ),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
