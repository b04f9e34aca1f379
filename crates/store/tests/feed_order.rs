//! The feed follows commit order: an event whose transaction took its id first but
//! committed last is still served to a reader that has already read past the later ones,
//! and relays racing for the lease never hand out a position twice or leave a gap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use conversations_db::{AnyConnection, OutboxEvent};
use conversations_store::Store;
use conversations_test_support::TestDatabase;
use diesel::{Connection, PgConnection, RunQueryDsl};

fn event(n: usize) -> OutboxEvent {
    OutboxEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        app_id: "app".into(),
        conversation_id: format!("conversation-{n}"),
        conversation_seq: 1,
        event_type: "conversation_created".into(),
        payload: format!("event {n}").into_bytes(),
        trace_context: n
            .is_multiple_of(2)
            .then(|| format!("00-{n:032x}-00f067aa0ba902b7-01")),
    }
}

fn sequence(store: &Store, holder: &str) -> conversations_db::outbox::Sequenced {
    store
        .outbox()
        .sequence(holder, Utc::now(), Duration::seconds(30), 100, false)
        .unwrap()
}

#[test]
fn an_event_committed_out_of_id_order_is_still_served_after_the_later_ones() {
    let db = TestDatabase::create("conv_feed_order").unwrap();
    let store = Store::open(db.url(), 2).unwrap();

    // Transaction A inserts first (takes the lower id) but stays open.
    let mut slow = AnyConnection::Postgresql(PgConnection::establish(db.url()).unwrap());
    diesel::sql_query("BEGIN").execute(&mut slow).unwrap();
    conversations_db::outbox::insert(&mut slow, "outbox", &[event(1)], Utc::now()).unwrap();

    // Transaction B inserts later (higher id) and commits at once.
    let mut fast = AnyConnection::Postgresql(PgConnection::establish(db.url()).unwrap());
    conversations_db::outbox::insert(&mut fast, "outbox", &[event(2)], Utc::now()).unwrap();

    // The relay sequences what it can see; a reader reads it and remembers position 1.
    sequence(&store, "relay");
    let first = store.events_after(0, 10).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].payload, b"event 2");
    assert_eq!(first[0].position, 1);
    assert_eq!(
        first[0].trace_context.as_deref(),
        Some("00-00000000000000000000000000000002-00f067aa0ba902b7-01"),
        "the trace context travels with the event"
    );

    // A commits now. Paging by id, a reader after B's id would never see it; by position
    // it is next.
    diesel::sql_query("COMMIT").execute(&mut slow).unwrap();
    assert!(
        store.events_after(1, 10).unwrap().is_empty(),
        "not served before it has a position"
    );
    sequence(&store, "relay");
    let next = store.events_after(1, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].payload, b"event 1");
    assert_eq!(next[0].position, 2);
    assert_eq!(next[0].trace_context, None);
}

#[test]
fn relays_racing_for_the_lease_hand_out_every_position_once_without_gaps() {
    let db = TestDatabase::create("conv_feed_race").unwrap();
    let store = Store::open(db.url(), 8).unwrap();
    let writers = 4;
    let per_writer = 50;
    std::thread::scope(|scope| {
        for w in 0..writers {
            let url = db.url().to_owned();
            scope.spawn(move || {
                let mut conn = AnyConnection::Postgresql(PgConnection::establish(&url).unwrap());
                for i in 0..per_writer {
                    let events = [event(w * 1000 + i)];
                    conversations_db::outbox::insert(&mut conn, "outbox", &events, Utc::now())
                        .unwrap();
                }
            });
        }
        // Two relays with the lease expiring all the time, sequencing while writers write.
        for holder in ["relay-a", "relay-b"] {
            let store = store.clone();
            scope.spawn(move || {
                for _ in 0..200 {
                    store
                        .outbox()
                        .sequence(holder, Utc::now(), Duration::zero(), 7, false)
                        .unwrap();
                }
            });
        }
    });
    while matches!(
        sequence(&store, "last"),
        conversations_db::outbox::Sequenced::Positions { count, .. } if count > 0
    ) {}
    let feed = store.events_after(0, 10_000).unwrap();
    assert_eq!(feed.len(), writers * per_writer);
    for (i, row) in feed.iter().enumerate() {
        assert_eq!(
            row.position,
            i as i64 + 1,
            "positions are 1, 2, 3 … without gaps"
        );
    }
    assert_eq!(
        store.outbox().head().unwrap(),
        (writers * per_writer) as i64
    );
}

#[test]
fn pruning_keeps_what_is_unpublished_or_above_the_floor_and_the_feed_says_where_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/prune.db", dir.path().display()), 1).unwrap();
    let outbox = store.outbox();
    let mut conn = AnyConnection::Sqlite(
        diesel::SqliteConnection::establish(&format!("{}/prune.db", dir.path().display())).unwrap(),
    );
    let events: Vec<OutboxEvent> = (0..5).map(event).collect();
    conversations_db::outbox::insert(&mut conn, "outbox", &events, Utc::now()).unwrap();
    // Positions 1–5; 1–4 published (as the in-process relay does), 5 not.
    outbox
        .sequence("relay", Utc::now(), Duration::seconds(30), 4, true)
        .unwrap();
    outbox
        .sequence("relay", Utc::now(), Duration::seconds(30), 4, false)
        .unwrap();
    assert_eq!(outbox.oldest().unwrap(), 1);
    let later = Utc::now() + Duration::seconds(1);
    // An in-process reader has handled up to 2: 3 and 4 stay although published.
    assert_eq!(outbox.prune(later, 2).unwrap(), 2);
    assert_eq!(outbox.oldest().unwrap(), 3);
    assert_eq!(outbox.prune(later, i64::MAX).unwrap(), 2);
    let left = store.events_after(0, 10).unwrap();
    assert_eq!(left.len(), 1, "the unpublished event stays");
    assert_eq!(left[0].position, 5);
    outbox.mark_published(5).unwrap();
    assert_eq!(outbox.prune(later, i64::MAX).unwrap(), 1);
    // Empty, yet five events were sequenced: a reader at 0 learns it missed them.
    assert_eq!(outbox.oldest().unwrap(), 6);
    assert_eq!(outbox.head().unwrap(), 5);
}
