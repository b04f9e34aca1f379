//! HTTP routes: the intake, the incoming log and the suppression list. Handlers translate
//! HTTP and call [`crate::pipeline::Inbound`]; the rules live in [`crate::decide`].

pub mod intake;
pub mod log;
pub mod suppressions;

use actix_web::web;
use conversations_web::method_not_allowed;

use crate::auth::Keys;
use crate::error::InboundError;
use crate::pipeline::Inbound;

/// Malformed query strings answer problem+json like every other error.
fn query_errors() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|e, _| InboundError::BadRequest(format!("invalid query string: {e}")).into())
}

/// Path of the intake.
pub const INTAKE_PATH: &str = "/inbound/mail";

/// The same intake under a path ending in `mime`: Mailgun's routes send the raw MIME
/// (`body-mime`) only to URLs that end so.
pub const MAILGUN_INTAKE_PATH: &str = "/inbound/mail/mime";

/// Registers inbound-mail's routes with what they share (the all-in-one mounts them
/// beside the others).
pub fn configure(
    cfg: &mut web::ServiceConfig,
    inbound: &web::Data<Inbound>,
    keys: &web::Data<Keys>,
) {
    // Room for a provider form around a mail of the largest size; the mail itself is
    // measured once it is out of the form.
    let max = inbound.config().max_bytes;
    let payload = web::PayloadConfig::new(max.saturating_mul(2).saturating_add(1 << 20));
    cfg.app_data(inbound.clone()).app_data(keys.clone());
    cfg.service(
        web::resource([INTAKE_PATH, MAILGUN_INTAKE_PATH])
            .app_data(payload)
            .app_data(query_errors())
            .route(web::post().to(intake::receive))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/api/v1/inbound")
            .app_data(query_errors())
            .route(web::get().to(log::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/inbound/{id}")
            .route(web::get().to(log::view))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/inbound/{id}/raw")
            .route(web::get().to(log::raw))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/inbound/{id}/replay")
            .route(web::post().to(log::replay))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/api/v1/suppressions")
            .app_data(query_errors())
            .route(web::get().to(suppressions::list))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/api/v1/suppressions/{email}")
            .route(web::delete().to(suppressions::lift))
            .default_service(method_not_allowed("DELETE")),
    );
}
