//! The API's one error type and its mapping to RFC 9457 `application/problem+json`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use conversations_domain::DomainError;
use conversations_store::StoreError;

/// Everything a request can fail with. Each variant has one status and one problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an unknown API key.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// Authenticated, but this credential may not do this (participant tokens only read
    /// and post in their own conversations).
    #[error("{0}")]
    Forbidden(String),
    /// A feature the operator has not configured (e.g. participant tokens without
    /// `TOKEN_SECRET`).
    #[error("{0}")]
    NotConfigured(&'static str),
    /// A sign-in link's code that is not ours (altered, cut off, another deployment's).
    #[error(
        "this sign-in link is not valid: it may have been cut off or changed; open it from the email again"
    )]
    LinkInvalid,
    /// A genuine sign-in link past its lifetime.
    #[error(
        "this sign-in link has expired: open the link in the newest notification, or reply to one of its emails to get a fresh one"
    )]
    LinkExpired,
    /// The resource does not exist, or belongs to another application.
    #[error("{0}")]
    NotFound(String),
    /// The body is not JSON at all.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: unknown or missing fields, wrong types.
    #[error("the request body does not match the expected shape: {0}")]
    InvalidBody(String),
    /// A query parameter is malformed.
    #[error("{0}")]
    InvalidQuery(String),
    /// The body exceeds `MAX_BODY_BYTES`.
    #[error("the request body exceeds {0} bytes")]
    PayloadTooLarge(usize),
    /// Not JSON.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// A domain rule refused the request.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The request conflicts with the resource's state (e.g. revoking the last key).
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` was re-used with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// An `Idempotency-Key` header that is empty or too long.
    #[error("an Idempotency-Key is 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    /// Kept colliding with concurrent writers.
    #[error("the conversation is being changed by other requests; retry")]
    Busy,
    /// The database is unreachable.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict | StoreError::IdempotencyRace => Self::Busy,
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Internal(e.to_string())
    }
}

/// RFC 9457 problem details (the OpenAPI documents refer to it here).
pub use conversations_web::Problem;

impl ApiError {
    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unauthorized => ("unauthorized", "Unauthorized"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::LinkInvalid => ("link-invalid", "Sign-in link not valid"),
            Self::LinkExpired => ("link-expired", "Sign-in link expired"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotConfigured(_) => ("not-configured", "Not configured"),
            Self::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            Self::InvalidBody(_) | Self::Domain(DomainError::InvalidValue { .. }) => {
                ("validation", "Invalid request")
            }
            Self::InvalidQuery(_) => ("invalid-query", "Invalid query parameter"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            Self::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            Self::Domain(DomainError::NotAParticipant(_)) => {
                ("not-a-participant", "Not a participant")
            }
            Self::Domain(DomainError::AlreadyParticipant(_)) => {
                ("already-a-participant", "Already a participant")
            }
            Self::Domain(DomainError::TooManyParticipants { .. }) => {
                ("too-many-participants", "Too many participants")
            }
            Self::Domain(_) => ("rule-violation", "Request violates a conversation rule"),
            Self::IdempotencyKeyReused => ("idempotency-key-reused", "Idempotency key reused"),
            Self::InvalidIdempotencyKey => ("invalid-idempotency-key", "Invalid idempotency key"),
            Self::Busy => ("busy", "Conflict"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Internal(_) => ("internal", "Internal server error"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            // The code is the credential: one that is not ours is refused like a bad key.
            Self::Unauthorized | Self::LinkInvalid => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotConfigured(_) => StatusCode::NOT_IMPLEMENTED,
            Self::NotFound(_) | Self::Domain(DomainError::NotAParticipant(_)) => {
                StatusCode::NOT_FOUND
            }
            Self::LinkExpired => StatusCode::GONE,
            Self::MalformedJson(_) | Self::InvalidQuery(_) | Self::InvalidIdempotencyKey => {
                StatusCode::BAD_REQUEST
            }
            Self::InvalidBody(_) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // A value the request got wrong is 422; a rule that depends on what the
            // conversation holds (who is in it, which messages exist, its kind) is 409:
            // the same request can be right for another conversation.
            Self::Domain(DomainError::InvalidValue { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Domain(_) | Self::Busy | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(detail) => tracing::error!(error = %detail, "request failed"),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "dependency unavailable"),
            _ => {}
        }
        let (slug, title) = self.slug_and_title();
        conversations_web::problem(self.status_code(), slug, title, self.to_string())
            .retry_after(matches!(self, Self::Unavailable(_) | Self::Busy).then_some(1))
            .into()
    }
}
