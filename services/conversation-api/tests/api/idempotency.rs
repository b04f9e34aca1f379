//! `Idempotency-Key`: same key and body replays; same key, other body is refused.

use serde_json::{Value, json};

use crate::helpers::{Db, assert_problem, spawn_app};
use crate::on_both_backends;

async fn a_retried_post_with_the_same_key_is_not_applied_twice(db: Db) {
    let app = spawn_app(db).await;
    let body = json!({"sender": "hugo@example.com", "to": ["fred@example.com"], "text": "once"});
    let send = |key: &'static str, body: Value| {
        let request = app
            .client
            .post(app.url("/api/v1/conversations"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let first = send("order-42", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first_location = first.headers()["location"].clone();
    let first_body: Value = first.json().await.unwrap();
    let after_first = app.counts().await;

    let again = send("order-42", body.clone()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["location"], first_location);
    let again_body: Value = again.json().await.unwrap();
    assert_eq!(again_body, first_body);
    assert_eq!(
        app.counts().await,
        after_first,
        "the replay wrote something"
    );

    let other = send(
        "order-42",
        json!({"sender": "hugo@example.com", "text": "different"}),
    )
    .await;
    assert_problem(other, 422).await;
    assert_eq!(app.counts().await, after_first);

    // Keys belong to one application: another application's identical key is independent.
    let other_key = app.second_application_key().await;
    let theirs = app
        .client
        .post(app.url("/api/v1/conversations"))
        .bearer_auth(&other_key)
        .header("Idempotency-Key", "order-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(
        theirs["conversation"]["id"],
        first_body["conversation"]["id"]
    );

    // Posting a message is idempotent too.
    let id = first_body["conversation"]["id"].as_str().unwrap();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/conversations/{id}")))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "reply-1")
            .json(&json!({"sender": "fred@example.com", "text": "only once"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let view: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["conversation"]["message_count"], 2);

    let bad_key = app
        .client
        .post(app.url("/api/v1/conversations"))
        .bearer_auth(&app.key)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 400).await;
}
on_both_backends!(a_retried_post_with_the_same_key_is_not_applied_twice);

async fn stored_responses_expire_after_the_retention(db: Db) {
    let app = spawn_app(db).await;
    let send = |text: &'static str| {
        let request = app
            .client
            .post(app.url("/api/v1/conversations"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "order-7")
            .json(&json!({"sender": "hugo@example.com", "to": ["fred@example.com"], "text": text}));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(send("first").await.status(), 201);
    let keep = |hours: u64| conversation_api::retention::Retention {
        feed: std::time::Duration::from_secs(365 * 86_400),
        idempotency: std::time::Duration::from_secs(hours * 3600),
        interval: std::time::Duration::from_secs(3600),
    };
    // Within the retention the key is still bound to its first request.
    let store = app.store.clone();
    let (_, pruned) = tokio::task::spawn_blocking(move || {
        conversation_api::retention::prune_once(&store, keep(24), None)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pruned, 0);
    assert_problem(send("second").await, 422).await;
    // Past it, the stored response is gone and the key starts afresh.
    let store = app.store.clone();
    let (_, pruned) = tokio::task::spawn_blocking(move || {
        conversation_api::retention::prune_once(&store, keep(0), None)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(send("second").await.status(), 201);
}
on_both_backends!(stored_responses_expire_after_the_retention);

/// A retry of a post gets the first answer (its commit collides with the stored key and is
/// rolled back whole); once the conversation is deleted, its keys are erased with it and
/// the retry is simply refused.
async fn a_retried_post_into_a_conversation_replays_until_it_is_deleted(db: Db) {
    let app = spawn_app(db).await;
    let created = app
        .client
        .post(app.url("/api/v1/conversations"))
        .bearer_auth(&app.key)
        .json(&json!({"sender": "hugo@example.com", "to": ["fred@example.com", "tina@example.com"], "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    let post = || {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/conversations/{id}")))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "fred-reply-1")
            .json(&json!({"sender": "fred@example.com", "text": "on my way"}));
        async move { request.send().await.unwrap() }
    };
    let first = post().await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let counts = app.counts().await;
    let again = post().await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.counts().await, counts, "nothing written again");

    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(post().await.status(), 404, "erased with the conversation");
}
on_both_backends!(a_retried_post_into_a_conversation_replays_until_it_is_deleted);
