//! metadata-query's one error type and its mapping to RFC 9457 problem details.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything that can fail here: requests, projection, catch-up.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// No or an unknown credential.
    #[error("a valid API key or participant token is required: send `Authorization: Bearer …`")]
    Unauthorized,
    /// A participant token asked for something only the application may do.
    #[error("{0}")]
    Forbidden(String),
    /// The resource does not exist, or the caller may not see it.
    #[error("{0}")]
    NotFound(String),
    /// A query parameter or body field is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// A request body over the route's limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The database (or the feed) is unreachable.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable(String),
    /// An event that can never be projected.
    #[error(transparent)]
    Poison(#[from] crate::projection::PlanError),
    /// A database failure.
    #[error("database error: {0}")]
    Database(String),
    /// Migrations or setup failed.
    #[error("setup failed: {0}")]
    Setup(String),
}

impl From<diesel::result::Error> for MetadataError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<conversations_db::DbError> for MetadataError {
    fn from(e: conversations_db::DbError) -> Self {
        match e {
            conversations_db::DbError::Unavailable(detail) => Self::Unavailable(detail),
            conversations_db::DbError::Database(e) => Self::Database(e.to_string()),
            other => Self::Setup(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for MetadataError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// RFC 9457 problem details (the OpenAPI documents refer to it here).
pub use conversations_web::Problem;

impl MetadataError {
    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Unauthorized => ("unauthorized", "Unauthorized"),
            Self::Forbidden(_) => ("forbidden", "Forbidden"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::InvalidRequest(_) => ("invalid-request", "Invalid request"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::Poison(_) | Self::Database(_) | Self::Setup(_) => {
                ("internal", "Internal server error")
            }
        }
    }
}

impl ResponseError for MetadataError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Poison(_) | Self::Database(_) | Self::Setup(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (slug, title) = self.slug_and_title();
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        conversations_web::problem(status, slug, title, detail)
            .retry_after(matches!(self, Self::Unavailable(_)).then_some(1))
            .into()
    }
}
