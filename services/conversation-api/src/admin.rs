//! Operator actions that are not part of the public API (the `conversations admin`
//! commands and the tests' set-up): creating applications and their keys.

use chrono::Utc;
use conversations_events::v1::{self, envelope::Payload};
use conversations_events::{ProtoMessage, SCHEMA_VERSION};
use conversations_store::{IssuedKey, NewApiKey, OutboxEvent, Store, StoreError};

/// Creates an application and its first API key, announcing the key (its hash) on the bus
/// as `application_key_issued` so metadata-query accepts it too. The key is in the result
/// and nowhere else: show it once.
pub fn create_application(store: &Store, name: &str) -> Result<NewApiKey, StoreError> {
    let now = Utc::now();
    store.create_application(name, now, |issued| key_issued_event(issued, now))
}

pub(crate) fn key_issued_event(issued: &IssuedKey<'_>, now: chrono::DateTime<Utc>) -> OutboxEvent {
    let event_id = uuid::Uuid::now_v7().to_string();
    let envelope = v1::Envelope {
        event_id: event_id.clone(),
        r#type: "application_key_issued".to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        app_id: issued.app_id.to_string(),
        conversation_id: String::new(),
        conversation_seq: 0,
        schema_version: SCHEMA_VERSION,
        payload: Some(Payload::ApplicationKeyIssued(v1::ApplicationKeyIssued {
            key_hash: issued.key_hash.to_owned(),
            application_name: issued.app_name.to_owned(),
            key_prefix: issued.key_prefix.to_owned(),
        })),
    };
    OutboxEvent {
        event_id,
        app_id: issued.app_id.to_string(),
        conversation_id: String::new(),
        conversation_seq: 0,
        event_type: "application_key_issued".to_owned(),
        payload: envelope.encode_to_vec(),
    }
}
