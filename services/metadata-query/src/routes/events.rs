//! `GET /api/v1/contacts/{contact}/events`: the contact's live updates as Server-Sent
//! Events (see [`crate::live`]). `message` and `inbox` signals name a conversation; `reset`
//! says that signals were missed and the client must refetch; a comment every
//! [`KEEP_ALIVE`] keeps proxies from closing an idle stream. `Last-Event-ID` resumes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::auth::Viewer;
use crate::error::MetadataError;
use crate::live::{Live, Resume, Signal};
use crate::startup::AppState;

/// How often an idle stream sends a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a client waits before reconnecting after the stream ends (SSE `retry:`).
const RETRY_MS: u64 = 2_000;

fn frame(live: &Live, signal: &Signal) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        live.id_of(signal),
        signal.event(),
        signal.data()
    ))
}

const RESET: &[u8] = b"event: reset\ndata: {}\n\n";

struct Stream {
    live: Live,
    app: String,
    contact: String,
    queued: VecDeque<Bytes>,
    receiver: broadcast::Receiver<Arc<Signal>>,
    last_sent: u64,
    ticker: tokio::time::Interval,
    closing: tokio::sync::watch::Receiver<bool>,
    done: bool,
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        if let Some(bytes) = self.queued.pop_front() {
            return Some((Ok(bytes), self));
        }
        if self.done || *self.closing.borrow() {
            return None;
        }
        loop {
            tokio::select! {
                // The process is stopping: end here; the client reconnects elsewhere.
                _ = self.closing.changed() => {
                    self.done = true;
                    return None;
                }
                received = self.receiver.recv() => match received {
                    Ok(signal) => {
                        // Already replayed from the backlog, or someone else's.
                        if signal.n <= self.last_sent || !signal.is_for(&self.app, &self.contact) {
                            continue;
                        }
                        self.last_sent = signal.n;
                        let bytes = frame(&self.live, &signal);
                        return Some((Ok(bytes), self));
                    }
                    // Too slow to keep up: what was skipped is unknown, so say so.
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Bytes::from_static(RESET)), self));
                    }
                    Err(RecvError::Closed) => {
                        self.done = true;
                        return None;
                    }
                },
                _ = self.ticker.tick() => {
                    return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
                }
            }
        }
    }
}

/// Streams the contact's live updates.
#[utoipa::path(get, path = "/api/v1/contacts/{contact}/events", tag = "inbox",
    params(("contact" = String, Path, description = "Contact id, or `me` with a participant token"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received, to resume after a reconnect")),
    responses(
        (status = 200, description = "A stream of `message` (`{conversation_id, seq}`), `inbox` (`{conversation_id}`) and `reset` (`{}`: refetch everything) events", content_type = "text/event-stream"),
        (status = 401, description = "No or an unknown API key or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact (or not the token's own)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, MetadataError> {
    let contact = viewer.resolve_contact(&path)?;
    let app = viewer.app().to_owned();
    // An API key streams only a contact of its application (a token, only its own, which
    // may have no conversation yet).
    if viewer.contact().is_none() {
        let (store, a, c) = (state.store.clone(), app.clone(), contact.clone());
        if web::block(move || store.contact(&a, &c)).await??.is_none() {
            return Err(MetadataError::NotFound(format!(
                "contact {path} does not exist"
            )));
        }
    }
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    let live = state.live.clone();
    let (resume, receiver) = live.subscribe(&app, &contact, last_event_id);
    let mut queued = VecDeque::new();
    queued.push_back(Bytes::from(format!("retry: {RETRY_MS}\n\n")));
    let mut last_sent = 0;
    match resume {
        Resume::Replay(missed) => {
            for signal in missed {
                last_sent = signal.n;
                queued.push_back(frame(&live, &signal));
            }
        }
        Resume::Reset => queued.push_back(Bytes::from_static(RESET)),
    }
    let mut ticker = tokio::time::interval(KEEP_ALIVE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the stream already starts with `retry:`.
    ticker.reset();
    let body = stream::unfold(
        Stream {
            live,
            app,
            contact,
            queued,
            receiver,
            last_sent,
            ticker,
            closing: state.live.closing(),
            done: false,
        },
        Stream::next,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        // nginx and other proxies: pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
