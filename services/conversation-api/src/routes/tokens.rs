//! `POST /api/v1/tokens`: the application mints a participant token for one contact, to
//! hand to that contact's browser.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use conversations_domain::EmailAddress;
use conversations_domain::participant_token::{
    DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, ParticipantClaims,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::startup::AppState;

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// The contact the token acts as.
    #[schema(schema_with = conversations_web::schema::email)]
    pub email: String,
    /// Lifetime in seconds, 1 to 86400 (default 900).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl_seconds: Option<i64>,
}

/// A freshly minted token.
#[derive(Debug, Serialize, ToSchema)]
pub struct MintedToken {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The contact it acts as.
    pub email: String,
    /// When it stops working (RFC 3339).
    pub expires_at: DateTime<Utc>,
}

/// Mints a participant token. It reads the contact's inbox (metadata-query), opens, marks
/// read and posts in the contact's own conversations, and nothing else.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = MintToken,
    responses((status = 201, body = MintedToken), (status = 501, body = crate::error::Problem,
    description = "participant tokens are not configured (TOKEN_SECRET)")))]
pub async fn mint(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    body: JsonBody<MintToken>,
) -> Result<HttpResponse, ApiError> {
    let codec = state.tokens.as_ref().ok_or(ApiError::NotConfigured(
        "participant tokens are disabled: set TOKEN_SECRET",
    ))?;
    let email = EmailAddress::parse("email", &body.value.email)?;
    let ttl = body.value.ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL_SECONDS);
    if !(1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::InvalidBody(format!(
            "ttl_seconds is 1 to {MAX_TOKEN_TTL_SECONDS}"
        )));
    }
    // Whole seconds: the token carries its expiry in seconds.
    let now = Utc::now();
    let expires_at =
        DateTime::from_timestamp(now.timestamp() + ttl, 0).unwrap_or(now + Duration::seconds(ttl));
    let claims = ParticipantClaims {
        app_id: app,
        email: email.clone(),
        expires_at,
    };
    Ok(HttpResponse::Created().json(MintedToken {
        token: codec.mint(&claims),
        email: email.as_str().to_owned(),
        expires_at,
    }))
}
