//! Live updates for browsers and integrators: every batch the projection commits is turned
//! into small per-contact signals ("a message was posted in conversation X", "your state
//! in X changed") that `GET /api/v1/contacts/{contact}/events` streams as Server-Sent
//! Events. The signals carry ids only, never text or addresses: a client fetches what
//! changed through the APIs, which apply their usual masking.
//!
//! Resuming: every signal has an id `<epoch>-<n>`, `n` rising by one per signal of this
//! process. The last [`BACKLOG`] signals are kept, so a client that reconnects with
//! `Last-Event-ID` gets exactly what it missed. When that is not possible (the id is
//! older than the backlog, or from another process or an earlier run), the client gets a
//! `reset` signal instead: refetch everything. Either way nothing is silently lost.
//!
//! Replicas share one queue as competing consumers, so each applies only part of the
//! events; with RabbitMQ the signals of every batch therefore go through a fanout exchange
//! to every replica ([`crate::live_relay`]), and each replica's streams see them all.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::projection::Update;

/// Signals kept for clients that reconnect.
pub const BACKLOG: usize = 20_000;

/// What happened, for one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// A message was posted in one of the contact's conversations.
    Message {
        /// Its number in the conversation.
        seq: u64,
    },
    /// The contact's own state in a conversation changed (read marker, archive, pin,
    /// mute, joined, left), or the conversation did (subject, deletion).
    Inbox,
    /// Signals may have been lost (the replicas' relay was cut): everyone refetches.
    Reset,
}

/// The contact of a signal meant for every stream.
pub const EVERYONE: &str = "*";

/// One signal, as kept and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Position in this process's sequence.
    pub n: u64,
    /// The application of the contact.
    pub app: String,
    /// The contact it is for.
    pub contact: String,
    /// The conversation.
    pub conversation_id: String,
    /// What happened.
    pub kind: SignalKind,
}

impl Signal {
    /// The SSE `event:` name.
    pub fn event(&self) -> &'static str {
        match self.kind {
            SignalKind::Message { .. } => "message",
            SignalKind::Inbox => "inbox",
            SignalKind::Reset => "reset",
        }
    }

    /// The SSE `data:` (JSON).
    pub fn data(&self) -> String {
        match self.kind {
            SignalKind::Message { seq } => serde_json::json!({
                "conversation_id": self.conversation_id,
                "seq": seq,
            }),
            SignalKind::Inbox => serde_json::json!({ "conversation_id": self.conversation_id }),
            SignalKind::Reset => serde_json::json!({}),
        }
        .to_string()
    }

    /// Whether the stream of `contact` in `app` gets it.
    pub fn is_for(&self, app: &str, contact: &str) -> bool {
        self.contact == EVERYONE || (self.app == app && self.contact == contact)
    }
}

/// A signal before it is numbered: (application, contact, conversation, kind).
pub type Unnumbered = (String, String, String, SignalKind);

/// The signals one update means: a posted message for every active participant, any
/// other change of a conversation for every participant it names.
pub fn signals_of(update: &Update) -> Vec<Unnumbered> {
    let Update::Conversation(c) = update else {
        return Vec::new();
    };
    let kind = match &c.message {
        Some(m) => SignalKind::Message { seq: m.seq },
        None => SignalKind::Inbox,
    };
    c.participants
        .iter()
        .filter(|p| p.active || kind == SignalKind::Inbox)
        .map(|p| {
            (
                c.app_id.clone(),
                p.contact_id.clone(),
                c.conversation_id.clone(),
                kind,
            )
        })
        .collect()
}

/// Where a reconnecting client resumes.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// The signals it missed (possibly none).
    Replay(Vec<Arc<Signal>>),
    /// It missed more than is kept, or the id is not ours: it must refetch.
    Reset,
}

#[derive(Debug)]
struct Backlog {
    next: u64,
    kept: VecDeque<Arc<Signal>>,
}

/// The hub: published to by the projector after each commit, read by the streams.
#[derive(Debug, Clone)]
pub struct Live {
    epoch: Arc<str>,
    backlog: Arc<Mutex<Backlog>>,
    sender: broadcast::Sender<Arc<Signal>>,
    /// With RabbitMQ: where [`Live::announce`] sends signals so that every replica gets
    /// them; `None` publishes here only (the all-in-one's single process).
    relay: Arc<Mutex<Option<tokio::sync::mpsc::Sender<Vec<Unnumbered>>>>>,
    /// Turns true when the process stops: every stream ends, and its client reconnects
    /// (to another replica) instead of holding the shutdown up.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    /// An empty hub with a fresh epoch (ids of another run are answered with a reset).
    pub fn new() -> Self {
        let epoch: String = (0..8)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
            .collect();
        Self {
            epoch: epoch.into(),
            backlog: Arc::new(Mutex::new(Backlog {
                next: 1,
                kept: VecDeque::with_capacity(1024),
            })),
            sender: broadcast::channel(4096).0,
            relay: Arc::new(Mutex::new(None)),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ends every stream (the process is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Live::close`] was called.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Sends announced signals through `relay` from now on (see [`crate::live_relay`]).
    pub fn relay_through(&self, relay: tokio::sync::mpsc::Sender<Vec<Unnumbered>>) {
        if let Ok(mut slot) = self.relay.lock() {
            *slot = Some(relay);
        }
    }

    /// What the projector calls after a commit: to every replica through the relay when
    /// there is one, here otherwise. Should the relay's buffer be full (the broker is
    /// away), the signals are dropped and the relay resets every stream once it is back.
    pub fn announce(&self, signals: Vec<Unnumbered>) {
        if signals.is_empty() {
            return;
        }
        let relay = self.relay.lock().ok().and_then(|r| r.clone());
        match relay {
            Some(relay) => {
                if relay.try_send(signals).is_err() {
                    tracing::warn!("live signals dropped: the relay is not keeping up");
                }
            }
            None => self.publish(signals),
        }
    }

    /// Tells every stream to refetch (signals may have been lost).
    pub fn reset_everyone(&self) {
        self.publish([(
            String::new(),
            EVERYONE.to_owned(),
            String::new(),
            SignalKind::Reset,
        )]);
    }

    /// The SSE `id:` of a signal.
    pub fn id_of(&self, signal: &Signal) -> String {
        format!("{}-{}", self.epoch, signal.n)
    }

    /// Publishes the signals of a committed batch.
    pub fn publish(&self, updates: impl IntoIterator<Item = Unnumbered>) {
        let Ok(mut backlog) = self.backlog.lock() else {
            return;
        };
        for (app, contact, conversation_id, kind) in updates {
            let signal = Arc::new(Signal {
                n: backlog.next,
                app,
                contact,
                conversation_id,
                kind,
            });
            backlog.next += 1;
            if backlog.kept.len() == BACKLOG {
                backlog.kept.pop_front();
            }
            backlog.kept.push_back(signal.clone());
            // Sent under the lock, so a subscriber sees signals in `n` order. No
            // subscriber is not an error.
            let _ = self.sender.send(signal);
        }
    }

    /// Subscribes from now on, and says what a client whose last signal was
    /// `last_event_id` missed. Subscribing happens under the backlog's lock, so nothing
    /// falls between the replay and the live signals.
    pub fn subscribe(
        &self,
        app: &str,
        contact: &str,
        last_event_id: Option<&str>,
    ) -> (Resume, broadcast::Receiver<Arc<Signal>>) {
        let Ok(backlog) = self.backlog.lock() else {
            return (Resume::Reset, self.sender.subscribe());
        };
        let receiver = self.sender.subscribe();
        let Some(last) = last_event_id.map(str::trim).filter(|s| !s.is_empty()) else {
            return (Resume::Replay(Vec::new()), receiver);
        };
        let seen = last
            .split_once('-')
            .filter(|(epoch, _)| *epoch == &*self.epoch)
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .filter(|n| *n < backlog.next);
        let oldest = backlog.kept.front().map_or(backlog.next, |s| s.n);
        match seen {
            // Everything after `n` is still kept (a client that saw the last signal
            // before the oldest kept one misses nothing either).
            Some(n) if n + 1 >= oldest => (
                Resume::Replay(
                    backlog
                        .kept
                        .iter()
                        .filter(|s| s.n > n && s.is_for(app, contact))
                        .cloned()
                        .collect(),
                ),
                receiver,
            ),
            _ => (Resume::Reset, receiver),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(contact: &str, seq: u64) -> (String, String, String, SignalKind) {
        (
            "app".into(),
            contact.into(),
            "conv".into(),
            SignalKind::Message { seq },
        )
    }

    #[test]
    fn a_reconnecting_client_gets_exactly_what_it_missed_and_only_its_own() {
        let live = Live::new();
        live.publish([message("ann", 1), message("bob", 1)]);
        let (_, mut rx) = live.subscribe("app", "ann", None);
        let first = rx.try_recv().err();
        assert!(
            first.is_some(),
            "no replay of the past without Last-Event-ID"
        );
        live.publish([message("ann", 2)]);
        let seen = rx.try_recv().unwrap();
        let id = live.id_of(&seen);
        live.publish([message("ann", 3), message("bob", 2), message("ann", 4)]);
        let (resume, _) = live.subscribe("app", "ann", Some(&id));
        let Resume::Replay(missed) = resume else {
            panic!("expected a replay")
        };
        let seqs: Vec<_> = missed
            .iter()
            .map(|s| match s.kind {
                SignalKind::Message { seq } => seq,
                SignalKind::Inbox | SignalKind::Reset => 0,
            })
            .collect();
        assert_eq!(seqs, [3, 4]);
        assert!(missed.iter().all(|s| s.contact == "ann"));
    }

    #[test]
    fn ids_of_another_run_or_beyond_the_backlog_ask_for_a_reset() {
        let live = Live::new();
        live.publish([message("ann", 1)]);
        for id in ["other-1", "garbage", "-", &format!("{}-99", live.epoch)] {
            assert_eq!(
                live.subscribe("app", "ann", Some(id)).0,
                Resume::Reset,
                "{id}"
            );
        }
        let first = format!("{}-1", live.epoch);
        live.publish((2..=(BACKLOG as u64 + 5)).map(|n| message("ann", n)));
        assert_eq!(live.subscribe("app", "ann", Some(&first)).0, Resume::Reset);
        let recent = format!("{}-{}", live.epoch, BACKLOG as u64);
        assert!(matches!(
            live.subscribe("app", "ann", Some(&recent)).0,
            Resume::Replay(v) if v.len() == 5
        ));
    }
}
