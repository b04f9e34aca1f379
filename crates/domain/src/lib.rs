//! The conversation domain: the rules of DESIGN.md ("Domain rules") as plain Rust.
//!
//! Nothing here performs I/O. Transport layers parse raw input into the value types of
//! [`values`], hand a [`Command`] to [`decide`], persist the returned [`Event`]s and apply
//! them with [`Conversation::apply`]. Keeping the rules here means the HTTP API, the
//! inbound mail pipe and the tests all exercise the very same code.

pub mod application;
pub mod conversation;
pub mod error;
pub mod formats;
pub mod ids;
pub mod limits;
pub mod participant_token;
pub mod reply_address;
pub mod sign_in_link;
mod signed;
pub mod values;

pub use application::{ApplicationSettings, ConversationUrl};
pub use conversation::{
    Command, Conversation, ConversationKind, Event, EventKind, Message, NewParticipant,
    Participant, ParticipantChanges, decide,
};
pub use error::DomainError;

/// The line every notification puts above the quoted message; a reply's new text is
/// expected above it. The notifier writes it, reply extraction cuts there: one constant for
/// both sides.
pub const REPLY_MARKER: &str = "##- Please type your reply above this line -##";
pub use ids::{AppId, ConversationId, InboundId, ParticipantId};
pub use values::{DisplayName, EmailAddress, ExternalId, MessageText, Source, Subject};
