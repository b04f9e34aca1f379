//! Catch-up: a fresh replica replays the feed to the same inboxes; after the feed was
//! pruned, a new one rebuilds from conversation-api's snapshot of current state.

use serde_json::json;

use crate::helpers::{eventually, world};
use crate::{FRED, OLGA, TINA};

#[tokio::test]
async fn a_fresh_replica_catches_up_to_the_same_state() {
    let mut w = world().await;
    let a = w.conversation(FRED, &[TINA, OLGA], "group").await;
    let b = w.conversation(TINA, &[FRED], "pair").await;
    w.say(&a, OLGA, "hello all").await;
    w.say_with_source(&b, FRED, "started", Some("call")).await;
    w.patch(
        &format!("/api/v1/conversations/{a}/participants/{TINA}"),
        json!({"pinned": true}),
    )
    .await;
    w.post(
        &format!("/api/v1/conversations/{b}/read"),
        json!({"participant": TINA}),
    )
    .await;
    let r = w
        .client
        .delete(format!(
            "{}/api/v1/conversations/{a}/participants/{OLGA}",
            w.api
        ))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let running = w
        .settled(0, TINA, "", |p| {
            p["@paging"]["found"] == 2
                && p["@items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["participants"] == json!(["Fred"]) && i["pinned"] == true)
                && p["@items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["has_ongoing_call"] == true && i["unread"] == 0)
        })
        .await;

    // A second replica starts from an empty database: it replays the feed (including the
    // application's key) and then follows its own queue.
    // Shown with the test's output when it fails (this test has failed now and then,
    // cause unknown): what the fresh replica must match, beside what it showed last.
    eprintln!("replica 0's inbox of Tina, to be matched: {running:#}");
    let fresh = w.add_replica().await;
    let caught_up = w.settled(fresh, TINA, "", |p| *p == running).await;
    assert_eq!(caught_up, running);

    // Both keep up with what happens next.
    w.say(&b, FRED, "after the catch-up").await;
    for replica in [0, fresh] {
        w.settled(replica, TINA, "", |p| {
            p["@items"][0]["last_message"]["preview"] == "after the catch-up"
        })
        .await;
    }

    // The feed is pruned (every published event goes): a replica created now cannot
    // replay the history. It rebuilds from conversation-api's snapshot of current state
    // and shows the same inboxes as the replica that saw every event.
    let tina_now = w
        .settled(0, TINA, "", |p| {
            p["@items"][0]["last_message"]["preview"] == "after the catch-up"
        })
        .await;
    let fred_now = w.settled(0, FRED, "", |p| p["@paging"]["found"] == 2).await;
    w.feed_complete().await;
    let store = w.api_store.clone();
    let pruned = eventually(|| {
        let store = store.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let everything_published = conversation_api::retention::Retention {
                    feed: std::time::Duration::ZERO,
                    idempotency: std::time::Duration::from_secs(3600),
                    interval: std::time::Duration::from_secs(3600),
                };
                let (events, _) =
                    conversation_api::retention::prune_once(&store, everything_published, None)
                        .ok()?;
                (store.counts().ok()?.outbox == 0).then_some(events)
            })
            .await
            .ok()
            .flatten()
        }
    })
    .await;
    // Nothing left to replay, though events were committed: only the snapshot can help.
    assert!(pruned > 0);
    assert!(store.events_after(0, 10).unwrap().is_empty());
    assert!(store.outbox().head().unwrap() > 0);
    let rebuilt = w.add_replica().await;
    let tina_rebuilt = w
        .settled(rebuilt, TINA, "", |p| {
            p["@items"][0]["last_message"]["preview"] == "after the catch-up"
        })
        .await;
    assert_eq!(tina_rebuilt, tina_now);
    let fred_rebuilt = w
        .settled(rebuilt, FRED, "", |p| p["@paging"]["found"] == 2)
        .await;
    assert_eq!(fred_rebuilt, fred_now);
    // And it follows its queue from there, like the others.
    w.say(&a, FRED, "after the rebuild").await;
    for replica in [0, rebuilt] {
        w.settled(replica, TINA, "", |p| {
            p["@items"][0]["last_message"]["preview"] == "after the rebuild"
        })
        .await;
    }
    w.finish().await;
}
