//! The same events applied in order, twice, and in reverse order leave the same
//! projection: duplicates change nothing and stale events never overwrite newer state,
//! whether they arrive one per transaction, all in one batch, or in batches of seven
//! applied by two replicas sharing a PostgreSQL database at the same time.

use conversations_events::feed::FeedPage;
use conversations_test_support::TestDatabase;
use data_encoding::BASE64;
use metadata_query::InboxStore;
use metadata_query::store::{InboxFilter, InboxOrder, InboxPage, Planned, Relevant};
use serde_json::json;

use crate::helpers::{FEED_TOKEN, world};
use crate::{FRED, OLGA, TINA};

/// The first 100 of a contact's conversations, optionally filtered by `relevant`.
fn first_page(store: &InboxStore, contact: &str, relevant: Option<Relevant>) -> InboxPage {
    store
        .inbox(
            contact,
            &InboxFilter {
                relevant,
                ..Default::default()
            },
            &InboxOrder {
                limit: 100,
                ..Default::default()
            },
            None,
        )
        .unwrap()
}

/// The contact ids the events below are planned with: the projection applies what was
/// planned, whichever store's own key.
fn ids() -> metadata_query::projection::ContactIds {
    metadata_query::projection::ContactIds::new(b"projection order test key")
}

fn snapshot(store: &InboxStore, app: &str, email: &str) -> String {
    let contact = ids().id(app, email);
    let page = first_page(store, &contact, None);
    let members = store
        .members(
            app,
            &page
                .items
                .iter()
                .map(|i| i.conversation_id.clone())
                .collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    // The filters read the call flags the projection copies onto memberships.
    let relevant: Vec<String> = [
        Relevant::OngoingCall,
        Relevant::MissedCall,
        Relevant::UnreadMessages,
        Relevant::All,
    ]
    .into_iter()
    .map(|relevant| {
        let filtered = first_page(store, &contact, Some(relevant));
        let ids: Vec<&str> = filtered
            .items
            .iter()
            .map(|i| i.conversation_id.as_str())
            .collect();
        format!("{relevant:?}: found={} {ids:?}", filtered.found)
    })
    .collect();
    format!(
        "{:?} badge={} total={} members={:?} relevant={relevant:?}",
        page.items, page.badge, page.total, members
    )
}

#[tokio::test]
async fn duplicated_and_reordered_events_leave_the_projection_right() {
    let w = world().await;
    let a = w.conversation(FRED, &[TINA], "one").await;
    let b = w.conversation(TINA, &[FRED, OLGA], "two").await;
    w.say(&a, FRED, "again").await;
    w.say(&b, OLGA, "hi").await;
    w.say_with_source(&b, FRED, "started", Some("call")).await;
    w.say_with_source(&b, FRED, "missed", Some("call")).await;
    w.post(
        &format!("/api/v1/conversations/{a}/read"),
        json!({"participant": TINA, "up_to": 1}),
    )
    .await;
    w.patch(
        &format!("/api/v1/conversations/{b}/participants/{TINA}"),
        json!({"muted": true, "archived": true}),
    )
    .await;
    w.say(&a, TINA, "bye").await;
    let r = w
        .client
        .delete(format!(
            "{}/api/v1/conversations/{b}/participants/{OLGA}",
            w.api
        ))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    w.say(&a, FRED, "last word").await;
    // Read up to exactly the newest message: delivered before that message, the marker
    // must still cover it.
    let c = w.conversation(FRED, &[TINA], "three").await;
    w.say(&c, FRED, "four").await;
    w.post(
        &format!("/api/v1/conversations/{c}/read"),
        json!({"participant": TINA, "up_to": 2}),
    )
    .await;

    w.feed_complete().await;
    let page: FeedPage = w
        .client
        .get(format!("{}/internal/v1/events?after=0&limit=1000", w.api))
        .bearer_auth(FEED_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let planned: Vec<Planned> = page
        .events
        .iter()
        .map(|e| Planned {
            update: metadata_query::projection::plan(
                &conversations_events::decode(&BASE64.decode(e.payload.as_bytes()).unwrap())
                    .unwrap(),
                &ids(),
            )
            .unwrap(),
            feed_position: None,
        })
        .collect();
    assert!(planned.len() > 15, "{} events", planned.len());
    let app = match &planned[0].update {
        metadata_query::projection::Update::KeyIssued { app_id, .. } => app_id.clone(),
        other => panic!("the key comes first: {other:?}"),
    };

    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        InboxStore::open(&format!("sqlite://{}/{name}.db", dir.path().display()), 2).unwrap()
    };
    let in_order = open("in-order");
    in_order.apply(&planned).unwrap();

    // Every event twice, in reverse order, one per transaction (as separate deliveries).
    let shuffled = open("shuffled");
    let mut reversed: Vec<Planned> = planned.iter().rev().cloned().collect();
    reversed.extend(planned.iter().cloned());
    reversed.extend(planned.iter().rev().cloned());
    // The key must be known for the API, but the projection itself does not care.
    for one in &reversed {
        shuffled.apply(std::slice::from_ref(one)).unwrap();
    }
    // The same mix as one batch (duplicates and stale states inside one set of
    // statements), and on PostgreSQL in batches of seven.
    let one_batch = open("one-batch");
    one_batch.apply(&reversed).unwrap();
    let pg_db = tokio::task::spawn_blocking(|| TestDatabase::create("conv_inbox_order"))
        .await
        .unwrap()
        .unwrap();
    let pg_url = pg_db.url().to_owned();
    // Two replicas sharing the database, applying alternate batches at the same time.
    let (chunked, other) = tokio::task::spawn_blocking(move || {
        (
            InboxStore::open(&pg_url, 2).unwrap(),
            InboxStore::open(&pg_url, 2).unwrap(),
        )
    })
    .await
    .unwrap();
    let (first, second, events) = (chunked.clone(), other, reversed.clone());
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for chunk in events.chunks(7).step_by(2) {
                    first.apply(chunk).unwrap();
                }
            });
            scope.spawn(|| {
                for chunk in events.chunks(7).skip(1).step_by(2) {
                    second.apply(chunk).unwrap();
                }
            });
        });
    })
    .await
    .unwrap();
    for email in [FRED, TINA, OLGA] {
        let expected = snapshot(&in_order, &app, email);
        assert_eq!(expected, snapshot(&shuffled, &app, email), "{email}");
        assert_eq!(expected, snapshot(&one_batch, &app, email), "{email}");
        assert_eq!(expected, snapshot(&chunked, &app, email), "{email}");
    }
    drop(chunked);

    // And the state is the right one, not merely the same one.
    let tina = ids().id(&app, TINA);
    let page = first_page(&in_order, &tina, None);
    let one = page.items.iter().find(|i| i.conversation_id == a).unwrap();
    assert_eq!(one.unread, 1, "`last word` after her own `bye`");
    assert_eq!(one.last_message_preview.as_deref(), Some("last word"));
    let three = page.items.iter().find(|i| i.conversation_id == c).unwrap();
    assert_eq!(three.unread, 0, "read up to the last message");
    let two = page.items.iter().find(|i| i.conversation_id == b).unwrap();
    assert!(two.muted && two.archived_at.is_some());
    assert!(two.has_missed_call && two.has_call && !two.has_ongoing_call);
    let missed = first_page(&in_order, &tina, Some(Relevant::MissedCall));
    assert_eq!(missed.found, 1);
    assert_eq!(
        missed.items[0].conversation_id, b,
        "the missed call is in `two`"
    );
    assert_eq!(two.unread, 1, "Olga's `hi`; calls do not count");
    let olga = ids().id(&app, OLGA);
    let olga_page = first_page(&in_order, &olga, None);
    assert!(olga_page.items.is_empty(), "Olga left");
    w.finish().await;
    tokio::task::spawn_blocking(move || drop(pg_db))
        .await
        .unwrap();
}
