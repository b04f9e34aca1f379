//! What can be asked of a conversation ([`Command`]) and what happened to it ([`Event`]):
//! the vocabulary of [`super::decide`].

use super::*;

/// A change to one participant's own view of the conversation. `None` leaves a field as
/// it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantChanges {
    /// Stop or resume email notifications.
    pub muted: Option<bool>,
    /// Pin or unpin in the inbox.
    pub pinned: Option<bool>,
    /// Archive (true) or unarchive (false).
    pub archived: Option<bool>,
    /// Record that the participant opened the conversation now.
    pub opened: bool,
}

/// Everything that can be asked of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a new conversation; a first message is a separate [`Command::PostMessage`]
    /// decided in the same transaction.
    Create {
        /// Group or personal.
        kind: ConversationKind,
        /// Its subject, if known before the first message.
        subject: Option<Subject>,
        /// The owner; defaults to the first participant.
        owner: Option<EmailAddress>,
        /// The people in it from the start.
        participants: Vec<NewParticipant>,
    },
    /// Post a message; the sender and any `to` join the conversation if not already in.
    PostMessage {
        /// The author.
        sender: NewParticipant,
        /// Further people to bring into the conversation.
        to: Vec<NewParticipant>,
        /// Sets the conversation's subject if it has none yet.
        subject: Option<Subject>,
        /// The body.
        text: MessageText,
        /// Where the message came from.
        source: Source,
        /// The incoming-log entry, for a message that came by email.
        inbound_id: Option<InboundId>,
        /// What reply extraction cut from it, for a message that came by email.
        trimmed_text: Option<MessageText>,
    },
    /// Bring someone into the conversation (again, if they had left).
    AddParticipant(NewParticipant),
    /// Someone leaves (or is removed); ownership passes on, the last one out deletes it.
    RemoveParticipant(EmailAddress),
    /// Change the subject and/or the pinned message (`Some(None)` unpins).
    Update {
        /// The new subject.
        subject: Option<Subject>,
        /// The message to pin, or `Some(None)` to unpin.
        pinned_message: Option<Option<u64>>,
    },
    /// Change one participant's own view (muted, pinned, archived, opened).
    UpdateParticipant {
        /// Whose view.
        email: EmailAddress,
        /// What changes.
        changes: ParticipantChanges,
    },
    /// Move a participant's read marker forward (to the last message when `up_to` is None).
    MarkRead {
        /// Whose marker.
        email: EmailAddress,
        /// The last message read.
        up_to: Option<u64>,
    },
    /// Delete the conversation outright.
    Delete,
}

/// What happened, numbered per conversation (`seq` is the conversation's version after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The conversation's version after this event: 1, 2, 3 … per conversation.
    pub seq: u64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// The facts the domain records. Each maps to one event type in proto-schemas/.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The conversation was opened; its participants follow as `ParticipantAdded`.
    ConversationCreated {
        /// Group or personal.
        kind: ConversationKind,
        /// Subject if given.
        subject: Option<Subject>,
        /// The owner.
        owner: Option<EmailAddress>,
    },
    /// Someone joined, or re-joined (same id, `left_at` cleared).
    ParticipantAdded(Participant),
    /// A message was posted.
    MessagePosted(Message),
    /// Someone left; `new_owner` is set when ownership passed to them.
    ParticipantRemoved {
        /// Who left.
        participant: Participant,
        /// The new owner when the one leaving owned the conversation.
        new_owner: Option<EmailAddress>,
    },
    /// Subject and/or pinned message changed.
    ConversationUpdated {
        /// The new subject, if it changed.
        subject: Option<Subject>,
        /// The new pinned message, if it changed (`Some(None)`: unpinned).
        pinned_message: Option<Option<u64>>,
    },
    /// One participant's own view changed; carries their new state.
    ParticipantUpdated(Participant),
    /// A participant's read marker moved forward.
    ConversationRead {
        /// Whose marker.
        participant: ParticipantId,
        /// Their address.
        email: EmailAddress,
        /// The last message now read.
        up_to: u64,
    },
    /// The conversation is gone.
    ConversationDeleted,
}

impl EventKind {
    /// The event type name: the AMQP routing key and the envelope's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ConversationCreated { .. } => "conversation_created",
            Self::ParticipantAdded(_) => "participant_added",
            Self::MessagePosted(_) => "message_posted",
            Self::ParticipantRemoved { .. } => "participant_removed",
            Self::ConversationUpdated { .. } | Self::ParticipantUpdated(_) => {
                "conversation_updated"
            }
            Self::ConversationRead { .. } => "conversation_read",
            Self::ConversationDeleted => "conversation_deleted",
        }
    }
}
