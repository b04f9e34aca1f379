//! The middleware every HTTP service wraps its app in, in one order, so that no service
//! forgets one: (outermost first) the request span, security headers, CORS when the
//! service answers browsers, the request log and duration histogram, the rate limiter,
//! and the refusal of NUL bytes in URLs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, Error};

use crate::{AllowedOrigins, RateLimiter};

/// `app` wrapped in the shared middleware. `origins`: the browser origins allowed
/// (CORS), or `None` for a service no browser calls.
pub fn standard<T, B>(
    app: App<T>,
    limiter: RateLimiter,
    origins: Option<AllowedOrigins>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let cors = origins.as_ref().map(AllowedOrigins::cors);
    app.wrap(from_fn(crate::refuse_nul_bytes))
        .wrap(from_fn(move |req, next| limiter.clone().handle(req, next)))
        .wrap(from_fn(crate::metrics::observe))
        .wrap(Condition::new(cors.is_some(), cors.unwrap_or_default()))
        .wrap(crate::security_headers())
        .wrap(crate::request_tracing())
}
