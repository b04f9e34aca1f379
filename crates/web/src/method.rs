//! 405 answers that say which methods a resource has.

use actix_web::http::header;
use actix_web::{HttpResponse, Route, web};

/// The route every resource registers as its default service: `405 Method Not Allowed`
/// with the `Allow` header RFC 9110 requires (`allow` lists the resource's methods, e.g.
/// `"GET, POST"`), as problem details. Without it a client probing with `TRACE` or a typo'd
/// method learns nothing about what the resource does take.
pub fn method_not_allowed(allow: &'static str) -> Route {
    web::route().to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .content_type("application/problem+json")
            .body(format!(
                r#"{{"type":"/problems/method-not-allowed","title":"Method not allowed","status":405,"detail":"this resource answers {allow}"}}"#
            ))
    })
}
