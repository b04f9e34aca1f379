//! Key rotation through the API: several working keys, each listed with its last use,
//! revoked by prefix, announced to the other services as events; never the last one.

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
use crate::on_both_backends;

async fn get_with(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn event_types(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let outbox = app.store.outbox();
    tokio::task::spawn_blocking(move || outbox.events_after(0, 1000))
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|row| (row.event_type, row.payload))
        .collect()
}

async fn a_key_is_rotated_without_downtime(db: Db) {
    let app = spawn_app(db).await;
    let first = app.key.clone();
    let first_prefix = first[..10].to_owned();

    // A second key, labelled; shown once, with Location naming it.
    let issued = app
        .post_json(
            "/api/v1/application/keys",
            &json!({"label": " production "}),
        )
        .await;
    assert_eq!(issued.status(), 201);
    let second_prefix_location = issued.headers()["location"].to_str().unwrap().to_owned();
    let issued: Value = issued.json().await.unwrap();
    let second = issued["key"].as_str().unwrap().to_owned();
    assert!(second.starts_with("cvk_") && second != first);
    assert_eq!(issued["prefix"], &second[..10]);
    assert_eq!(issued["label"], "production");
    assert_eq!(
        second_prefix_location,
        format!("/api/v1/application/keys/{}", &second[..10])
    );

    // Both work; the listing shows both, never a key, and when each was last used.
    assert_eq!(
        get_with(&app, &second, "/api/v1/application")
            .await
            .status(),
        200
    );
    assert_eq!(
        get_with(&app, &first, "/api/v1/application").await.status(),
        200
    );
    let listed = get_with(&app, &second, "/api/v1/application/keys").await;
    let text = listed.text().await.unwrap();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "a key was listed: {text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["prefix"], &second[..10], "newest first");
    assert!(keys.iter().all(|k| k["revoked_at"].is_null()));
    assert!(
        keys.iter().all(|k| !k["last_used_at"].is_null()),
        "both keys were used: {keys:?}"
    );

    // The old key is revoked with the new one; it stops working at once here.
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/application/keys/{first_prefix}")))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["prefix"], first_prefix);
    assert!(!revoked["revoked_at"].is_null());
    assert_problem(get_with(&app, &first, "/api/v1/application").await, 401).await;
    assert_eq!(
        get_with(&app, &second, "/api/v1/application")
            .await
            .status(),
        200
    );

    // Revoking again changes nothing; the last working key cannot be revoked.
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/application/keys/{first_prefix}")))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let last = app
        .client
        .delete(app.url(&format!("/api/v1/application/keys/{}", &second[..10])))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_problem(last, 409).await;
    assert_eq!(
        get_with(&app, &second, "/api/v1/application")
            .await
            .status(),
        200
    );

    // The other services learn of both through the outbox: issued twice, revoked once
    // (read once the relay has put them in order).
    let events = conversations_test_support::eventually(
        "the key events in the outbox",
        std::time::Duration::from_secs(10),
        || async {
            let events = event_types(&app).await;
            let count = |t: &str| events.iter().filter(|(e, _)| e == t).count();
            (count("application_key_issued") == 2 && count("application_key_revoked") == 1)
                .then_some(events)
        },
    )
    .await;
    let (_, payload) = events
        .iter()
        .find(|(e, _)| e == "application_key_revoked")
        .unwrap();
    let envelope = conversations_events::decode(payload).unwrap();
    match envelope.payload {
        Some(conversations_events::v1::envelope::Payload::ApplicationKeyRevoked(k)) => {
            assert_eq!(k.key_prefix, first_prefix);
            assert_eq!(k.key_hash, conversations_db::hash_key(&first));
        }
        other => panic!("not a revocation: {other:?}"),
    }
}
on_both_backends!(a_key_is_rotated_without_downtime);

async fn keys_are_the_applications_own_business(db: Db) {
    let app = spawn_app(db).await;
    let other = app.second_application_key().await;
    // Another application's key cannot see or revoke ours (404, as for anything of theirs).
    let listed: Value = get_with(&app, &other, "/api/v1/application/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["keys"][0]["prefix"], &other[..10]);
    let theirs = app
        .client
        .delete(app.url(&format!("/api/v1/application/keys/{}", &app.key[..10])))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_problem(theirs, 404).await;
    assert_eq!(app.get("/api/v1/application").await.status(), 200);
    // Malformed input.
    assert_problem(
        app.post_json("/api/v1/application/keys", &json!({"label": "two\nlines"}))
            .await,
        422,
    )
    .await;
    assert_problem(
        app.post_json("/api/v1/application/keys", &json!({"name": "x"}))
            .await,
        422,
    )
    .await;
    assert_problem(app.delete("/api/v1/application/keys/cvk_nope").await, 404).await;
    assert_problem(
        get_with(&app, "cvk_unknown", "/api/v1/application/keys").await,
        401,
    )
    .await;
    // No body is a key without a label.
    let unlabelled = app
        .client
        .post(app.url("/api/v1/application/keys"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(unlabelled.status(), 201);
    let unlabelled: Value = unlabelled.json().await.unwrap();
    assert_eq!(unlabelled["label"], "");
}
on_both_backends!(keys_are_the_applications_own_business);
