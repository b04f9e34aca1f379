//! Events as every service writes them to its outbox: wrapped in the versioned envelope
//! (a new UUIDv7 id, the schema version, when it happened), encoded once, and carrying the
//! trace context of the work that wrote it.

use chrono::{DateTime, Utc};
use conversations_db::OutboxEvent;
use conversations_events::v1::{Envelope, envelope::Payload};
use conversations_events::{ProtoMessage, SCHEMA_VERSION, Timestamp};

/// Where an event belongs: its type (the routing key), application, conversation (empty
/// for application events) and the conversation's version after it (0 when not part of
/// its history).
#[derive(Debug, Clone, Copy)]
pub struct EventHeader<'a> {
    /// The event type.
    pub event_type: &'a str,
    /// The application.
    pub app_id: &'a str,
    /// The conversation, or empty.
    pub conversation_id: &'a str,
    /// The conversation's version after the event, or 0.
    pub conversation_seq: u64,
}

/// A protobuf timestamp of `t`.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The outbox row of an event that happened at `at`.
pub fn outbox_event(header: EventHeader<'_>, at: DateTime<Utc>, payload: Payload) -> OutboxEvent {
    let event_id = uuid::Uuid::now_v7().to_string();
    let envelope = Envelope {
        event_id: event_id.clone(),
        r#type: header.event_type.to_owned(),
        occurred_at: Some(timestamp(at)),
        app_id: header.app_id.to_owned(),
        conversation_id: header.conversation_id.to_owned(),
        conversation_seq: header.conversation_seq,
        schema_version: SCHEMA_VERSION,
        payload: Some(payload),
    };
    OutboxEvent {
        event_id,
        app_id: header.app_id.to_owned(),
        conversation_id: header.conversation_id.to_owned(),
        conversation_seq: header.conversation_seq,
        event_type: header.event_type.to_owned(),
        payload: envelope.encode_to_vec(),
        trace_context: conversations_telemetry::traceparent(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_and_its_envelope_agree() {
        let at = DateTime::from_timestamp(1_796_140_501, 5).unwrap_or_default();
        let row = outbox_event(
            EventHeader {
                event_type: "conversation_deleted",
                app_id: "app",
                conversation_id: "c",
                conversation_seq: 7,
            },
            at,
            Payload::ConversationDeleted(Default::default()),
        );
        let envelope = conversations_events::decode(&row.payload).expect("decodes");
        assert_eq!(envelope.event_id, row.event_id);
        assert_eq!(envelope.r#type, "conversation_deleted");
        assert_eq!(
            (envelope.app_id.as_str(), envelope.conversation_id.as_str()),
            ("app", "c")
        );
        assert_eq!(envelope.conversation_seq, 7);
        assert_eq!(envelope.schema_version, SCHEMA_VERSION);
        assert_eq!(envelope.occurred_at, Some(timestamp(at)));
        assert_eq!(row.trace_context, None, "untraced");
        assert!(uuid::Uuid::parse_str(&row.event_id).is_ok());
    }
}
