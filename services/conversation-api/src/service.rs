//! The write path shared by every mutating route (and, later, inbound mail): load the
//! conversation, let the domain decide, encode the events, commit everything in one
//! transaction, wake the relay. Concurrent writers are detected by the conversation's
//! version and the whole decision is retried on fresh state.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DurationRound, TimeDelta, Utc};
use conversations_domain::conversation::Context;
use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_domain::{
    AppId, Command, Conversation, ConversationId, Event, EventKind, ParticipantId, decide,
};
use conversations_store::{Commit, Store, StoreError, StoredResponse};

use crate::error::ApiError;
use crate::idempotency::IdempotencyRequest;
use crate::outbox_events;
use crate::recent::RecentConversations;
use crate::startup::AppState;

/// How many times a decision is retried when other writers keep winning.
const MAX_ATTEMPTS: usize = 8;

/// Which conversation a command is for.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A new one, with this id.
    New(ConversationId),
    /// An existing one of the caller's application.
    Existing(ConversationId),
}

/// The decided change, handed to the response builder.
#[derive(Debug)]
pub struct Outcome {
    /// State before.
    pub before: Conversation,
    /// State after.
    pub after: Conversation,
    /// What happened.
    pub events: Vec<Event>,
}

/// A response computed inside the write transaction (so it can be stored for replay).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Location` header.
    pub location: Option<String>,
    /// JSON body.
    pub body: String,
}

impl Reply {
    /// A JSON reply.
    pub fn json(
        status: StatusCode,
        location: Option<String>,
        body: &impl serde::Serialize,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            status,
            location,
            body: serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?,
        })
    }

    /// Turns it into the HTTP response.
    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/json"));
        if let Some(location) = self.location {
            response.insert_header((header::LOCATION, location));
        }
        response.body(self.body)
    }
}

impl From<StoredResponse> for Reply {
    fn from(s: StoredResponse) -> Self {
        Self {
            status: StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK),
            location: s.location,
            body: s.body,
        }
    }
}

/// Decides and commits one command, retrying on a concurrent change; a colliding
/// idempotency key is an error here (the caller answers the stored response).
#[allow(clippy::too_many_arguments)]
fn attempt<P, R>(
    store: &Store,
    recent: &RecentConversations,
    codec: &ReplyAddressCodec,
    app: AppId,
    target: Target,
    idempotency: Option<&IdempotencyRequest>,
    plan: &P,
    respond: &R,
) -> Result<Reply, ApiError>
where
    P: Fn(&Conversation) -> Result<Vec<Command>, ApiError>,
    R: Fn(&Store, &Outcome) -> Result<Reply, ApiError>,
{
    let profile =
        store
            .application_profile(app)?
            .unwrap_or_else(|| conversations_store::AppProfile {
                name: String::new(),
                conversation_url: None,
            });
    // The first attempt may decide on the state this process committed last; a conflict
    // or a refusal is decided again on what the database holds.
    let mut remembered = match target {
        Target::Existing(id) => recent.get(app, id),
        Target::New(_) => None,
    };
    for _ in 0..MAX_ATTEMPTS {
        let now = Utc::now()
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or_else(|_| Utc::now());
        let from_memory = remembered.take();
        let was_remembered = from_memory.is_some();
        let before = match (target, from_memory) {
            (_, Some(c)) => c,
            (Target::New(id), None) => Conversation::shell(id, app, now),
            (Target::Existing(id), None) => match store.load_conversation(app, id)? {
                Some(c) => c,
                None => {
                    recent.forget(app, id);
                    return Err(ApiError::NotFound(format!(
                        "conversation {id} does not exist"
                    )));
                }
            },
        };
        let (after, events) = match decide_all(&before, plan, now) {
            Ok(decided) => decided,
            Err(_) if was_remembered => continue,
            Err(e) => return Err(e),
        };
        // Inside the transaction's span: the events carry its trace context, which the
        // relay and every consumer continue.
        let outbox = outbox_events::encode(codec, &profile, &before, &events);
        let outcome = Outcome {
            before,
            after,
            events,
        };
        let reply = respond(store, &outcome)?;
        let idempotent_response = idempotency.map(|idem| {
            (
                idem.key.clone(),
                StoredResponse {
                    request_hash: idem.request_hash.clone(),
                    status: reply.status.as_u16(),
                    location: reply.location.clone(),
                    body: reply.body.clone(),
                },
            )
        });
        let committed = store.commit(Commit {
            before: &outcome.before,
            after: &outcome.after,
            events: &outcome.events,
            outbox,
            idempotent_response,
            now,
        });
        match committed {
            Ok(()) => {
                let deleted = outcome
                    .events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::ConversationDeleted));
                if deleted {
                    recent.forget(app, outcome.after.id);
                } else {
                    recent.put(&outcome.after);
                }
                return Ok(reply);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::IdempotencyRace) => return Err(ApiError::Busy),
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Busy)
}

/// Applies the commands `plan` makes of `before`, one after the other: the state after
/// them and their events.
fn decide_all<P>(
    before: &Conversation,
    plan: &P,
    now: chrono::DateTime<Utc>,
) -> Result<(Conversation, Vec<Event>), ApiError>
where
    P: Fn(&Conversation) -> Result<Vec<Command>, ApiError>,
{
    let mut after = before.clone();
    let mut events = Vec::new();
    let mut new_id = ParticipantId::new;
    for command in plan(before)? {
        let mut ctx = Context {
            now,
            new_participant_id: &mut new_id,
        };
        let decided = decide(&after, command, &mut ctx)?;
        for event in &decided {
            after.apply(event);
        }
        events.extend(decided);
    }
    Ok((after, events))
}

/// Runs one command end to end. `plan` turns the current state into commands (it may
/// refuse); `respond` builds the reply from the outcome (it may read the store).
pub async fn execute<P, R>(
    state: &web::Data<AppState>,
    app: AppId,
    target: Target,
    idempotency: Option<IdempotencyRequest>,
    plan: P,
    respond: R,
) -> Result<HttpResponse, ApiError>
where
    P: Fn(&Conversation) -> Result<Vec<Command>, ApiError> + Send + 'static,
    R: Fn(&Store, &Outcome) -> Result<Reply, ApiError> + Send + 'static,
{
    let store = state.store.clone();
    let recent = state.recent.clone();
    let codec = state.codec.clone();
    // The transaction as a database client span inside the request's span.
    let span = tracing::info_span!(
        "command transaction",
        otel.kind = "client",
        db.system.name = store.db_system(),
        db.operation.name = "transaction",
    );
    let reply = web::block(move || -> Result<Reply, ApiError> {
        let _entered = span.enter();
        // The key is not looked up first: nearly every request is a first one, and the
        // look-up would cost each a database round trip for nothing. A repeated request is
        // recognised when its commit collides with the stored key (the whole transaction
        // is then rolled back), or when its command no longer applies because the state
        // moved on since the first; either way the first response is answered again.
        let attempted = attempt(
            &store,
            &recent,
            &codec,
            app,
            target,
            idempotency.as_ref(),
            &plan,
            &respond,
        );
        match (attempted, &idempotency) {
            (Ok(reply), _) => Ok(reply),
            (Err(err), Some(idem)) => match store.idempotent_response(app, &idem.key) {
                Ok(Some(stored)) => idem.replay(stored),
                _ => Err(err),
            },
            (Err(err), None) => Err(err),
        }
    })
    .await??;
    state.relay_wake.notify_one();
    Ok(reply.into_response())
}
