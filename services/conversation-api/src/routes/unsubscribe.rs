//! One-click unsubscribe (RFC 8058): every notification carries
//! `List-Unsubscribe: <PUBLIC_URL/api/v1/unsubscribe/{token}>`. The token is signed per
//! (application, conversation, participant); POST mutes the conversation for that
//! participant. GET only shows a confirmation form, so link scanners change nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use conversations_domain::conversation::ParticipantChanges;
use conversations_domain::reply_address::CodeKind;
use conversations_domain::{Command, Conversation};

use crate::error::ApiError;
use crate::service::{Outcome, Reply, Target, execute};
use crate::startup::AppState;

fn invalid() -> ApiError {
    ApiError::NotFound("this unsubscribe link is not valid".into())
}

/// `GET /api/v1/unsubscribe/{token}`: a page with a button that POSTs.
#[utoipa::path(get, path = "/api/v1/unsubscribe/{token}", params(("token" = String, Path)),
    responses((status = 200, description = "A page with the button that unsubscribes",
    content_type = "text/html", body = String)))]
pub async fn confirm_page(path: web::Path<String>) -> HttpResponse {
    let token: String = path
        .into_inner()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><meta charset=utf-8><title>Unsubscribe</title>\
             <form method=post action=\"/api/v1/unsubscribe/{token}\">\
             <p>Stop email notifications for this conversation?</p>\
             <button type=submit>Unsubscribe</button></form>"
        ))
}

/// `POST /api/v1/unsubscribe/{token}`: mutes the conversation for the token's participant.
#[utoipa::path(post, path = "/api/v1/unsubscribe/{token}", params(("token" = String, Path)),
    responses((status = 200, description = "muted"), (status = 404, body = crate::error::Problem)))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let target = state
        .codec
        .decode_code(CodeKind::Unsubscribe, &token)
        .map_err(|_| invalid())?;
    let store = state.store.clone();
    let app = web::block(move || store.conversation_app(target.conversation_id))
        .await??
        .ok_or_else(invalid)?;
    state
        .codec
        .verify_code(CodeKind::Unsubscribe, &token, app)
        .map_err(|_| invalid())?;
    let participant = target.participant_id;
    let plan = move |c: &Conversation| {
        let p = c
            .participants
            .iter()
            .find(|p| p.id == participant && p.is_active())
            .ok_or_else(invalid)?;
        Ok(vec![Command::UpdateParticipant {
            email: p.email.clone(),
            changes: ParticipantChanges {
                muted: Some(true),
                ..Default::default()
            },
        }])
    };
    let respond = |_: &conversations_store::Store, _: &Outcome| {
        Reply::json(
            StatusCode::OK,
            None,
            &serde_json::json!({"muted": true, "detail": "you will get no more emails about this conversation"}),
        )
    };
    execute(
        &state,
        app,
        Target::Existing(target.conversation_id),
        None,
        plan,
        respond,
    )
    .await
}
