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
