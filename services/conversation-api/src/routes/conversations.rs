//! `/api/v1/conversations` and `/api/v1/conversations/{id}`: create, view, post a message,
//! update, delete.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use conversations_domain::{
    Command, ConversationId, ConversationKind, EmailAddress, EventKind, Message, NewParticipant,
};
use serde::Deserialize;

use crate::auth::{Authenticated, Caller};
use crate::body::JsonBody;
use crate::dto::{self, CreateConversation, PostMessage, UpdateConversation};
use crate::error::ApiError;
use crate::idempotency::IdempotencyRequest;
use crate::redact;
use crate::routes::{conversation_id, conversation_path};
use crate::service::{Outcome, Reply, Target, execute};
use crate::startup::AppState;
use crate::views::{ConversationEnvelope, MessageWithParticipants, Views};

/// Largest page of messages in a conversation view.
pub const MAX_PAGE: usize = 500;
/// Messages per page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// Paging of messages: `?limit=&cursor=` (the cursor is opaque: pass back `next_cursor`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Messages per page, 1 to 500 (default 100).
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated limit and the message number to start after.
    pub fn parse(&self) -> Result<(usize, u64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::InvalidQuery(format!("limit is 1 to {MAX_PAGE}")));
        }
        let after = match &self.cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| ApiError::InvalidQuery("cursor is not one we issued".into()))?,
        };
        Ok((limit, after))
    }
}

pub(crate) fn new_messages(outcome: &Outcome) -> Vec<Message> {
    outcome
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MessagePosted(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

struct ParsedCreate {
    kind: ConversationKind,
    subject: Option<conversations_domain::Subject>,
    owner: Option<EmailAddress>,
    people: Vec<NewParticipant>,
    first_message: Option<Command>,
}

fn parse_create(body: &CreateConversation) -> Result<ParsedCreate, ApiError> {
    let kind = body
        .kind
        .as_deref()
        .map_or(Ok(ConversationKind::Group), |k| {
            ConversationKind::parse("type", k)
        })?;
    let subject = dto::parse_subject(body.subject.as_deref())?;
    let owner = body
        .owner
        .as_deref()
        .map(|o| EmailAddress::parse("owner", o))
        .transpose()?;
    let sender = body
        .sender
        .as_ref()
        .map(|s| s.parse("sender"))
        .transpose()?;
    let to = body
        .to
        .iter()
        .map(|p| p.parse("to"))
        .collect::<Result<Vec<_>, _>>()?;
    let others = body
        .participants
        .iter()
        .map(|p| p.parse("participants"))
        .collect::<Result<Vec<_>, _>>()?;
    let first_message = match (&sender, &body.text) {
        (Some(sender), Some(text)) => Some(Command::PostMessage {
            sender: sender.clone(),
            to: to.clone(),
            subject: subject.clone(),
            text: dto::parse_text(text)?,
            source: dto::parse_source(body.source.as_deref())?,
            inbound_id: None,
            trimmed_text: None,
        }),
        (None, None) => None,
        (Some(_), None) => return Err(ApiError::InvalidBody("`sender` needs a `text`".into())),
        (None, Some(_)) => return Err(ApiError::InvalidBody("`text` needs a `sender`".into())),
    };
    if body.source.is_some() && first_message.is_none() {
        return Err(ApiError::InvalidBody(
            "`source` applies to a first message only".into(),
        ));
    }
    let people: Vec<NewParticipant> = sender.into_iter().chain(to).chain(others).collect();
    Ok(ParsedCreate {
        kind,
        subject,
        owner,
        people,
        first_message,
    })
}

/// `POST /api/v1/conversations`: an empty shell, or a conversation with its first
/// message. A `personal` conversation between two people who already have one is that
/// conversation again (200), with its history, and whoever had left re-joins.
#[utoipa::path(post, path = "/api/v1/conversations", request_body = Option<CreateConversation>,
    responses((status = 201, body = ConversationEnvelope), (status = 200, body = ConversationEnvelope,
    description = "existing personal conversation re-opened")))]
pub async fn create(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    req: HttpRequest,
    body: JsonBody<CreateConversation>,
) -> Result<HttpResponse, ApiError> {
    let idempotency = IdempotencyRequest::from_request(&req, &body.raw)?;
    let parsed = parse_create(&body.value)?;
    let existing = match (parsed.kind, parsed.people.as_slice()) {
        (ConversationKind::Personal, [a, b]) if a.email != b.email => {
            let store = state.store.clone();
            let (a, b) = (a.email.clone(), b.email.clone());
            web::block(move || store.find_personal(app, &a, &b)).await??
        }
        _ => None,
    };
    let codec = state.codec.clone();
    match existing {
        None => {
            let id = ConversationId::new();
            let ParsedCreate {
                kind,
                subject,
                owner,
                people,
                first_message,
            } = parsed;
            let plan = move |_: &conversations_domain::Conversation| {
                let mut commands = vec![Command::Create {
                    kind,
                    subject: subject.clone(),
                    owner: owner.clone(),
                    participants: people.clone(),
                }];
                commands.extend(first_message.clone());
                Ok(commands)
            };
            let respond = move |_: &conversations_store::Store, o: &Outcome| {
                let view = Views { codec: &codec }.conversation(&o.after, &new_messages(o), None);
                Reply::json(
                    StatusCode::CREATED,
                    Some(conversation_path(o.after.id)),
                    &view,
                )
            };
            execute(&state, app, Target::New(id), idempotency, plan, respond).await
        }
        Some(id) => {
            let people = parsed.people;
            let first_message = parsed.first_message;
            let plan = move |c: &conversations_domain::Conversation| {
                let mut commands: Vec<Command> = people
                    .iter()
                    .filter(|p| c.active_participant(&p.email).is_none())
                    .cloned()
                    .map(Command::AddParticipant)
                    .collect();
                commands.extend(first_message.clone());
                Ok(commands)
            };
            let respond = move |store: &conversations_store::Store, o: &Outcome| {
                let page = store.messages(o.after.id, 0, DEFAULT_PAGE, &[])?;
                let mut messages = page.messages;
                let fresh = new_messages(o);
                if page.next_after.is_none() {
                    messages.extend(fresh);
                }
                let cursor = page.next_after.map(|n| n.to_string());
                let view = Views { codec: &codec }.conversation(&o.after, &messages, cursor);
                Reply::json(StatusCode::OK, Some(conversation_path(o.after.id)), &view)
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
    }
}

/// `GET /api/v1/conversations/{id}`: the conversation with its messages, paged by
/// `?limit=&cursor=`.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = ConversationEnvelope), (status = 404, body = crate::error::Problem)))]
pub async fn view(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let (limit, after) = query.parse()?;
    let store = state.store.clone();
    let app = caller.app();
    let member = caller.clone();
    let (conversation, page) = web::block(move || -> Result<_, ApiError> {
        let conversation = store
            .load_conversation(app, id)?
            .ok_or_else(|| ApiError::NotFound(format!("conversation {id} does not exist")))?;
        member.check_member(&conversation)?;
        let page = store.messages(id, after, limit, &[])?;
        Ok((conversation, page))
    })
    .await??;
    let cursor = page.next_after.map(|n| n.to_string());
    let view = Views {
        codec: &state.codec,
    }
    .conversation(&conversation, &page.messages, cursor);
    Ok(HttpResponse::Ok().json(redact::body_for(
        &state.aliases,
        &caller,
        &conversation,
        &view,
    )?))
}

/// `POST /api/v1/conversations/{id}`: post a message (the seed's "reply via web"); the
/// sender joins if not in it; everyone else is notified.
#[utoipa::path(post, path = "/api/v1/conversations/{id}", params(("id" = String, Path)),
    request_body = PostMessage,
    responses((status = 201, body = MessageWithParticipants), (status = 404, body = crate::error::Problem)))]
pub async fn post_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: JsonBody<PostMessage>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let app = caller.app();
    let idempotency = IdempotencyRequest::from_request(&req, &body.raw)?;
    let b = &body.value;
    let sender = b.sender.parse("sender")?;
    if let Some(me) = caller.contact() {
        if sender.email != *me {
            return Err(ApiError::Forbidden(
                "a participant token posts only as its own contact".into(),
            ));
        }
        if !b.to.is_empty() || b.source.as_deref().is_some_and(|s| s != "api") {
            return Err(ApiError::Forbidden(
                "a participant token cannot add people or set a source".into(),
            ));
        }
    }
    let command = Command::PostMessage {
        sender,
        to: b
            .to
            .iter()
            .map(|p| p.parse("to"))
            .collect::<Result<Vec<_>, _>>()?,
        subject: dto::parse_subject(b.subject.as_deref())?,
        text: dto::parse_text(&b.text)?,
        source: dto::parse_source(b.source.as_deref())?,
        inbound_id: None,
        trimmed_text: None,
    };
    let codec = state.codec.clone();
    let aliases = state.aliases.clone();
    let member = caller.clone();
    let plan = move |c: &conversations_domain::Conversation| {
        member.check_member(c)?;
        Ok(vec![command.clone()])
    };
    let respond = move |_: &conversations_store::Store, o: &Outcome| {
        let message = new_messages(o)
            .pop()
            .ok_or_else(|| ApiError::Internal("no message was posted".into()))?;
        let location = format!("{}/{}", conversation_path(o.after.id), message.seq);
        let view = Views { codec: &codec }.message_with_participants(&o.after, &message);
        let body = redact::body_for(&aliases, &caller, &o.after, &view)?;
        Reply::json(StatusCode::CREATED, Some(location), &body)
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

/// `PATCH /api/v1/conversations/{id}`: change the subject or the pinned message.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", params(("id" = String, Path)),
    request_body = Option<UpdateConversation>, responses((status = 200, body = ConversationEnvelope)))]
pub async fn update(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    path: web::Path<String>,
    body: JsonBody<UpdateConversation>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let command = Command::Update {
        subject: dto::parse_subject(body.value.subject.as_deref())?,
        pinned_message: body.value.pinned_message,
    };
    let codec = state.codec.clone();
    let plan = move |_: &conversations_domain::Conversation| Ok(vec![command.clone()]);
    let respond = move |store: &conversations_store::Store, o: &Outcome| {
        let page = store.messages(o.after.id, 0, DEFAULT_PAGE, &[])?;
        let cursor = page.next_after.map(|n| n.to_string());
        let view = Views { codec: &codec }.conversation(&o.after, &page.messages, cursor);
        Reply::json(StatusCode::OK, None, &view)
    };
    execute(&state, app, Target::Existing(id), None, plan, respond).await
}

/// `DELETE /api/v1/conversations/{id}`: delete it with all its messages.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = conversation_id(&path)?;
    let plan = |_: &conversations_domain::Conversation| Ok(vec![Command::Delete]);
    let respond = |_: &conversations_store::Store, _: &Outcome| {
        Ok(Reply {
            status: StatusCode::NO_CONTENT,
            location: None,
            body: String::new(),
        })
    };
    execute(&state, app, Target::Existing(id), None, plan, respond).await
}
