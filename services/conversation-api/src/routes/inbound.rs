//! The internal routes inbound-mail uses (authenticated with `INTERNAL_TOKEN`, never routed
//! by the public gateway): look up whom a reply address names, post a reply that came by
//! email, and tell which application an API key belongs to. conversation-api stays the
//! only writer of conversations; inbound-mail verifies the address and the sender with
//! what these routes return and then posts through the same write path as the public API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use conversations_domain::{
    AppId, Command, ConversationId, EmailAddress, InboundId, NewParticipant, ParticipantId, Source,
};
use conversations_events::internal::{
    EmailReply, KeyOwner, KeyToVerify, KnownPerson, PostedReply, ReplyTarget as ReplyTargetView,
    ReplyTargetAnswer,
};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::body::JsonBody;
use crate::error::ApiError;
use crate::idempotency::IdempotencyRequest;
use crate::service::{Reply, Target, execute};
use crate::startup::AppState;

/// Path prefix of these routes.
pub const PREFIX: &str = "/internal/v1";

/// The internal routes answer only `INTERNAL_TOKEN` (404 when it is unset).
fn check_internal_token(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = state
        .internal_token
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
    else {
        return Err(ApiError::NotFound("no such resource".into()));
    };
    let presented = crate::auth::bearer(req).unwrap_or_default();
    if !crate::routes::feed::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

fn ids(raw: &(String, String)) -> Result<(ConversationId, ParticipantId), ApiError> {
    let invalid = || ApiError::InvalidQuery("conversation and participant are UUIDs".into());
    Ok((
        raw.0.parse().map_err(|_| invalid())?,
        raw.1.parse().map_err(|_| invalid())?,
    ))
}

/// `?people=` of the reply-target lookup.
#[derive(Debug, serde::Deserialize)]
pub struct ReplyTargetQuery {
    /// Also list everyone in the conversation (the leak guard's input); inbound-mail asks
    /// only when the reply has an address in it. Default true.
    #[serde(default = "yes")]
    people: bool,
}

fn yes() -> bool {
    true
}

/// `GET /internal/v1/reply-targets/{conversation}/{participant}?people=`: 200 with the
/// target, or with none when the conversation (or the participant) does not exist.
pub async fn reply_target(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ReplyTargetQuery>,
) -> Result<HttpResponse, ApiError> {
    check_internal_token(&state, &req)?;
    let (conversation_id, participant_id) = ids(&path)?;
    let store = state.store.clone();
    let people = query.people;
    let found =
        web::block(move || store.reply_target(conversation_id, participant_id, people)).await??;
    let view = found.map(|t| ReplyTargetView {
        app_id: t.app.to_string(),
        conversation_id: conversation_id.to_string(),
        participant_id: participant_id.to_string(),
        email: t.email,
        active: t.active,
        message_count: t.message_count,
        people: t
            .people
            .into_iter()
            .map(|(email, display_name)| KnownPerson {
                email,
                display_name,
            })
            .collect(),
        mask_phone_numbers: t.settings.mask_phone_numbers,
    });
    Ok(HttpResponse::Ok().json(ReplyTargetAnswer { target: view }))
}

/// `POST /internal/v1/conversations/{id}/email-replies`: posts the reply with `source:
/// "email"` and moves the replier's read marker up to the message answered, in one
/// transaction. The same idempotency key answers the first response again (200 instead of
/// 201 is not signalled: the body names the same message).
pub async fn post_email_reply(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: JsonBody<EmailReply>,
) -> Result<HttpResponse, ApiError> {
    check_internal_token(&state, &req)?;
    let id = crate::routes::conversation_id(&path)?;
    let reply = body.value;
    let text = crate::dto::parse_text(&reply.text)?;
    // The key alone identifies the request: a mail replayed through newer extraction
    // code is still the same mail.
    let idempotency = IdempotencyRequest {
        key: format!("email:{}", reply.idempotency_key),
        request_hash: HEXLOWER.encode(&Sha256::digest(reply.idempotency_key.as_bytes())),
    };
    let invalid = |what: &str| ApiError::InvalidBody(format!("{what} is not an id"));
    let participant_id: ParticipantId = reply
        .participant_id
        .parse()
        .map_err(|_| invalid("participant_id"))?;
    let app: AppId = reply.app_id.parse().map_err(|_| invalid("app_id"))?;
    let inbound_id: Option<InboundId> = reply
        .inbound_id
        .as_deref()
        .map(|id| id.parse().map_err(|_| invalid("inbound_id")))
        .transpose()?;
    let trimmed_text = reply
        .trimmed_text
        .as_deref()
        .and_then(conversations_domain::MessageText::lossy);
    let read_up_to = reply.read_up_to;
    let plan = move |c: &conversations_domain::Conversation| {
        let participant = c
            .participants
            .iter()
            .find(|p| p.id == participant_id)
            .ok_or_else(|| ApiError::NotFound("no such participant".into()))?;
        if !participant.is_active() {
            return Err(ApiError::Forbidden(
                "the participant has left the conversation".into(),
            ));
        }
        let email: EmailAddress = participant.email.clone();
        let mut commands = vec![Command::PostMessage {
            sender: NewParticipant::from_email(email.clone()),
            to: Vec::new(),
            subject: None,
            text: text.clone(),
            source: Source::email(),
            inbound_id,
            trimmed_text: trimmed_text.clone(),
        }];
        // Only forward: a reply to an old notification does not mark newer messages
        // unread, and the new message is the replier's own.
        if let Some(up_to) = read_up_to.filter(|n| *n > participant.last_read_seq) {
            commands.push(Command::MarkRead {
                email,
                up_to: Some(up_to.min(c.message_count)),
            });
        }
        Ok(commands)
    };
    let respond = move |_: &conversations_store::Store, o: &crate::service::Outcome| {
        let message = crate::routes::conversations::new_messages(o)
            .pop()
            .ok_or_else(|| ApiError::Internal("no message was posted".into()))?;
        Reply::json(
            StatusCode::CREATED,
            None,
            &PostedReply {
                conversation_id: o.after.id.to_string(),
                seq: message.seq,
            },
        )
    };
    execute(
        &state,
        app,
        Target::Existing(id),
        Some(idempotency),
        plan,
        respond,
    )
    .await
}

/// `POST /internal/v1/keys/verify`: the application of an API key, so other services
/// accept the same keys without reading conversation-api's tables.
pub async fn verify_key(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<KeyToVerify>,
) -> Result<HttpResponse, ApiError> {
    check_internal_token(&state, &req)?;
    let key = body.value.key;
    let store = state.store.clone();
    let app = web::block(move || store.authenticate(&key)).await??;
    Ok(HttpResponse::Ok().json(KeyOwner {
        app_id: app.map(|a| a.to_string()),
    }))
}

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources, not a scope: a scope would hide the feed's routes under the same prefix.
    cfg.service(
        web::resource(format!(
            "{PREFIX}/reply-targets/{{conversation}}/{{participant}}"
        ))
        .route(web::get().to(reply_target)),
    )
    .service(
        web::resource(format!("{PREFIX}/conversations/{{id}}/email-replies"))
            .route(web::post().to(post_email_reply)),
    )
    .service(web::resource(format!("{PREFIX}/keys/verify")).route(web::post().to(verify_key)));
}
