//! inbound-mail's one error type and its mapping to RFC 9457 `application/problem+json`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// No or a wrong credential.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Not allowed from here (intake without `INBOUND_SECRET` from another host).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource (or another application's).
    #[error("{0}")]
    NotFound(String),
    /// The mail names no reply address of ours that verifies; the mail was logged as
    /// `inbound_id`. An MTA answers "no such user".
    #[error("{reason}")]
    UnknownAddress {
        /// The log entry.
        inbound_id: String,
        /// Why.
        reason: String,
    },
    /// A malformed request (form without the raw mail, bad query).
    #[error("{0}")]
    BadRequest(String),
    /// Over `INBOUND_MAX_BYTES`.
    #[error("the mail is larger than INBOUND_MAX_BYTES ({0} bytes)")]
    TooLarge(usize),
    /// A permanent refusal of a provider form: 406, the status Mailgun takes as "do not
    /// retry" (it retries every other non-2xx answer for hours).
    #[error("{0}")]
    NotAcceptable(Box<InboundError>),
    /// Not something this route takes.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// The request is fine but this cannot be done to that resource now (a replay of a
    /// posted mail, or of one whose raw copy has expired).
    #[error("{0}")]
    Conflict(String),
    /// A dependency is down: try again later (MTAs and providers do).
    #[error("temporarily unable to handle the mail; retry later: {0}")]
    Unavailable(String),
}

impl From<crate::pipeline::Unavailable> for InboundError {
    fn from(e: crate::pipeline::Unavailable) -> Self {
        Self::Unavailable(e.0)
    }
}

impl From<conversations_db::DbError> for InboundError {
    fn from(e: conversations_db::DbError) -> Self {
        Self::Unavailable(format!("inbound database: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for InboundError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl InboundError {
    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::UnknownAddress { .. } => ("unknown-address", "No such reply address"),
            Self::BadRequest(_) => ("invalid-request", "Invalid request"),
            Self::TooLarge(_) => ("payload-too-large", "Mail too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::NotAcceptable(inner) => inner.slug_and_title(),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
        }
    }
}

impl ResponseError for InboundError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::UnknownAddress { .. } => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request deferred");
        }
        let (slug, title) = self.slug_and_title();
        let inbound_id = match self {
            Self::UnknownAddress { inbound_id, .. } => Some(inbound_id.clone()),
            Self::NotAcceptable(inner) => match inner.as_ref() {
                Self::UnknownAddress { inbound_id, .. } => Some(inbound_id.clone()),
                _ => None,
            },
            _ => None,
        };
        conversations_web::problem(status, slug, title, self.to_string())
            // The mail pipe retries later; so should any other client.
            .retry_after(matches!(self, Self::Unavailable(_)).then_some(30))
            .extension("inbound_id", inbound_id)
            .into()
    }
}
