//! `/api/v1/conversations/{id}/participants`: list, add, update one's own view, remove.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use conversations_domain::conversation::ParticipantChanges;
use conversations_domain::{Command, Conversation, EmailAddress};
use serde::Serialize;

use crate::auth::{Authenticated, Caller};
use crate::body::JsonBody;
use crate::dto::{ParticipantInput, UpdateParticipant};
use crate::error::ApiError;
use crate::idempotency::IdempotencyRequest;
use crate::routes::{conversation_id, conversation_path};
use crate::service::{Outcome, Reply, Target, execute};
use crate::startup::AppState;
use crate::views::{ParticipantView, Views};

/// `GET …/participants`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParticipantList {
    /// Everyone who is or was in the conversation.
    pub participants: Vec<ParticipantView>,
}

fn participant_view(
    codec: &conversations_domain::reply_address::ReplyAddressCodec,
    c: &Conversation,
    email: &EmailAddress,
) -> Result<ParticipantView, ApiError> {
    let p = c
        .participant(email)
        .ok_or_else(|| ApiError::NotFound(format!("{email} is not a participant")))?;
    Ok(Views { codec }.participant(c, p))
}

/// `GET /api/v1/conversations/{id}/participants`.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/participants", params(("id" = String, Path)),
    responses((status = 200, body = ParticipantList), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let store = state.store.clone();
    let conversation = web::block(move || store.load_conversation(app, id))
        .await??
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id} does not exist")))?;
    let views = Views {
        codec: &state.codec,
    };
    Ok(HttpResponse::Ok().json(ParticipantList {
        participants: conversation
            .participants
            .iter()
            .map(|p| views.participant(&conversation, p))
            .collect(),
    }))
}

/// `POST /api/v1/conversations/{id}/participants`: bring someone in (again).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/participants", params(("id" = String, Path)),
    request_body = ParticipantInput,
    responses((status = 201, body = ParticipantView), (status = 409, body = crate::error::Problem)))]
pub async fn add(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
    body: JsonBody<ParticipantInput>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let idempotency = IdempotencyRequest::from_request(&req, &body.raw)?;
    let who = body.value.parse("email")?;
    let email = who.email.clone();
    let codec = state.codec.clone();
    let plan = move |_: &Conversation| Ok(vec![Command::AddParticipant(who.clone())]);
    let respond = move |_: &conversations_store::Store, o: &Outcome| {
        let view = participant_view(&codec, &o.after, &email)?;
        let location = format!("{}/participants/{}", conversation_path(o.after.id), email);
        Reply::json(StatusCode::CREATED, Some(location), &view)
    };
    execute(
        &state,
        app,
        Target::Existing(id),
        idempotency,
        plan,
        respond,
    )
    .await
}

fn path_email(raw: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse("email", raw)
        .map_err(|_| ApiError::NotFound(format!("{raw} is not a participant")))
}

/// Whose view a participant route changes: the named participant for an API key; for a
/// participant token only its own contact, named by address or as `me`.
fn own_view(caller: &Caller, raw: &str) -> Result<EmailAddress, ApiError> {
    match caller.contact() {
        Some(me) if raw == "me" || path_email(raw).is_ok_and(|e| &e == me) => Ok(me.clone()),
        Some(_) => Err(ApiError::Forbidden(
            "a participant token changes only its own view of a conversation (`me`)".into(),
        )),
        None => path_email(raw),
    }
}

/// `PATCH /api/v1/conversations/{id}/participants/{email}`: mute, pin, archive, opened.
/// With a participant token, `{email}` is `me` (or the token's own address).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/participants/{email}",
    params(("id" = String, Path), ("email" = String, Path, description = "The participant's address, or `me` with a participant token")),
    request_body = Option<UpdateParticipant>,
    responses((status = 200, body = ParticipantView), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem)))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: JsonBody<UpdateParticipant>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_email) = path.into_inner();
    let id = conversation_id(&raw_id)?;
    let email = own_view(&caller, &raw_email)?;
    let app = caller.app();
    let b = body.value;
    let changes = ParticipantChanges {
        muted: b.muted,
        pinned: b.pinned,
        archived: b.archived,
        opened: b.opened.unwrap_or(false),
    };
    let codec = state.codec.clone();
    let target = email.clone();
    let plan = move |c: &Conversation| {
        caller.check_member(c)?;
        Ok(vec![Command::UpdateParticipant {
            email: target.clone(),
            changes: changes.clone(),
        }])
    };
    let respond = move |_: &conversations_store::Store, o: &Outcome| {
        Reply::json(
            StatusCode::OK,
            None,
            &participant_view(&codec, &o.after, &email)?,
        )
    };
    execute(&state, app, Target::Existing(id), None, plan, respond).await
}

/// `DELETE /api/v1/conversations/{id}/participants/{email}`: leave. Ownership passes to the
/// next participant; when the last one leaves, the conversation is deleted.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/participants/{email}",
    params(("id" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_email) = path.into_inner();
    let id = conversation_id(&raw_id)?;
    let email = path_email(&raw_email)?;
    let plan = move |_: &Conversation| Ok(vec![Command::RemoveParticipant(email.clone())]);
    let respond = |_: &conversations_store::Store, _: &Outcome| {
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            location: None,
            body: String::new(),
        })
    };
    execute(&state, app, Target::Existing(id), None, plan, respond).await
}
