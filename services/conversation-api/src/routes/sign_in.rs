//! `POST /api/v1/sign-in`: the conversation page exchanges the code of a notification's
//! link for a short-lived participant token of its recipient. No credential is needed:
//! the code is the credential, signed by us, bound to one application, conversation and
//! participant, and expiring. Membership is checked now, not when the mail was written:
//! someone who has left (or whose conversation was deleted) signs in to nothing.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use conversations_domain::participant_token::ParticipantClaims;
use conversations_domain::sign_in_link::LinkError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::startup::AppState;

/// `POST /api/v1/sign-in`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The `code` from the fragment of a notification's "View the conversation" link.
    #[schema(max_length = 512)]
    pub code: String,
}

/// A signed-in participant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    /// A participant token: send as `Authorization: Bearer <token>` to conversation-api and
    /// metadata-query.
    pub token: String,
    /// When the token stops working (RFC 3339); open the link again after that.
    pub expires_at: DateTime<Utc>,
    /// The conversation the link opens.
    pub conversation_id: String,
    /// The participant's own address (the token acts as it).
    pub email: String,
    /// The participant's display name, when known.
    pub name: Option<String>,
}

/// Exchanges a sign-in link's code for a participant token.
#[utoipa::path(post, path = "/api/v1/sign-in", request_body = SignIn, security(()),
    responses((status = 200, body = SignedIn),
        (status = 401, body = crate::error::Problem, description = "the code is not valid (altered or cut off)"),
        (status = 404, body = crate::error::Problem, description = "the participant has left, or the conversation is gone"),
        (status = 410, body = crate::error::Problem, description = "the link has expired"),
        (status = 501, body = crate::error::Problem, description = "participant tokens are not configured (TOKEN_SECRET)")))]
pub async fn sign_in(
    state: web::Data<AppState>,
    body: JsonBody<SignIn>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state.tokens.clone().ok_or(ApiError::NotConfigured(
        "sign-in links need participant tokens: set TOKEN_SECRET",
    ))?;
    let now = Utc::now();
    let claims = state
        .links
        .verify(&body.value.code, now)
        .map_err(|e| match e {
            LinkError::Invalid => ApiError::LinkInvalid,
            LinkError::Expired => ApiError::LinkExpired,
        })?;
    let gone = || ApiError::NotFound("you are not in this conversation any more".into());
    let store = state.store.clone();
    let conversation =
        web::block(move || store.load_conversation(claims.app_id, claims.conversation_id))
            .await??
            .ok_or_else(gone)?;
    let me = conversation
        .participants
        .iter()
        .find(|p| p.id == claims.participant_id && p.is_active())
        .ok_or_else(gone)?;
    // Whole seconds: the token carries its expiry in seconds.
    let expires_at =
        DateTime::from_timestamp(now.timestamp() + state.sign_in_session.as_secs() as i64, 0)
            .unwrap_or(now);
    let token = tokens.mint(&ParticipantClaims {
        app_id: claims.app_id,
        email: me.email.clone(),
        expires_at,
    });
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .json(SignedIn {
            token,
            expires_at,
            conversation_id: conversation.id.to_string(),
            email: me.email.as_str().to_owned(),
            name: me.display_name.as_ref().map(|n| n.as_str().to_owned()),
        }))
}
