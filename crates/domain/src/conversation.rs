//! The conversation aggregate: its state, the commands it accepts and the events it emits.
//!
//! [`decide`] checks a command against the current state and returns the events that
//! describe the change; [`Conversation::apply`] folds an event into the state. The store
//! persists exactly those events (and nothing else), in one transaction with the outbox.

use chrono::{DateTime, Utc};

use crate::error::DomainError;
use crate::ids::{AppId, ConversationId, InboundId, ParticipantId};
use crate::limits::MAX_PARTICIPANTS;
use crate::values::{DisplayName, EmailAddress, ExternalId, MessageText, Source, Subject};

mod commands;

pub use commands::{Command, Event, EventKind, ParticipantChanges};

/// Whether a conversation is a group (any number of people) or a personal one between
/// exactly two people, which is re-used when the same two people open it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// Any number of participants; the default.
    Group,
    /// Exactly two participants.
    Personal,
}

impl ConversationKind {
    /// The name used in the API, the database and the events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Personal => "personal",
        }
    }

    /// Parses the API / storage name.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        match raw {
            "group" => Ok(Self::Group),
            "personal" => Ok(Self::Personal),
            _ => Err(DomainError::InvalidValue {
                field,
                reason: "the type is `group` or `personal`".to_owned(),
            }),
        }
    }
}

/// A person as named in a command: the address identifies them, the rest describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParticipant {
    /// Identifies the person within the conversation.
    pub email: EmailAddress,
    /// Shown to the others instead of the address.
    pub display_name: Option<DisplayName>,
    /// The integrator's own identifier for this person.
    pub external_id: Option<ExternalId>,
}

impl NewParticipant {
    /// A participant known only by address.
    pub fn from_email(email: EmailAddress) -> Self {
        Self {
            email,
            display_name: None,
            external_id: None,
        }
    }
}

/// One person's membership of a conversation, with their own view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Stable across leaving and re-joining.
    pub id: ParticipantId,
    /// The person's real address; never shown to the other participants by email.
    pub email: EmailAddress,
    /// Shown to the others instead of the address.
    pub display_name: Option<DisplayName>,
    /// The integrator's own identifier for this person.
    pub external_id: Option<ExternalId>,
    /// When they (last) joined.
    pub joined_at: DateTime<Utc>,
    /// Set while they have left; their messages stay in the conversation.
    pub left_at: Option<DateTime<Utc>>,
    /// Number of the last message they have read; later messages are unread.
    pub last_read_seq: u64,
    /// Muted participants get no email notifications.
    pub muted: bool,
    /// Pinned conversations sort first in the participant's inbox.
    pub pinned: bool,
    /// Set while the participant has archived the conversation.
    pub archived_at: Option<DateTime<Utc>>,
    /// When the participant last opened the conversation.
    pub last_opened_at: Option<DateTime<Utc>>,
}

impl Participant {
    /// Whether they are currently in the conversation.
    pub fn is_active(&self) -> bool {
        self.left_at.is_none()
    }

    /// Messages after their read marker, given the conversation's message count.
    pub fn unread(&self, message_count: u64) -> u64 {
        message_count.saturating_sub(self.last_read_seq)
    }
}

/// Someone a message was addressed to (every active participant but the sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient's membership.
    pub participant_id: ParticipantId,
    /// Where the notification goes.
    pub email: EmailAddress,
    /// Muted recipients are recorded but not notified.
    pub muted: bool,
}

/// A message as posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its number in the conversation: 1, 2, 3 …
    pub seq: u64,
    /// Who posted it.
    pub sender: ParticipantId,
    /// The sender's address at the time.
    pub sender_email: EmailAddress,
    /// The sender's display name at the time.
    pub sender_name: Option<DisplayName>,
    /// The body.
    pub text: MessageText,
    /// Where it came from (`api`, `email`, an integrator's source).
    pub source: Source,
    /// The incoming-log entry of a message that came by email.
    pub inbound_id: Option<InboundId>,
    /// What reply extraction cut from a message that came by email (quoted history,
    /// signature), addresses masked; shown on request beside the message.
    pub trimmed_text: Option<MessageText>,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
    /// Everyone it was addressed to.
    pub recipients: Vec<Recipient>,
}

impl Message {
    /// The addresses that were notified: recipients that had not muted the conversation.
    pub fn notified(&self) -> impl Iterator<Item = &EmailAddress> {
        self.recipients
            .iter()
            .filter(|r| !r.muted)
            .map(|r| &r.email)
    }
}

/// The conversation as the rules need it: everything but the message bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The application it belongs to.
    pub app_id: AppId,
    /// Group or personal.
    pub kind: ConversationKind,
    /// Set at creation or by the first message.
    pub subject: Option<Subject>,
    /// Who owns it; passes on when the owner leaves.
    pub owner: Option<EmailAddress>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Number of events so far: the `conversation_seq` of the last one.
    pub version: u64,
    /// Number of messages so far (the last message's number).
    pub message_count: u64,
    /// The pinned message's number.
    pub pinned_message: Option<u64>,
    /// Everyone who is or was in it, in the order they joined.
    pub participants: Vec<Participant>,
}

impl Conversation {
    /// The state before its first event, used to decide a [`Command::Create`].
    pub fn shell(id: ConversationId, app_id: AppId, now: DateTime<Utc>) -> Self {
        Self {
            id,
            app_id,
            kind: ConversationKind::Group,
            subject: None,
            owner: None,
            created_at: now,
            version: 0,
            message_count: 0,
            pinned_message: None,
            participants: Vec::new(),
        }
    }

    /// The participant with this address, active or not.
    pub fn participant(&self, email: &EmailAddress) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.email == email)
    }

    /// The active participant with this address.
    pub fn active_participant(&self, email: &EmailAddress) -> Option<&Participant> {
        self.participant(email).filter(|p| p.is_active())
    }

    /// Everyone currently in the conversation.
    pub fn active_participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.iter().filter(|p| p.is_active())
    }

    fn participant_mut(&mut self, id: ParticipantId) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.id == id)
    }

    /// Folds one event into the state.
    pub fn apply(&mut self, event: &Event) {
        self.version = event.seq;
        match &event.kind {
            EventKind::ConversationCreated {
                kind,
                subject,
                owner,
            } => {
                self.kind = *kind;
                self.subject = subject.clone();
                self.owner = owner.clone();
                self.created_at = event.occurred_at;
            }
            EventKind::ParticipantAdded(p) | EventKind::ParticipantUpdated(p) => {
                match self.participant_mut(p.id) {
                    Some(existing) => *existing = p.clone(),
                    None => self.participants.push(p.clone()),
                }
            }
            EventKind::MessagePosted(m) => {
                self.message_count = m.seq;
                if let Some(sender) = self.participant_mut(m.sender) {
                    sender.last_read_seq = m.seq;
                }
            }
            EventKind::ParticipantRemoved {
                participant,
                new_owner,
            } => {
                if let Some(p) = self.participant_mut(participant.id) {
                    p.left_at = Some(event.occurred_at);
                }
                if self.owner.as_ref() == Some(&participant.email) {
                    self.owner = new_owner.clone();
                }
            }
            EventKind::ConversationUpdated {
                subject,
                pinned_message,
            } => {
                if let Some(subject) = subject {
                    self.subject = Some(subject.clone());
                }
                if let Some(pinned) = pinned_message {
                    self.pinned_message = *pinned;
                }
            }
            EventKind::ConversationRead {
                participant, up_to, ..
            } => {
                if let Some(p) = self.participant_mut(*participant) {
                    p.last_read_seq = *up_to;
                }
            }
            EventKind::ConversationDeleted => {}
        }
    }
}

/// What [`decide`] needs from the outside world: the clock and fresh ids.
pub struct Context<'a> {
    /// The time the command is decided at.
    pub now: DateTime<Utc>,
    /// Makes a fresh participant id.
    pub new_participant_id: &'a mut dyn FnMut() -> ParticipantId,
}

/// Accumulates events on a scratch copy of the state, so each rule sees the effect of
/// the events emitted before it.
struct Decision<'a, 'c> {
    state: Conversation,
    events: Vec<Event>,
    ctx: &'a mut Context<'c>,
}

impl Decision<'_, '_> {
    fn emit(&mut self, kind: EventKind) {
        let event = Event {
            seq: self.state.version + 1,
            occurred_at: self.ctx.now,
            kind,
        };
        self.state.apply(&event);
        self.events.push(event);
    }

    /// Makes sure the person is an active participant, adding or re-admitting them.
    fn ensure_participant(&mut self, who: &NewParticipant) -> Result<ParticipantId, DomainError> {
        if let Some(existing) = self.state.participant(&who.email) {
            let mut updated = existing.clone();
            let was_active = updated.is_active();
            if let Some(name) = &who.display_name {
                updated.display_name = Some(name.clone());
            }
            if let Some(ext) = &who.external_id {
                updated.external_id = Some(ext.clone());
            }
            if !was_active {
                self.check_room_for_one_more()?;
                updated.left_at = None;
                updated.joined_at = self.ctx.now;
                self.emit(EventKind::ParticipantAdded(updated.clone()));
            } else if &updated != existing {
                self.emit(EventKind::ParticipantUpdated(updated.clone()));
            }
            return Ok(updated.id);
        }
        if self.state.participants.len() >= MAX_PARTICIPANTS {
            return Err(DomainError::TooManyParticipants {
                max: MAX_PARTICIPANTS,
            });
        }
        self.check_room_for_one_more()?;
        let participant = Participant {
            id: (self.ctx.new_participant_id)(),
            email: who.email.clone(),
            display_name: who.display_name.clone(),
            external_id: who.external_id.clone(),
            joined_at: self.ctx.now,
            left_at: None,
            last_read_seq: self.state.message_count,
            muted: false,
            pinned: false,
            archived_at: None,
            last_opened_at: None,
        };
        let id = participant.id;
        self.emit(EventKind::ParticipantAdded(participant));
        Ok(id)
    }

    /// A personal conversation never holds more than its two people.
    fn check_room_for_one_more(&self) -> Result<(), DomainError> {
        if self.state.kind == ConversationKind::Personal
            && self.state.active_participants().count() >= 2
        {
            return Err(DomainError::PersonalNeedsTwo);
        }
        Ok(())
    }

    fn require_active(&self, email: &EmailAddress) -> Result<Participant, DomainError> {
        self.state
            .active_participant(email)
            .cloned()
            .ok_or_else(|| DomainError::NotAParticipant(email.clone()))
    }
}

/// Checks `command` against `state` and returns the events describing the change (none
/// when the command changes nothing, e.g. marking read what was already read).
///
/// `state` is [`Conversation::shell`] for [`Command::Create`] and the current state for
/// every other command.
pub fn decide(
    state: &Conversation,
    command: Command,
    ctx: &mut Context<'_>,
) -> Result<Vec<Event>, DomainError> {
    let mut d = Decision {
        state: state.clone(),
        events: Vec::new(),
        ctx,
    };
    let is_created = state.version > 0;
    match command {
        Command::Create {
            kind,
            subject,
            owner,
            participants,
        } => {
            if is_created {
                return Err(DomainError::InvalidCommand(
                    "the conversation exists already",
                ));
            }
            let mut distinct: Vec<&EmailAddress> = participants.iter().map(|p| &p.email).collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() > MAX_PARTICIPANTS {
                return Err(DomainError::TooManyParticipants {
                    max: MAX_PARTICIPANTS,
                });
            }
            if kind == ConversationKind::Personal && distinct.len() != 2 {
                return Err(DomainError::PersonalNeedsTwo);
            }
            let owner = owner.or_else(|| participants.first().map(|p| p.email.clone()));
            d.emit(EventKind::ConversationCreated {
                kind,
                subject,
                owner,
            });
            for p in &participants {
                d.ensure_participant(p)?;
            }
        }
        Command::PostMessage {
            sender,
            to,
            subject,
            text,
            source,
            inbound_id,
            trimmed_text,
        } => {
            require_created(is_created)?;
            let sender_id = d.ensure_participant(&sender)?;
            for recipient in &to {
                d.ensure_participant(recipient)?;
            }
            if d.state.subject.is_none()
                && let Some(subject) = subject.or_else(|| Subject::derive_from(&text))
            {
                d.emit(EventKind::ConversationUpdated {
                    subject: Some(subject),
                    pinned_message: None,
                });
            }
            let sender = d.require_active(&sender.email)?;
            let recipients = d
                .state
                .active_participants()
                .filter(|p| p.id != sender_id)
                .map(|p| Recipient {
                    participant_id: p.id,
                    email: p.email.clone(),
                    muted: p.muted,
                })
                .collect();
            let message = Message {
                seq: d.state.message_count + 1,
                sender: sender_id,
                sender_email: sender.email,
                sender_name: sender.display_name,
                text,
                source,
                inbound_id,
                trimmed_text,
                created_at: d.ctx.now,
                recipients,
            };
            d.emit(EventKind::MessagePosted(message));
        }
        Command::AddParticipant(who) => {
            require_created(is_created)?;
            if d.state.active_participant(&who.email).is_some() {
                return Err(DomainError::AlreadyParticipant(who.email));
            }
            d.ensure_participant(&who)?;
        }
        Command::RemoveParticipant(email) => {
            require_created(is_created)?;
            let leaving = d.require_active(&email)?;
            let remaining: Vec<&Participant> = d
                .state
                .active_participants()
                .filter(|p| p.id != leaving.id)
                .collect();
            let new_owner = if d.state.owner.as_ref() == Some(&leaving.email) {
                remaining.first().map(|p| p.email.clone())
            } else {
                None
            };
            let last_one_out = remaining.is_empty();
            d.emit(EventKind::ParticipantRemoved {
                participant: leaving,
                new_owner,
            });
            if last_one_out {
                d.emit(EventKind::ConversationDeleted);
            }
        }
        Command::Update {
            subject,
            pinned_message,
        } => {
            require_created(is_created)?;
            if let Some(Some(seq)) = pinned_message
                && (seq == 0 || seq > d.state.message_count)
            {
                return Err(DomainError::NoSuchMessage(seq));
            }
            let subject = subject.filter(|s| d.state.subject.as_ref() != Some(s));
            let pinned_message = pinned_message.filter(|p| *p != d.state.pinned_message);
            if subject.is_some() || pinned_message.is_some() {
                d.emit(EventKind::ConversationUpdated {
                    subject,
                    pinned_message,
                });
            }
        }
        Command::UpdateParticipant { email, changes } => {
            require_created(is_created)?;
            let current = d.require_active(&email)?;
            let mut updated = current.clone();
            if let Some(muted) = changes.muted {
                updated.muted = muted;
            }
            if let Some(pinned) = changes.pinned {
                updated.pinned = pinned;
            }
            match changes.archived {
                Some(true) if updated.archived_at.is_none() => {
                    updated.archived_at = Some(d.ctx.now);
                }
                Some(false) => updated.archived_at = None,
                _ => {}
            }
            if changes.opened {
                updated.last_opened_at = Some(d.ctx.now);
            }
            if updated != current {
                d.emit(EventKind::ParticipantUpdated(updated));
            }
        }
        Command::MarkRead { email, up_to } => {
            require_created(is_created)?;
            let reader = d.require_active(&email)?;
            let up_to = up_to.unwrap_or(d.state.message_count);
            if up_to > d.state.message_count {
                return Err(DomainError::NoSuchMessage(up_to));
            }
            if up_to > reader.last_read_seq {
                d.emit(EventKind::ConversationRead {
                    participant: reader.id,
                    email: reader.email,
                    up_to,
                });
            }
        }
        Command::Delete => {
            require_created(is_created)?;
            d.emit(EventKind::ConversationDeleted);
        }
    }
    Ok(d.events)
}

fn require_created(is_created: bool) -> Result<(), DomainError> {
    if is_created {
        Ok(())
    } else {
        Err(DomainError::InvalidCommand(
            "the conversation must be created first",
        ))
    }
}

#[cfg(test)]
mod tests;
