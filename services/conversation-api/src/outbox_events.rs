//! Domain events become protobuf envelopes for the outbox. Each envelope carries the
//! conversation's state after the event, so consumers never read our tables.

use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_domain::{
    Conversation, ConversationUrl, Event, EventKind, Participant, ParticipantId,
};
use conversations_events::v1::{self, envelope::Payload};
use conversations_store::OutboxEvent;

pub(crate) use conversations_bus::event::timestamp;

pub(crate) fn info(c: &Conversation) -> v1::ConversationInfo {
    v1::ConversationInfo {
        kind: c.kind.as_str().to_owned(),
        subject: c
            .subject
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        owner_email: c
            .owner
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        message_count: c.message_count,
        created_at: Some(timestamp(c.created_at)),
        pinned_message: c.pinned_message.unwrap_or(0),
    }
}

pub(crate) fn participant(
    codec: &ReplyAddressCodec,
    c: &Conversation,
    p: &Participant,
) -> v1::Participant {
    v1::Participant {
        participant_id: p.id.to_string(),
        email: p.email.as_str().to_owned(),
        display_name: p
            .display_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        external_id: p
            .external_id
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        reply_address: codec.encode(c.app_id, c.id, p.id),
        muted: p.muted,
        pinned: p.pinned,
        archived_at: p.archived_at.map(timestamp),
        last_opened_at: p.last_opened_at.map(timestamp),
        last_read_seq: p.last_read_seq,
        active: p.is_active(),
    }
}

fn participant_by_id(
    codec: &ReplyAddressCodec,
    c: &Conversation,
    id: ParticipantId,
) -> Option<v1::Participant> {
    c.participants
        .iter()
        .find(|p| p.id == id)
        .map(|p| participant(codec, c, p))
}

/// Encodes `events` (decided against `before`) as outbox rows, in order. `app` is what
/// notifications need of the application: its name for senders ("Fred via <app>") and
/// where it shows a conversation, for their link.
pub fn encode(
    codec: &ReplyAddressCodec,
    app: &conversations_store::AppProfile,
    before: &Conversation,
    events: &[Event],
) -> Vec<OutboxEvent> {
    let mut state = before.clone();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let prior = state.clone();
        state.apply(event);
        let c = &state;
        let payload = match &event.kind {
            EventKind::ConversationCreated { .. } => {
                Payload::ConversationCreated(v1::ConversationCreated {
                    conversation: Some(info(c)),
                })
            }
            EventKind::ParticipantAdded(p) => Payload::ParticipantAdded(v1::ParticipantAdded {
                conversation: Some(info(c)),
                participant: participant_by_id(codec, c, p.id),
            }),
            EventKind::MessagePosted(m) => Payload::MessagePosted(v1::MessagePosted {
                conversation: Some(info(c)),
                message_seq: m.seq,
                message_id: format!("{}.{}", c.id, m.seq),
                sender: participant_by_id(codec, c, m.sender),
                text: m.text.as_str().to_owned(),
                source: m.source.as_str().to_owned(),
                inbound_id: m.inbound_id.map(|id| id.to_string()).unwrap_or_default(),
                created: Some(timestamp(m.created_at)),
                recipients: m
                    .recipients
                    .iter()
                    .filter_map(|r| participant_by_id(codec, c, r.participant_id))
                    .collect(),
                application_name: app.name.clone(),
                conversation_url: app
                    .conversation_url
                    .as_deref()
                    .map(|url| url.replace(ConversationUrl::PLACEHOLDER, &c.id.to_string()))
                    .unwrap_or_default(),
            }),
            EventKind::ParticipantRemoved {
                participant: p,
                new_owner,
            } => Payload::ParticipantRemoved(v1::ParticipantRemoved {
                conversation: Some(info(c)),
                participant: participant_by_id(codec, c, p.id),
                new_owner_email: new_owner
                    .as_ref()
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_default(),
            }),
            EventKind::ConversationUpdated {
                subject,
                pinned_message,
            } => Payload::ConversationUpdated(v1::ConversationUpdated {
                conversation: Some(info(c)),
                subject_changed: subject.is_some(),
                pinned_message_changed: pinned_message.is_some(),
                participant: None,
            }),
            EventKind::ParticipantUpdated(p) => {
                Payload::ConversationUpdated(v1::ConversationUpdated {
                    conversation: Some(info(c)),
                    subject_changed: false,
                    pinned_message_changed: false,
                    participant: participant_by_id(codec, c, p.id),
                })
            }
            EventKind::ConversationRead {
                participant: p,
                up_to,
                ..
            } => Payload::ConversationRead(v1::ConversationRead {
                conversation: Some(info(c)),
                participant: participant_by_id(codec, c, *p),
                up_to: *up_to,
            }),
            EventKind::ConversationDeleted => {
                // Erasure: the event that replaces every earlier one of the conversation in
                // the outbox (and stays in the feed) carries nothing the people wrote.
                Payload::ConversationDeleted(v1::ConversationDeleted {
                    conversation: Some(v1::ConversationInfo {
                        subject: String::new(),
                        owner_email: String::new(),
                        message_count: 0,
                        pinned_message: 0,
                        ..info(&prior)
                    }),
                })
            }
        };
        rows.push(conversations_bus::outbox_event(
            conversations_bus::EventHeader {
                event_type: event.kind.type_name(),
                app_id: &c.app_id.to_string(),
                conversation_id: &c.id.to_string(),
                conversation_seq: event.seq,
            },
            event.occurred_at,
            payload,
        ));
    }
    rows
}
