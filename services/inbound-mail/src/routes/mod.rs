//! HTTP routes: the intake, the incoming log and the suppression list. Handlers translate
//! HTTP and call [`crate::pipeline::Inbound`]; the rules live in [`crate::decide`].

pub mod intake;
pub mod log;
pub mod suppressions;

use actix_web::web;

use crate::auth::Keys;
use crate::error::InboundError;
use crate::pipeline::Inbound;

async fn method_not_allowed() -> Result<actix_web::HttpResponse, InboundError> {
    Err(InboundError::BadRequest(
        "this method is not allowed on this resource".into(),
    ))
}

/// Path of the intake.
pub const INTAKE_PATH: &str = "/inbound/mail";

/// Registers inbound-mail's routes with what they share (the all-in-one mounts them
/// beside the others).
pub fn configure(
    cfg: &mut web::ServiceConfig,
    inbound: &web::Data<Inbound>,
    keys: &web::Data<Keys>,
) {
    let not_allowed = || web::route().to(method_not_allowed);
    // Room for a provider form around a mail of the largest size; the mail itself is
    // measured once it is out of the form.
    let max = inbound.config().max_bytes;
    let payload = web::PayloadConfig::new(max.saturating_mul(2).saturating_add(1 << 20));
    cfg.app_data(inbound.clone()).app_data(keys.clone());
    cfg.service(
        web::resource(INTAKE_PATH)
            .app_data(payload)
            .route(web::post().to(intake::receive))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/inbound")
            .route(web::get().to(log::list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/inbound/{id}")
            .route(web::get().to(log::view))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/inbound/{id}/raw")
            .route(web::get().to(log::raw))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/inbound/{id}/replay")
            .route(web::post().to(log::replay))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/suppressions")
            .route(web::get().to(suppressions::list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/api/v1/suppressions/{email}")
            .route(web::delete().to(suppressions::lift))
            .default_service(not_allowed()),
    );
}
