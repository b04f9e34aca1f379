//! Two replicas on one database: a replica remembers the conversations it committed (see
//! `src/recent.rs`), and must never decide on that memory once another replica changed
//! the conversation.

use conversations_events::v1::envelope::Payload;
use serde_json::json;

use crate::helpers::{Db, Options, TestApp, spawn_app};
use crate::on_both_backends;
use conversations_test_support::eventually;
use std::time::Duration;

/// The recipients of message `seq`, from the `message_posted` event in the outbox.
async fn recipients_of(app: &TestApp, seq: u64) -> Vec<String> {
    let outbox = app.store.outbox();
    eventually("the message in the outbox", Duration::from_secs(15), || {
        let outbox = outbox.clone();
        async move {
            let rows = tokio::task::spawn_blocking(move || outbox.events_after(0, 1000))
                .await
                .ok()?
                .ok()?;
            rows.iter().find_map(|row| {
                let envelope = conversations_events::decode(&row.payload).ok()?;
                match envelope.payload {
                    Some(Payload::MessagePosted(m)) if m.message_seq == seq => Some(
                        m.recipients
                            .iter()
                            .map(|r| r.email.clone())
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                }
            })
        }
    })
    .await
}

async fn a_replica_decides_again_when_another_changed_the_conversation(db: Db) {
    let a = spawn_app(db).await;
    let b = a.replica(Options::default()).await;
    let id = a
        .create_conversation("hugo@example.com", &["fred@example.com"], "one")
        .await;
    let post = |app: &TestApp, text: &str| {
        let (app_url, key, client) = (
            app.url(&format!("/api/v1/conversations/{id}")),
            app.key.clone(),
            app.client.clone(),
        );
        let body = json!({"sender": "hugo@example.com", "text": text});
        async move {
            client
                .post(app_url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(&a, "two").await, 201);

    // B adds Ann; A, which remembers the conversation without her, posts next.
    let added = b
        .post_json(
            &format!("/api/v1/conversations/{id}/participants"),
            &json!("ann@example.com"),
        )
        .await;
    assert_eq!(added.status(), 201);
    assert_eq!(post(&a, "three").await, 201);
    let mut to = recipients_of(&a, 3).await;
    to.sort();
    assert_eq!(to, ["ann@example.com", "fred@example.com"]);

    // B removes Fred: A's next message is not for him.
    let removed = b
        .delete(&format!(
            "/api/v1/conversations/{id}/participants/fred@example.com"
        ))
        .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(post(&a, "four").await, 201);
    assert_eq!(recipients_of(&a, 4).await, ["ann@example.com"]);
    // B deletes it: A answers 404, not a post into a conversation that is gone.
    assert_eq!(
        b.delete(&format!("/api/v1/conversations/{id}"))
            .await
            .status(),
        204
    );
    assert_eq!(post(&a, "five").await, 404);
}
on_both_backends!(a_replica_decides_again_when_another_changed_the_conversation);
