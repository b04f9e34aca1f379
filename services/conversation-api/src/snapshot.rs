//! The snapshot of current state (`GET /internal/v1/snapshot`): what a metadata-query
//! replica rebuilds from when the feed it would replay has been pruned. Each page is a
//! list of events in the bus's own encoding, so the replica applies it with its ordinary
//! projection: the keys in use, then per conversation one `participant_added` per
//! participant and one `message_posted` per message, all carrying today's states and
//! stamped with the conversation's current version. Applied, they give the inbox the live
//! events built; the feed after `head` then brings whatever changed since.

use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_domain::{Conversation, Message};
use conversations_events::feed::{FeedEvent, SnapshotPage};
use conversations_events::v1::{self, envelope::Payload};
use conversations_events::{ProtoMessage, SCHEMA_VERSION};
use conversations_store::{IssuedKey, Store, StoreError};
use data_encoding::BASE64;

use crate::outbox_events::{info, participant, timestamp};

/// Messages read per round trip while a conversation is written out.
const MESSAGE_PAGE: usize = 500;

fn event(c: &Conversation, event_type: &str, payload: Payload) -> FeedEvent {
    let envelope = v1::Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type.to_owned(),
        occurred_at: Some(timestamp(c.created_at)),
        app_id: c.app_id.to_string(),
        conversation_id: c.id.to_string(),
        conversation_seq: c.version,
        schema_version: SCHEMA_VERSION,
        payload: Some(payload),
    };
    FeedEvent {
        position: 0,
        event_type: event_type.to_owned(),
        payload: BASE64.encode(&envelope.encode_to_vec()),
    }
}

fn message_event(
    codec: &ReplyAddressCodec,
    c: &Conversation,
    app_name: &str,
    m: &Message,
) -> FeedEvent {
    let sender = c
        .participants
        .iter()
        .find(|p| p.id == m.sender)
        .map(|p| participant(codec, c, p))
        .unwrap_or_else(|| v1::Participant {
            participant_id: m.sender.to_string(),
            email: m.sender_email.as_str().to_owned(),
            display_name: m
                .sender_name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            ..Default::default()
        });
    event(
        c,
        "message_posted",
        Payload::MessagePosted(v1::MessagePosted {
            conversation: Some(info(c)),
            message_seq: m.seq,
            message_id: format!("{}.{}", c.id, m.seq),
            sender: Some(sender),
            text: m.text.as_str().to_owned(),
            source: m.source.as_str().to_owned(),
            created: Some(timestamp(m.created_at)),
            // Nobody is to be notified again: no recipients.
            recipients: Vec::new(),
            application_name: app_name.to_owned(),
            inbound_id: m.inbound_id.map(|id| id.to_string()).unwrap_or_default(),
            // Nobody is notified of a snapshot: no link needed.
            conversation_url: String::new(),
        }),
    )
}

/// One page of the snapshot: up to `limit` conversations with an id after `after` (the
/// first page, `after` = `None`, also carries every API key in use).
pub fn page(
    store: &Store,
    codec: &ReplyAddressCodec,
    after: Option<&str>,
    limit: usize,
) -> Result<SnapshotPage, StoreError> {
    // Read first: whatever commits after this is in the feed after `head`.
    let head = store.outbox().head()?;
    let mut events = Vec::new();
    if after.is_none() {
        let now = chrono::Utc::now();
        for key in store.active_keys()? {
            let issued = IssuedKey {
                app_id: key.app_id,
                app_name: &key.app_name,
                key_hash: &key.key_hash,
                key_prefix: &key.key_prefix,
            };
            let row = crate::admin::key_issued_event(&issued, now);
            events.push(FeedEvent {
                position: 0,
                event_type: row.event_type,
                payload: BASE64.encode(&row.payload),
            });
        }
    }
    let ids = store.conversations_after(after.unwrap_or(""), limit)?;
    let next = (ids.len() >= limit)
        .then(|| ids.last().map(|(_, id)| id.to_string()))
        .flatten();
    for (app, id) in ids {
        // Deleted since the page was listed: nothing to show.
        let Some(c) = store.load_conversation(app, id)? else {
            continue;
        };
        let app_name = store.application_name(app)?.unwrap_or_default();
        for p in &c.participants {
            events.push(event(
                &c,
                "participant_added",
                Payload::ParticipantAdded(v1::ParticipantAdded {
                    conversation: Some(info(&c)),
                    participant: Some(participant(codec, &c, p)),
                }),
            ));
        }
        let mut after_seq = 0;
        loop {
            let page = store.messages(id, after_seq, MESSAGE_PAGE, &[])?;
            for m in &page.messages {
                events.push(message_event(codec, &c, &app_name, m));
            }
            match page.next_after {
                Some(n) => after_seq = n,
                None => break,
            }
        }
    }
    Ok(SnapshotPage { head, events, next })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_outbox_header_names_this_outbox() {
        assert_eq!(
            conversations_store::OUTBOX_TABLE,
            conversations_events::feed::CONVERSATIONS_OUTBOX
        );
    }
}
