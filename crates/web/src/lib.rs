//! The HTTP policy every browser-facing service (conversation-api, metadata-query, and the
//! all-in-one that serves both) applies the same way, so that a browser sees one API:
//!
//! - CORS for exactly the origins in `CORS_ALLOWED_ORIGINS`: participant tokens exist so
//!   that an integrator's page can call us from the browser, which without CORS headers no
//!   browser on another origin may do. Only the methods and headers the API uses; the
//!   preflight is cached; no credentials mode (tokens travel in `Authorization`, never in
//!   cookies), and no wildcard origin.
//! - No NUL byte in a URL: no identifier, address or filter has one, and a database refuses
//!   it (PostgreSQL with an error that would surface as a 500). Refused at the edge with 400,
//!   whatever the route.
//! - Security headers on every response: `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer`, and `Cache-Control: no-store` (every answer is about
//!   someone's conversations, fetched with a key or a token; no shared cache may keep it).

mod bearer;
pub mod integer;
mod method;
pub mod metrics;
pub mod middleware;
pub mod openapi;
mod problem;
pub mod rate_limit;
mod request_span;
pub mod schema;
mod secret_url;
pub mod settings;

pub use bearer::bearer;
pub use method::method_not_allowed;
pub use openapi::ApiConventions;
pub use problem::{Problem, ProblemResponse, problem};
pub use rate_limit::{Quota, RateLimitConfig, RateLimiter};
pub use request_span::{RequestSpan, request_tracing};
pub use secret_url::SecretUrl;

use actix_cors::Cors;
use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{DefaultHeaders, Next};

/// How long a browser may cache a preflight answer (seconds).
pub const PREFLIGHT_MAX_AGE: usize = 600;

/// Methods the API answers cross-origin.
const METHODS: [&str; 5] = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"];

/// A malformed `CORS_ALLOWED_ORIGINS`.
#[derive(Debug, thiserror::Error)]
#[error("CORS_ALLOWED_ORIGINS: {0}")]
pub struct OriginsError(String);

/// The origins allowed to call the API from a browser: exact `scheme://host[:port]`
/// values, as browsers send them in `Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parses a comma-separated list; empty or unset allows no other origin.
    pub fn parse(raw: Option<&str>) -> Result<Self, OriginsError> {
        let mut origins = Vec::new();
        for origin in raw.unwrap_or_default().split(',').map(str::trim) {
            if origin.is_empty() {
                continue;
            }
            if origin == "*" {
                return Err(OriginsError(
                    "no wildcard: list the exact origins (https://shop.example)".into(),
                ));
            }
            let Some((scheme, host)) = origin.split_once("://") else {
                return Err(OriginsError(format!(
                    "{origin} is not scheme://host[:port]"
                )));
            };
            if !matches!(scheme, "http" | "https")
                || host.is_empty()
                || host.contains(['/', '?', '#', '*', ' '])
            {
                return Err(OriginsError(format!(
                    "{origin} is not an origin (scheme://host[:port], no path)"
                )));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(Self(origins))
    }

    /// Whether any origin is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The CORS middleware for these origins. With none, it answers no cross-origin
    /// request with CORS headers (browsers then refuse them); requests without `Origin`
    /// (servers, curl) are never affected, and neither is a request from an origin not
    /// listed: it simply gets no CORS headers.
    pub fn cors(&self) -> Cors {
        let mut cors = Cors::default()
            .allowed_methods(METHODS)
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
            ])
            .max_age(PREFLIGHT_MAX_AGE)
            .block_on_origin_mismatch(false);
        for origin in &self.0 {
            cors = cors.allowed_origin(origin);
        }
        cors
    }
}

/// The headers every response carries (added unless the handler set them itself).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// Whether a raw path-and-query holds a NUL byte, literal or percent-encoded.
fn holds_nul(raw: &str) -> bool {
    raw.contains('\0')
        || raw
            .as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
}

/// Middleware (`actix_web::middleware::from_fn(refuse_nul_bytes)`): answers 400 for a URL
/// with a NUL byte before any route sees it.
pub async fn refuse_nul_bytes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let raw = req.uri().path_and_query().map_or("", |p| p.as_str());
    if holds_nul(raw) {
        let response = problem(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            "the URL holds a NUL byte (%00), which no identifier or parameter may contain",
        );
        return Ok(req.into_response(response.into_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_found_however_written() {
        assert!(holds_nul("/api/v1/contacts?external_id=a%00b"));
        assert!(holds_nul("/api/v1/x%00"));
        assert!(!holds_nul("/api/v1/contacts?external_id=a%200b"));
        assert!(!holds_nul(
            "/api/v1/conversations/0190b3c2-0000-7000-8000-000000000000"
        ));
    }

    #[test]
    fn origins_are_exact_and_never_a_wildcard() {
        assert_eq!(
            AllowedOrigins::parse(Some(" https://Shop.example , http://localhost:3000,")).unwrap(),
            AllowedOrigins(vec![
                "https://shop.example".into(),
                "http://localhost:3000".into()
            ])
        );
        assert!(AllowedOrigins::parse(None).unwrap().is_empty());
        for bad in [
            "*",
            "shop.example",
            "https://shop.example/app",
            "ftp://shop.example",
            "https://*.shop.example",
        ] {
            assert!(AllowedOrigins::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
