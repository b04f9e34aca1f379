//! The event contract between services, generated from `proto-schemas/` at build time.
//!
//! Producers build an [`v1::Envelope`] and encode it with [`prost::Message::encode_to_vec`];
//! consumers call [`decode`], which also refuses schema versions they do not know.

/// `conversations.v1`: the generated types.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/conversations.v1.rs"));
}

pub use prost::Message as ProtoMessage;
/// The protobuf timestamp used in envelopes, for consumers without their own prost-types.
pub use prost_types::Timestamp;

/// The internal replay feed (`GET /internal/v1/events` of conversation-api): every event
/// in commit order, so a consumer with an empty database can catch up. The payload is the
/// same protobuf envelope as on the bus, base64-encoded.
pub mod feed {
    use serde::{Deserialize, Serialize};

    /// Path of the feed on conversation-api.
    pub const PATH: &str = "/internal/v1/events";

    /// The `outbox` header of events published from conversation-api's outbox: their
    /// `feed_position` header is a position of this feed.
    pub const CONVERSATIONS_OUTBOX: &str = "outbox";

    /// One event of the feed.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct FeedEvent {
        /// Its position; pass the last one as `after` for the next page.
        pub position: i64,
        /// The event type (AMQP routing key).
        pub event_type: String,
        /// The protobuf `Envelope`, base64.
        pub payload: String,
    }

    /// A page of the feed; fewer events than asked for means the end, for now.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct FeedPage {
        /// Events in commit order.
        pub events: Vec<FeedEvent>,
        /// The lowest position still kept (older events were pruned), or the next one to
        /// come when none is; read after the page. A reader whose position is below
        /// `oldest - 1` has missed events and rebuilds from the [`SnapshotPage`]s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub oldest: Option<i64>,
    }

    /// Path of the snapshot of current state on conversation-api.
    pub const SNAPSHOT_PATH: &str = "/internal/v1/snapshot";

    /// One page of the snapshot: current state as events (every API key in use on the
    /// first page, then per conversation its participants' and its messages' current
    /// state, each stamped with the conversation's current version), so a replica applies
    /// it with the same code as live events.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SnapshotPage {
        /// The feed position the snapshot covers: continue the feed after it (events
        /// between it and the snapshot's reads are applied twice, harmlessly).
        pub head: i64,
        /// Events (their `position` is 0).
        pub events: Vec<FeedEvent>,
        /// Pass as `after` for the next page; absent on the last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next: Option<String>,
    }
}

/// The internal routes of conversation-api that inbound-mail calls (`INTERNAL_TOKEN`):
/// their paths and bodies, shared so that both sides agree. Ids are UUIDs in text.
pub mod internal {
    use serde::{Deserialize, Serialize};

    /// `GET {REPLY_TARGETS}/{conversation}/{participant}`.
    pub const REPLY_TARGETS: &str = "/internal/v1/reply-targets";
    /// `POST /internal/v1/conversations/{id}/email-replies`.
    pub fn email_replies(conversation: &str) -> String {
        format!("/internal/v1/conversations/{conversation}/email-replies")
    }
    /// `POST {VERIFY_KEY}`.
    pub const VERIFY_KEY: &str = "/internal/v1/keys/verify";

    /// Whom a reply address names: what inbound-mail needs to verify the address's HMAC
    /// (the application) and the sender (the participant's address).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ReplyTarget {
        /// The conversation's application.
        pub app_id: String,
        /// The conversation.
        pub conversation_id: String,
        /// The participant the address was given to.
        pub participant_id: String,
        /// The participant's address, to compare with the mail's `From`.
        pub email: String,
        /// False once the participant has left: their replies are refused.
        pub active: bool,
        /// Messages in the conversation.
        pub message_count: u64,
        /// Everyone who has been in the conversation: the leak guard replaces their real
        /// addresses in the reply before it is posted.
        #[serde(default)]
        pub people: Vec<KnownPerson>,
        /// The application's setting: replace phone numbers in the reply too.
        #[serde(default)]
        pub mask_phone_numbers: bool,
    }

    /// A participant as the leak guard needs them.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct KnownPerson {
        /// Their real address.
        pub email: String,
        /// Their display name, shown instead of the address when they have one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub display_name: Option<String>,
    }

    /// A reply that came by email, to post as the participant.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EmailReply {
        /// The conversation's application (as the reply target said).
        pub app_id: String,
        /// Who wrote it.
        pub participant_id: String,
        /// The text kept from the mail.
        pub text: String,
        /// Derived from the mail's Message-ID: the same mail never posts twice.
        pub idempotency_key: String,
        /// The message the mail answered (from `In-Reply-To`): the replier has read up
        /// to it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub read_up_to: Option<u64>,
        /// The mail's entry in inbound-mail's log, shown with the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub inbound_id: Option<String>,
        /// What extraction cut from the mail (addresses masked), shown on request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub trimmed_text: Option<String>,
    }

    /// What was posted.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct PostedReply {
        /// The conversation.
        pub conversation_id: String,
        /// The new message's number.
        pub seq: u64,
    }

    /// `POST /internal/v1/keys/verify` body.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct KeyToVerify {
        /// The API key presented to another service.
        pub key: String,
    }

    /// The application an API key belongs to (`None`: no application has this key).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct KeyOwner {
        /// The application.
        pub app_id: Option<String>,
    }

    /// The answer of the reply-target route. "No such conversation or participant" is an
    /// answer (`target: None`, 200), never a 404: a 404 means the route is missing (no
    /// `INTERNAL_TOKEN` on conversation-api, or a gateway in between), which must make
    /// inbound-mail retry, not bounce every reply as addressed to nobody.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ReplyTargetAnswer {
        /// Whom the address names, when it still exists.
        pub target: Option<ReplyTarget>,
    }
}

/// The `schema_version` written by this crate.
pub const SCHEMA_VERSION: u32 = 1;

/// Content type of encoded envelopes (the AMQP `content_type` property).
pub const CONTENT_TYPE: &str = "application/x-protobuf; proto=conversations.v1.Envelope";

/// Why a payload could not be turned into an event; such messages are dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a protobuf `Envelope`.
    #[error("undecodable event: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A schema version this build does not understand.
    #[error("unknown event schema version {0}")]
    UnknownVersion(u32),
    /// An envelope without a payload.
    #[error("event without payload")]
    MissingPayload,
}

/// Decodes an envelope and checks that this build understands it.
pub fn decode(bytes: &[u8]) -> Result<v1::Envelope, DecodeError> {
    let envelope = <v1::Envelope as prost::Message>::decode(bytes)?;
    if envelope.schema_version != SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion(envelope.schema_version));
    }
    if envelope.payload.is_none() {
        return Err(DecodeError::MissingPayload);
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_and_unknown_versions_are_refused() {
        let envelope = v1::Envelope {
            event_id: "e".into(),
            r#type: "conversation_deleted".into(),
            schema_version: SCHEMA_VERSION,
            payload: Some(v1::envelope::Payload::ConversationDeleted(
                v1::ConversationDeleted::default(),
            )),
            ..Default::default()
        };
        let bytes = prost::Message::encode_to_vec(&envelope);
        assert_eq!(decode(&bytes).unwrap(), envelope);
        let future = v1::Envelope {
            schema_version: 2,
            ..envelope
        };
        assert!(matches!(
            decode(&prost::Message::encode_to_vec(&future)),
            Err(DecodeError::UnknownVersion(2))
        ));
        assert!(decode(b"\xff\xff garbage").is_err());
    }
}
