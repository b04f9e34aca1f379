//! Schemas of the values our APIs take, with the exact formats of the domain's parsers
//! ([`conversations_domain::formats`]) and its limits, for `#[schema(schema_with = …)]`
//! and `#[param(schema_with = …)]`. A document that only says "string" lets every client
//! (and every contract fuzzer) send what the service then refuses.

use conversations_domain::{formats, limits};
use utoipa::openapi::Object;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

fn string(nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(kind)
}

fn email_of(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(formats::email_pattern()))
        .max_length(Some(254))
        .description(Some("An email address (`local@domain.tld`)."))
        .build()
}

/// An email address.
pub fn email() -> Object {
    email_of(false)
}

/// An email address, or `null` for none.
pub fn email_or_null() -> Object {
    email_of(true)
}

fn one_line(max: usize, nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(formats::single_line_pattern()))
        .min_length(Some(1))
        .max_length(Some(max))
        .build()
}

/// A subject (one line), or `null`.
pub fn subject_or_null() -> Object {
    one_line(limits::MAX_SUBJECT_CHARS, true)
}

/// A display name (one line), or `null`.
pub fn display_name_or_null() -> Object {
    one_line(limits::MAX_DISPLAY_NAME_CHARS, true)
}

/// The integrator's id for a person (one line).
pub fn external_id() -> Object {
    one_line(limits::MAX_EXTERNAL_ID_CHARS, false)
}

/// The integrator's id for a person (one line), or `null`.
pub fn external_id_or_null() -> Object {
    one_line(limits::MAX_EXTERNAL_ID_CHARS, true)
}

fn text_of(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(formats::text_pattern()))
        .min_length(Some(1))
        .max_length(Some(limits::MAX_TEXT_CHARS))
        .description(Some("The message text."))
        .build()
}

/// A message text.
pub fn text() -> Object {
    text_of(false)
}

/// A message text, or `null`.
pub fn text_or_null() -> Object {
    text_of(true)
}

fn source_of(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(formats::source_pattern()))
        .min_length(Some(1))
        .max_length(Some(limits::MAX_SOURCE_CHARS))
        .build()
}

/// A message source (`api`, `email`, `salesforce_history`, …).
pub fn source() -> Object {
    source_of(false)
}

/// A message source, or `null` for the default.
pub fn source_or_null() -> Object {
    source_of(true)
}

/// A list of at most `max` message sources.
pub fn source_list(max: usize) -> utoipa::openapi::Array {
    utoipa::openapi::ArrayBuilder::new()
        .items(source())
        .max_items(Some(max))
        .build()
}

/// An application's conversation URL (a template with `{conversation_id}`), `""` to
/// remove it, or `null` (like absent) to leave it as it is.
pub fn conversation_url() -> Object {
    string(true)
        .pattern(Some(formats::conversation_url_pattern()))
        .max_length(Some(conversations_domain::ConversationUrl::MAX_CHARS))
        .description(Some(
            "Where the application shows a conversation, e.g. `https://shop.example/messages/{conversation_id}`; `\"\"` removes it; `null` leaves it as it is.",
        ))
        .build()
}
