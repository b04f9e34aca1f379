//! Why the domain refused a command.

use crate::values::EmailAddress;

/// Every way a command or an input value can be refused. Transport layers map these to
/// HTTP problem details (or sysexits codes) in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// An input value failed to parse; `field` names it as the client sent it.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The request field that was refused.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The conversation would exceed [`crate::limits::MAX_PARTICIPANTS`].
    #[error("a conversation has at most {max} participants")]
    TooManyParticipants {
        /// The limit that was hit.
        max: usize,
    },
    /// A personal conversation is between exactly two different people.
    #[error("a personal conversation has exactly two different participants")]
    PersonalNeedsTwo,
    /// The command names someone who is not an active participant.
    #[error("{0} is not a participant of this conversation")]
    NotAParticipant(EmailAddress),
    /// The person is already an active participant.
    #[error("{0} is already a participant of this conversation")]
    AlreadyParticipant(EmailAddress),
    /// The command refers to a message number the conversation does not have.
    #[error("message {0} does not exist in this conversation")]
    NoSuchMessage(u64),
    /// A command that needs an existing conversation was given none, or the reverse.
    #[error("{0}")]
    InvalidCommand(&'static str),
}
