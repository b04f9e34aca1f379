//! Operator actions (the `conversations admin` commands, the key routes and the tests'
//! set-up): creating applications, issuing and revoking their keys. Each writes the event
//! that tells the other services, in the same transaction.

use chrono::Utc;
use conversations_domain::AppId;
use conversations_events::v1::{self, envelope::Payload};
use conversations_store::{
    IssuedKey, NewApiKey, OutboxEvent, Revocation, RevokedKey, Store, StoreError,
};

/// Creates an application and its first API key, announcing the key (its hash) on the bus
/// as `application_key_issued` so metadata-query accepts it too. The key is in the result
/// and nowhere else: show it once.
pub fn create_application(store: &Store, name: &str) -> Result<NewApiKey, StoreError> {
    let now = Utc::now();
    store.create_application(name, now, |issued| key_issued_event(issued, now))
}

/// Issues another key for `app` (`None`: no such application), announced as
/// `application_key_issued`. Show the key once.
pub fn issue_key(store: &Store, app: AppId, label: &str) -> Result<Option<NewApiKey>, StoreError> {
    let now = Utc::now();
    store.issue_key(app, label, now, |issued| key_issued_event(issued, now))
}

/// Revokes the key of `app` named by `prefix`, announced as `application_key_revoked`:
/// metadata-query refuses it once it has read the event, inbound-mail once its cache of
/// key answers expires (seconds).
pub fn revoke_key(store: &Store, app: AppId, prefix: &str) -> Result<Revocation, StoreError> {
    let now = Utc::now();
    store.revoke_key(app, prefix, now, |revoked| key_revoked_event(revoked, now))
}

fn key_revoked_event(revoked: &RevokedKey<'_>, now: chrono::DateTime<Utc>) -> OutboxEvent {
    key_event(
        revoked.app_id,
        "application_key_revoked",
        now,
        Payload::ApplicationKeyRevoked(v1::ApplicationKeyRevoked {
            key_hash: revoked.key_hash.to_owned(),
            key_prefix: revoked.key_prefix.to_owned(),
        }),
    )
}

pub(crate) fn key_issued_event(issued: &IssuedKey<'_>, now: chrono::DateTime<Utc>) -> OutboxEvent {
    key_event(
        issued.app_id,
        "application_key_issued",
        now,
        Payload::ApplicationKeyIssued(v1::ApplicationKeyIssued {
            key_hash: issued.key_hash.to_owned(),
            application_name: issued.app_name.to_owned(),
            key_prefix: issued.key_prefix.to_owned(),
        }),
    )
}

fn key_event(
    app_id: AppId,
    event_type: &str,
    now: chrono::DateTime<Utc>,
    payload: Payload,
) -> OutboxEvent {
    conversations_bus::outbox_event(
        conversations_bus::EventHeader {
            event_type,
            app_id: &app_id.to_string(),
            conversation_id: "",
            conversation_seq: 0,
        },
        now,
        payload,
    )
}
