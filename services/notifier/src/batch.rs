//! Recording many events in one transaction. Under load the queue (or the outbox feed)
//! hands the notifier dozens of events at once; one commit for all the deliveries of
//! consecutive `message_posted` events, instead of one per event, is what lets it keep up
//! (a commit waits for the disk; rendering a mail does not).
//!
//! Guarantees kept: events are handled in order (any other event is handled on its own,
//! after everything before it is recorded); a redelivered event records nothing twice
//! (`record_deliveries` skips what exists); an event that can never be handled is
//! reported as poison on its own; and after the first database failure nothing later in
//! the batch is handled, so a feed position never passes an event that was not recorded.

use conversations_db::DbError;
use conversations_events::v1::envelope::Payload;

use crate::config::NotifierConfig;
use crate::consumer::{HandleError, announce, handle_event, message_deliveries};
use crate::store::{NewDelivery, NotifierStore};

/// One event of a batch: its encoded envelope, the span to handle it in, and its position
/// when it was read from an outbox feed (recorded with it).
pub struct BatchEvent {
    /// The encoded envelope.
    pub payload: Vec<u8>,
    /// Its consumer span (or `Span::none()`).
    pub span: tracing::Span,
    /// Its position in the feed it was read from.
    pub feed_position: Option<i64>,
}

/// What handling one event came to: how many new deliveries it recorded (`None`: the
/// event concerns no one here).
pub type Handled = Result<Option<usize>, HandleError>;

/// Handles `events` in order; one result per event.
pub fn handle_batch(
    config: &NotifierConfig,
    store: &NotifierStore,
    events: &[BatchEvent],
) -> Vec<Handled> {
    let mut results: Vec<Option<Handled>> = events.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, Vec<NewDelivery>)> = Vec::new();
    let mut failure: Option<String> = None;
    for (i, event) in events.iter().enumerate() {
        if failure.is_some() {
            break;
        }
        match event
            .span
            .in_scope(|| deliveries_of(config, store, &event.payload))
        {
            Ok(Some(rows)) => pending.push((i, rows)),
            Ok(None) => {
                failure = flush(store, events, &mut pending, &mut results);
                if failure.is_none() {
                    let handled = event.span.in_scope(|| {
                        handle_event(config, store, &event.payload, event.feed_position)
                    });
                    if let Err(HandleError::Store(e)) = &handled {
                        failure = Some(e.to_string());
                    }
                    results[i] = Some(handled);
                }
            }
            Err(HandleError::Store(e)) => {
                failure = Some(e.to_string());
                results[i] = Some(Err(HandleError::Store(e)));
            }
            Err(poison) => results[i] = Some(Err(poison)),
        }
    }
    if failure.is_none() {
        failure = flush(store, events, &mut pending, &mut results);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(HandleError::Store(DbError::Unavailable(format!(
                    "not handled after an earlier failure in its batch: {}",
                    failure.as_deref().unwrap_or("unknown")
                ))))
            })
        })
        .collect()
}

/// The deliveries of a `message_posted` event; `None` for any other kind.
fn deliveries_of(
    config: &NotifierConfig,
    store: &NotifierStore,
    payload: &[u8],
) -> Result<Option<Vec<NewDelivery>>, HandleError> {
    let envelope =
        conversations_events::decode(payload).map_err(|e| HandleError::Poison(e.to_string()))?;
    match &envelope.payload {
        Some(Payload::MessagePosted(message)) => {
            Ok(Some(message_deliveries(config, store, &envelope, message)?))
        }
        _ => Ok(None),
    }
}

/// Records the pending deliveries in one transaction, with the feed position of the last
/// of their events. Should that fail, each event is tried on its own, so that one bad
/// event does not hold back the others; the first that still fails stops the batch.
/// Returns that failure.
fn flush(
    store: &NotifierStore,
    events: &[BatchEvent],
    pending: &mut Vec<(usize, Vec<NewDelivery>)>,
    results: &mut [Option<Handled>],
) -> Option<String> {
    if pending.is_empty() {
        return None;
    }
    let batch = std::mem::take(pending);
    let mut rows = Vec::new();
    let mut ranges = Vec::with_capacity(batch.len());
    for (i, event_rows) in batch {
        let start = rows.len();
        rows.extend(event_rows);
        ranges.push((i, start..rows.len()));
    }
    let position = ranges
        .last()
        .and_then(|(i, _)| events.get(*i))
        .and_then(|e| e.feed_position);
    let now = chrono::Utc::now();
    match store.record_deliveries(&rows, |inserted| announce(inserted, now), position, now) {
        Ok(new) => {
            // The count only wakes the sender; it goes with the first event.
            for (n, (i, _)) in ranges.iter().enumerate() {
                results[*i] = Some(Ok(Some(if n == 0 { new } else { 0 })));
            }
            None
        }
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, events = ranges.len(), "batch not recorded; recording its events one by one");
            for (i, range) in ranges {
                let position = events.get(i).and_then(|e| e.feed_position);
                let rows = rows.get(range).unwrap_or_default();
                match store.record_deliveries(
                    rows,
                    |inserted| announce(inserted, now),
                    position,
                    now,
                ) {
                    Ok(new) => results[i] = Some(Ok(Some(new))),
                    Err(e) => {
                        let failure = e.to_string();
                        results[i] = Some(Err(HandleError::Store(e)));
                        return Some(failure);
                    }
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use conversations_domain::{AppId, ConversationId, ParticipantId};
    use conversations_events::ProtoMessage;
    use conversations_events::v1::{Envelope, MessagePosted, Participant};

    use super::*;

    fn posted(app: &str, conversation: &str, seq: u64, to: &str) -> BatchEvent {
        let person = |email: &str| Participant {
            participant_id: ParticipantId::new().to_string(),
            email: email.into(),
            reply_address: "rabc@reply.localhost".into(),
            active: true,
            ..Participant::default()
        };
        let envelope = Envelope {
            event_id: uuid_like(),
            r#type: "message_posted".into(),
            app_id: app.into(),
            conversation_id: conversation.into(),
            conversation_seq: seq,
            schema_version: 1,
            payload: Some(Payload::MessagePosted(MessagePosted {
                message_seq: seq,
                sender: Some(person("ann@example.com")),
                text: format!("message {seq}"),
                recipients: vec![person(to)],
                ..MessagePosted::default()
            })),
            ..Envelope::default()
        };
        BatchEvent {
            payload: envelope.encode_to_vec(),
            span: tracing::Span::none(),
            feed_position: None,
        }
    }

    fn uuid_like() -> String {
        ConversationId::new().to_string()
    }

    #[test]
    fn a_batch_records_every_message_once_in_order_and_isolates_a_poison_event() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            NotifierStore::open(&format!("sqlite://{}/notifier.db", dir.path().display()), 2)
                .unwrap();
        let config = NotifierConfig::from_lookup(|k| {
            (k == "REPLY_SECRET").then(|| "a reply secret of at least 32 characters".to_owned())
        })
        .unwrap();
        let app = AppId::new().to_string();
        let (a, b) = (uuid_like(), uuid_like());
        let garbage = BatchEvent {
            payload: b"not an envelope".to_vec(),
            span: tracing::Span::none(),
            feed_position: None,
        };
        let batch = vec![
            posted(&app, &a, 1, "bob@example.com"),
            garbage,
            posted(&app, &b, 1, "carol@example.com"),
            posted(&app, &a, 2, "bob@example.com"),
        ];
        let results = handle_batch(&config, &store, &batch);
        assert!(matches!(results[0], Ok(Some(_))), "{:?}", results[0]);
        assert!(matches!(results[1], Err(HandleError::Poison(_))));
        assert!(results[2].is_ok() && results[3].is_ok());
        for (conversation, seq) in [(&a, 1), (&b, 1), (&a, 2)] {
            let recorded = store.deliveries_for_message(conversation, seq).unwrap();
            assert_eq!(recorded.len(), 1, "{conversation} {seq}");
        }

        // The same events again (a redelivery): nothing new.
        let again = handle_batch(&config, &store, &batch);
        let new: usize = again
            .iter()
            .filter_map(|r| r.as_ref().ok().copied().flatten())
            .sum();
        assert_eq!(new, 0);
        assert_eq!(store.deliveries_for_message(&a, 1).unwrap().len(), 1);
    }
}
