//! HTTP routes of the read API. Registered with full paths (no scope) so the all-in-one
//! server can mount them beside conversation-api's `/api/v1` scope.

pub mod contacts;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod inbox;
pub mod participants;
pub mod recent;
pub mod settings;
pub mod views;

use actix_web::web;
use conversations_web::method_not_allowed;

/// Registers the read API. Call before any `/api/v1` scope of another service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/contacts")
            .route(web::get().to(contacts::find))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/contacts/{contact}")
            .route(web::get().to(contacts::view))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/contacts/{contact}/conversations")
            .route(web::get().to(inbox::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/contacts/{contact}/events")
            .route(web::get().to(events::stream))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/contacts/{contact}/recent-messages")
            .route(web::post().to(recent::recent_messages))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/api/v1/conversations/{id}/{n}/deliveries")
            .route(web::get().to(deliveries::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/participants")
            .route(web::get().to(participants::by_conversation_ids))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource(crate::openapi::PATH)
            .route(web::get().to(crate::openapi::serve))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/settings/unread-sources")
            // Here, not on the App: the all-in-one mounts these routes into
            // conversation-api's App, whose JSON bodies are its own business.
            .app_data(crate::startup::json_config())
            .route(web::get().to(settings::get_unread_sources))
            .route(web::put().to(settings::put_unread_sources))
            .default_service(method_not_allowed("GET, PUT")),
    );
}

/// Health endpoints of the standalone service (the all-in-one server has its own).
pub fn configure_health(cfg: &mut web::ServiceConfig) {
    cfg.service(
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
                .route(web::get().to(conversations_web::metrics::serve))
                .default_service(method_not_allowed("GET")),
        );
    }
}
