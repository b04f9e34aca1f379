//! `POST /api/v1/conversations/{id}/read`: move a participant's read marker.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use conversations_domain::{Command, Conversation, EmailAddress};

use crate::auth::Caller;
use crate::body::JsonBody;
use crate::dto::MarkRead;
use crate::error::ApiError;
use crate::routes::conversation_id;
use crate::service::{Outcome, Reply, Target, execute};
use crate::startup::AppState;
use crate::views::{ParticipantView, Views};

/// Marks messages read up to `up_to` (all when omitted); answers with the participant's
/// new state, including `unread`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", params(("id" = String, Path)),
    request_body = MarkRead,
    responses((status = 200, body = ParticipantView), (status = 404, body = crate::error::Problem)))]
pub async fn mark_read(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: JsonBody<MarkRead>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let app = caller.app();
    let email = EmailAddress::parse("participant", &body.value.participant)?;
    if caller.contact().is_some_and(|me| *me != email) {
        return Err(ApiError::Forbidden(
            "a participant token marks read only for its own contact".into(),
        ));
    }
    let member = caller.clone();
    let up_to = body.value.up_to;
    let codec = state.codec.clone();
    let reader = email.clone();
    let plan = move |c: &Conversation| {
        member.check_member(c)?;
        Ok(vec![Command::MarkRead {
            email: reader.clone(),
            up_to,
        }])
    };
    let respond = move |_: &conversations_store::Store, o: &Outcome| {
        let p = o
            .after
            .participant(&email)
            .ok_or_else(|| ApiError::NotFound(format!("{email} is not a participant")))?;
        Reply::json(
            StatusCode::OK,
            None,
            &Views { codec: &codec }.participant(&o.after, p),
        )
    };
    execute(&state, app, Target::Existing(id), None, plan, respond).await
}
