//! HTTP routes, one module per resource. Handlers translate HTTP into commands or queries
//! and back; the rules live in the domain crate, the write path in [`crate::service`].

pub mod application;
pub mod conversations;
pub mod feed;
pub mod health;
pub mod inbound;
pub mod keys;
pub mod messages;
pub mod participants;
pub mod read;
pub mod sign_in;
pub mod tokens;
pub mod unsubscribe;

use actix_web::web;
use conversations_domain::ConversationId;
use conversations_web::method_not_allowed;

use crate::error::ApiError;

/// Parses a conversation id from the path; a malformed one is simply not found.
pub fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("conversation {raw} does not exist")))
}

/// The collection path, for `Location` headers.
pub fn conversation_path(id: ConversationId) -> String {
    format!("/api/v1/conversations/{id}")
}

/// Registers every route. Literal segments (`messages`, `participants`, `read`) come
/// before `/{seq}` so they are never taken for message numbers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(
                web::resource("/application")
                    .route(web::get().to(application::show))
                    .route(web::patch().to(application::update))
                    .default_service(method_not_allowed("GET, PATCH")),
            )
            .service(
                web::resource("/application/keys")
                    .route(web::get().to(keys::list))
                    .route(web::post().to(keys::issue))
                    .default_service(method_not_allowed("GET, POST")),
            )
            .service(
                web::resource("/application/keys/{prefix}")
                    .route(web::delete().to(keys::revoke))
                    .default_service(method_not_allowed("DELETE")),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(crate::openapi::serve))
                    .default_service(method_not_allowed("GET")),
            )
            .service(
                web::resource("/conversations")
                    .route(web::post().to(conversations::create))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/conversations/{id}")
                    .route(web::get().to(conversations::view))
                    .route(web::post().to(conversations::post_message))
                    .route(web::patch().to(conversations::update))
                    .route(web::delete().to(conversations::delete))
                    .default_service(method_not_allowed("GET, POST, PATCH, DELETE")),
            )
            .service(
                web::resource("/conversations/{id}/messages")
                    .route(web::get().to(messages::list))
                    .default_service(method_not_allowed("GET")),
            )
            .service(
                web::resource("/conversations/{id}/participants")
                    .route(web::get().to(participants::list))
                    .route(web::post().to(participants::add))
                    .default_service(method_not_allowed("GET, POST")),
            )
            .service(
                web::resource("/conversations/{id}/participants/{email}")
                    .route(web::patch().to(participants::update))
                    .route(web::delete().to(participants::remove))
                    .default_service(method_not_allowed("PATCH, DELETE")),
            )
            .service(
                web::resource("/conversations/{id}/read")
                    .route(web::post().to(read::mark_read))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/sign-in")
                    .route(web::post().to(sign_in::sign_in))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/tokens")
                    .route(web::post().to(tokens::mint))
                    .default_service(method_not_allowed("POST")),
            )
            .service(
                web::resource("/unsubscribe/{token}")
                    .route(web::get().to(unsubscribe::confirm_page))
                    .route(web::post().to(unsubscribe::unsubscribe))
                    .default_service(method_not_allowed("GET, POST")),
            )
            .service(
                web::resource("/conversations/{id}/{seq}")
                    .route(web::get().to(messages::view))
                    .default_service(method_not_allowed("GET")),
            ),
    )
    .service(
        web::resource(conversations_events::feed::SNAPSHOT_PATH)
            .route(web::get().to(feed::snapshot))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource(conversations_events::feed::PATH)
            .route(web::get().to(feed::events))
            .default_service(method_not_allowed("GET")),
    )
    .configure(inbound::configure)
    .service(
        web::resource("/livez")
            .route(web::get().to(health::livez))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(health::readyz))
            .default_service(method_not_allowed("GET")),
    );
    // On METRICS_ADDR instead when that is set.
    if conversations_web::metrics::on_http_port() {
        cfg.service(
            web::resource(conversations_web::metrics::PATH)
                .route(web::get().to(health::metrics))
                .default_service(method_not_allowed("GET")),
        );
    }
}
