//! Request bodies. Shapes follow the seed document (`sender`, `to`, `subject`, `text`),
//! with our additions; every struct refuses unknown fields.

use conversations_domain::{
    DisplayName, DomainError, EmailAddress, ExternalId, MessageText, NewParticipant, Source,
    Subject,
};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

/// A person: either just an address (`"fred@example.com"`, as in the seed) or an object
/// with a display name and the integrator's own id.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ParticipantInput {
    /// Just the address.
    Email(String),
    /// Address with details.
    Detailed(ParticipantDetails),
}

/// A participant with details.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantDetails {
    /// Their email address; identifies them.
    pub email: String,
    /// Display name shown to the others instead of the address.
    pub name: Option<String>,
    /// The integrator's own id for this person.
    pub external_id: Option<String>,
}

impl ParticipantInput {
    /// Parses into the domain type; `field` names the input in errors.
    pub fn parse(&self, field: &'static str) -> Result<NewParticipant, DomainError> {
        match self {
            Self::Email(email) => Ok(NewParticipant::from_email(EmailAddress::parse(
                field, email,
            )?)),
            Self::Detailed(d) => Ok(NewParticipant {
                email: EmailAddress::parse(field, &d.email)?,
                display_name: d
                    .name
                    .as_deref()
                    .map(|n| DisplayName::parse("name", n))
                    .transpose()?,
                external_id: d
                    .external_id
                    .as_deref()
                    .map(|n| ExternalId::parse("external_id", n))
                    .transpose()?,
            }),
        }
    }
}

/// `POST /api/v1/conversations`: an empty shell, or a conversation with its first message.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// Author of the first message (requires `text`).
    pub sender: Option<ParticipantInput>,
    /// Recipients of the first message; they become participants.
    #[serde(default)]
    pub to: Vec<ParticipantInput>,
    /// Further participants (e.g. of an empty shell).
    #[serde(default)]
    pub participants: Vec<ParticipantInput>,
    /// Subject; set from the first message's text when absent.
    pub subject: Option<String>,
    /// Text of the first message.
    pub text: Option<String>,
    /// Source of the first message; default `api`.
    pub source: Option<String>,
    /// `group` (default) or `personal` (exactly two people, re-used when re-created).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Owner's address; default the sender, else the first participant.
    pub owner: Option<String>,
}

/// `POST /api/v1/conversations/{id}`: a new message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The author; joins the conversation if not in it.
    pub sender: ParticipantInput,
    /// The body.
    pub text: String,
    /// People to bring into the conversation with this message.
    #[serde(default)]
    pub to: Vec<ParticipantInput>,
    /// `api` (default), `email`, or an integrator-defined source such as `salesforce_history`.
    pub source: Option<String>,
    /// Used only while the conversation has no subject yet.
    pub subject: Option<String>,
}

/// `PATCH /api/v1/conversations/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    /// New subject.
    pub subject: Option<String>,
    /// Message number to pin; `null` unpins.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<u64>)]
    pub pinned_message: Option<Option<u64>>,
}

/// `PATCH /api/v1/conversations/{id}/participants/{email}`: one participant's own view.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateParticipant {
    /// No email notifications while true.
    pub muted: Option<bool>,
    /// Pinned in the participant's inbox.
    pub pinned: Option<bool>,
    /// Archived (true) or back in the inbox (false).
    pub archived: Option<bool>,
    /// `true` records that the participant opened the conversation now.
    pub opened: Option<bool>,
}

/// `POST /api/v1/conversations/{id}/read`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Whose read marker moves.
    pub participant: String,
    /// Last message read; all messages when omitted.
    pub up_to: Option<u64>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// Parses optional text fields shared by several requests.
pub fn parse_subject(raw: Option<&str>) -> Result<Option<Subject>, DomainError> {
    raw.map(|s| Subject::parse("subject", s)).transpose()
}

/// Parses an optional source, defaulting to `api`.
pub fn parse_source(raw: Option<&str>) -> Result<Source, DomainError> {
    raw.map_or(Ok(Source::api()), |s| Source::parse("source", s))
}

/// Parses message text.
pub fn parse_text(raw: &str) -> Result<MessageText, DomainError> {
    MessageText::parse("text", raw)
}
