//! 405 answers that say which methods a resource has.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{Route, web};

/// The route every resource registers as its default service: `405 Method Not Allowed`
/// with the `Allow` header RFC 9110 requires (`allow` lists the resource's methods, e.g.
/// `"GET, POST"`), as problem details. Without it a client probing with `TRACE` or a typo'd
/// method learns nothing about what the resource does take.
pub fn method_not_allowed(allow: &'static str) -> Route {
    web::route().to(move || async move {
        let mut response = crate::problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("this resource answers {allow}"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    })
}
