//! Request bodies. Shapes follow the seed document (`sender`, `to`, `subject`, `text`),
//! with our additions; every struct refuses unknown fields.

use conversations_domain::{
    DisplayName, DomainError, EmailAddress, ExternalId, MessageText, NewParticipant, Source,
    Subject,
};
use conversations_web::schema;
use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// A person: either just an address (`"fred@example.com"`, as in the seed) or an object
/// with a display name and the integrator's own id.
#[derive(Debug, Clone, Deserialize)]
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
    #[schema(schema_with = schema::email)]
    pub email: String,
    /// Display name shown to the others instead of the address.
    #[schema(schema_with = schema::display_name_or_null)]
    pub name: Option<String>,
    /// The integrator's own id for this person.
    #[schema(schema_with = schema::external_id_or_null)]
    pub external_id: Option<String>,
}

impl PartialSchema for ParticipantInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(schema::email())
            .item(Ref::from_schema_name("ParticipantDetails"))
            .description(Some(
                "A person: an email address, or an object with the address and details.",
            ))
            .into()
    }
}

impl ToSchema for ParticipantInput {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("ParticipantDetails".into(), ParticipantDetails::schema()));
    }
}

/// The kinds of conversation a request may name.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(as = ConversationType)]
#[allow(dead_code)] // Only describes `type` in the API document.
pub enum KindInput {
    /// Any number of people.
    #[schema(rename = "group")]
    Group,
    /// Exactly two people; re-used when the same two create it again.
    #[schema(rename = "personal")]
    Personal,
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
/// Its schema is written out below ([`create_conversation_schema`]): JSON Schema can say
/// that `sender` and `text` come together only as two alternatives.
#[derive(Debug, Clone, Default, Deserialize)]
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

/// The two shapes of [`CreateConversation`]: an empty shell (no `sender`, `text` or
/// `source`, or only as `null`) and a conversation with its first message (`sender` and
/// `text` both given).
fn create_conversation_schema() -> Schema {
    let people = |what: &str| {
        ArrayBuilder::new()
            .items(ParticipantInput::schema())
            .max_items(Some(conversations_domain::limits::MAX_PARTICIPANTS))
            .description(Some(what))
    };
    let kind = || {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some([
                serde_json::Value::from("group"),
                serde_json::Value::from("personal"),
                serde_json::Value::Null,
            ]))
            .description(Some(
                "`group` (default) or `personal` (exactly two people, re-used when re-created).",
            ))
    };
    let null = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null));
    let common = |with_message: bool| {
        let object = ObjectBuilder::new()
            .property(
                "participants",
                people("Further participants (e.g. of an empty shell)."),
            )
            .property(
                "subject",
                ObjectBuilder::from(schema::subject_or_null()).description(Some(
                    "Subject; set from the first message's text when absent.",
                )),
            )
            .property("type", kind())
            .property(
                "owner",
                ObjectBuilder::from(schema::email_or_null()).description(Some(
                    "Owner's address; default the sender, else the first participant.",
                )),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        if with_message {
            object
                .title(Some("With a first message"))
                .property("sender", ParticipantInput::schema())
                .required("sender")
                .property("text", schema::text())
                .required("text")
                .property(
                    "to",
                    people("Recipients of the first message; they become participants."),
                )
                .property(
                    "source",
                    ObjectBuilder::from(schema::source_or_null())
                        .description(Some("Source of the first message; default `api`.")),
                )
        } else {
            object
                .title(Some("Empty shell"))
                .property("sender", null())
                .property("text", null())
                .property("source", null())
                .property(
                    "to",
                    people("Recipients; with no first message, simply participants."),
                )
        }
    };
    OneOfBuilder::new()
        .item(common(false))
        .item(common(true))
        .description(Some(
            "An empty shell, or a conversation with its first message (`sender` and `text`).",
        ))
        .build()
        .into()
}

impl PartialSchema for CreateConversation {
    fn schema() -> RefOr<Schema> {
        create_conversation_schema().into()
    }
}

impl ToSchema for CreateConversation {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ParticipantInput::schemas(schemas);
    }
}

/// `POST /api/v1/conversations/{id}`: a new message.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// The author; joins the conversation if not in it.
    pub sender: ParticipantInput,
    /// The body.
    #[schema(schema_with = schema::text)]
    pub text: String,
    /// People to bring into the conversation with this message.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub to: Vec<ParticipantInput>,
    /// `api` (default), `email`, or an integrator-defined source such as `salesforce_history`.
    #[schema(schema_with = schema::source_or_null)]
    pub source: Option<String>,
    /// Used only while the conversation has no subject yet.
    #[schema(schema_with = schema::subject_or_null)]
    pub subject: Option<String>,
}

/// `PATCH /api/v1/conversations/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    /// New subject.
    #[schema(schema_with = schema::subject_or_null)]
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
    #[schema(schema_with = schema::email)]
    pub participant: String,
    /// Last message read; all messages when omitted.
    #[serde(default, deserialize_with = "conversations_web::integer::optional")]
    pub up_to: Option<u64>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    conversations_web::integer::optional(d).map(Some)
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
