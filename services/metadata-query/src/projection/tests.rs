#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Unit tests of event planning.

use conversations_events::v1::{self, envelope::Payload};

use super::*;

fn envelope(payload: Option<Payload>) -> v1::Envelope {
    v1::Envelope {
        event_id: "e".into(),
        r#type: "t".into(),
        occurred_at: Some(Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        app_id: "app".into(),
        conversation_id: "c".into(),
        conversation_seq: 3,
        schema_version: 1,
        payload,
    }
}

#[test]
fn call_kinds_are_read_from_the_first_word() {
    assert_eq!(CallKind::parse("started"), Some(CallKind::Started));
    assert_eq!(CallKind::parse("  Ended."), Some(CallKind::Ended));
    assert_eq!(
        CallKind::parse("missed: nobody answered"),
        Some(CallKind::Missed)
    );
    assert_eq!(CallKind::parse("we talked"), None);
    assert_eq!(CallKind::parse(""), None);
}

fn ids() -> ContactIds {
    ContactIds::new(b"test key of the projection")
}

fn contact_id(app: &str, email: &str) -> String {
    ids().id(app, email)
}

fn plan(envelope: &v1::Envelope) -> Result<Update, PlanError> {
    super::plan(envelope, &ids())
}

#[test]
fn contact_ids_are_stable_per_application_and_ignore_case() {
    assert_eq!(
        contact_id("a", "Fred@Example.com"),
        contact_id("a", "fred@example.com")
    );
    assert_ne!(
        contact_id("a", "fred@example.com"),
        contact_id("b", "fred@example.com")
    );
    assert_eq!(contact_id("a", "x@y.z").len(), 32);
}

#[test]
fn contact_ids_cannot_be_computed_without_the_key() {
    use sha2::{Digest, Sha256};
    let unkeyed =
        data_encoding::HEXLOWER.encode(&Sha256::digest(b"a\nfred@example.com"))[..32].to_owned();
    assert_ne!(contact_id("a", "fred@example.com"), unkeyed);
    assert_ne!(
        ContactIds::new(b"another key").id("a", "fred@example.com"),
        contact_id("a", "fred@example.com"),
        "another projection's key gives other ids"
    );
}

#[test]
fn previews_fold_whitespace_and_stop_at_140_characters() {
    let message = PostedMessage {
        seq: 1,
        sender_contact: "s".into(),
        sender_name: None,
        source: "api".into(),
        text: format!("Hello\n\n  there {}", "é".repeat(300)),
        created_at: chrono::Utc::now(),
        call: None,
        recipients: Vec::new(),
    };
    let preview = message.preview();
    assert!(preview.starts_with("Hello there éé"));
    assert_eq!(preview.chars().count(), PREVIEW_CHARS + 1);
    assert!(preview.ends_with('…'));
}

#[test]
fn events_without_what_the_inbox_needs_are_poison_and_others_are_ignored() {
    assert!(plan(&envelope(None)).is_err());
    assert!(
        plan(&envelope(Some(Payload::MessagePosted(
            v1::MessagePosted::default()
        ))))
        .is_err(),
        "a message without sender"
    );
    assert!(
        plan(&envelope(Some(Payload::NotificationFailed(
            v1::NotificationFailed::default()
        ))))
        .is_err(),
        "a notification without recipient"
    );
    let key = plan(&envelope(Some(Payload::ApplicationKeyIssued(
        v1::ApplicationKeyIssued {
            key_hash: "ab".repeat(32),
            application_name: "Shop".into(),
            key_prefix: "cvk_abcdef".into(),
        },
    ))))
    .unwrap();
    assert!(matches!(key, Update::KeyIssued { .. }));
    let revoked = plan(&envelope(Some(Payload::ApplicationKeyRevoked(
        v1::ApplicationKeyRevoked {
            key_hash: "ab".repeat(32),
            key_prefix: "cvk_abcdef".into(),
        },
    ))))
    .unwrap();
    assert_eq!(
        revoked,
        Update::KeyRevoked {
            key_hash: "ab".repeat(32)
        }
    );
    assert!(
        plan(&envelope(Some(Payload::ApplicationKeyRevoked(
            v1::ApplicationKeyRevoked::default()
        ))))
        .is_err(),
        "a revocation without a key hash"
    );
}

#[test]
fn a_posted_call_message_carries_its_kind_and_every_participant_state() {
    let person = |email: &str, read: u64| v1::Participant {
        email: email.into(),
        last_read_seq: read,
        active: true,
        ..Default::default()
    };
    let update = plan(&envelope(Some(Payload::MessagePosted(v1::MessagePosted {
        conversation: Some(v1::ConversationInfo {
            kind: "group".into(),
            subject: "Call".into(),
            ..Default::default()
        }),
        message_seq: 2,
        sender: Some(person("Fred@example.com", 2)),
        text: "missed".into(),
        source: "call".into(),
        created: Some(Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        recipients: vec![person("tina@example.com", 0)],
        ..Default::default()
    }))))
    .unwrap();
    let Update::Conversation(u) = update else {
        panic!("not a conversation update");
    };
    assert_eq!(u.seq, 3);
    assert_eq!(u.participants.len(), 2);
    assert_eq!(u.participants[0].email, "fred@example.com");
    assert_eq!(u.participants[0].read_seq, 2);
    let message = u.message.unwrap();
    assert_eq!(message.call, Some(CallKind::Missed));
    assert_eq!(
        message.sender_contact,
        contact_id("app", "fred@example.com")
    );
}

#[test]
fn notifier_events_become_delivery_states() {
    let outcome = v1::NotificationOutcome {
        message_seq: 2,
        recipient: Some(v1::Participant {
            participant_id: "p".into(),
            email: "fred@example.com".into(),
            ..Default::default()
        }),
        smtp_reply: "250 ok".into(),
        attempts: 1,
        ..Default::default()
    };
    for (payload, state) in [
        (
            Payload::NotificationSent(outcome.clone()),
            DeliveryState::Sent,
        ),
        (
            Payload::NotificationDeferred(outcome.clone()),
            DeliveryState::Retry,
        ),
        (
            Payload::NotificationSuppressed(outcome.clone()),
            DeliveryState::Suppressed,
        ),
        (
            Payload::NotificationMuted(outcome.clone()),
            DeliveryState::Muted,
        ),
    ] {
        let Update::Delivery(d) = plan(&envelope(Some(payload))).unwrap() else {
            panic!("not a delivery update");
        };
        assert_eq!(d.state, state);
        assert_eq!((d.conversation_id.as_str(), d.message_seq), ("c", 2));
        assert_eq!(d.recipient, "fred@example.com");
        assert_eq!(d.smtp_reply.as_deref(), Some("250 ok"));
    }
    assert!(DeliveryState::Sent.rank() > DeliveryState::Retry.rank());
    assert!(DeliveryState::Retry.rank() > DeliveryState::Pending.rank());
}
