//! `POST /api/v1/sign-in`: a notification link's code becomes a participant token of its
//! recipient, and nothing else does.

use chrono::{Duration, Utc};
use conversations_domain::sign_in_link::{LinkClaims, LinkCodec};
use serde_json::{Value, json};

use crate::helpers::{Db, Options, TestApp, spawn_app_with};

const REPLY_SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

async fn app(db: Db) -> TestApp {
    spawn_app_with(
        db,
        Options {
            env: vec![(
                "TOKEN_SECRET",
                "test-token-secret-0123456789abcdef-0123".into(),
            )],
            ..Options::default()
        },
    )
    .await
}

/// A conversation between ann and bob, and bob's participant id.
async fn conversation(app: &TestApp) -> (Value, String) {
    let created: Value = app
        .post_json(
            "/api/v1/conversations",
            &json!({"sender": {"email": "ann@example.com", "name": "Ann"},
                    "to": [{"email": "bob@example.com", "name": "Bob"}],
                    "subject": "Order 7", "text": "Hello"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let conversation = created["conversation"].clone();
    let bob = conversation["participant_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "bob@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (conversation, bob)
}

fn code(app_id: &str, conversation: &str, participant: &str, expires_in: Duration) -> String {
    LinkCodec::new(REPLY_SECRET).mint(&LinkClaims {
        app_id: app_id.parse().unwrap(),
        conversation_id: conversation.parse().unwrap(),
        participant_id: participant.parse().unwrap(),
        expires_at: chrono::DateTime::from_timestamp((Utc::now() + expires_in).timestamp(), 0)
            .unwrap(),
    })
}

async fn sign_in(app: &TestApp, code: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/sign-in"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn sign_in_links_open_one_conversation_for_its_recipient_while_they_are_in_it(db: Db) {
    let app = app(db).await;
    let (conversation, bob) = conversation(&app).await;
    let id = conversation["id"].as_str().unwrap();
    let app_id: Value = app.get("/api/v1/application").await.json().await.unwrap();
    let app_id = app_id["id"].as_str().unwrap();

    let good = code(app_id, id, &bob, Duration::days(7));
    let (status, signed_in) = sign_in(&app, &good).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["email"], "bob@example.com");
    assert_eq!(signed_in["name"], "Bob");
    assert_eq!(signed_in["conversation_id"], id);
    let token = signed_in["token"].as_str().unwrap();

    // The token acts as bob: reads the conversation with ann's address masked, and
    // changes bob's own view through `me`, not anyone else's.
    let view: Value = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!view.to_string().contains("ann@example.com"), "{view}");
    let patch = |who: &'static str| {
        app.client
            .patch(app.url(&format!("/api/v1/conversations/{id}/participants/{who}")))
            .bearer_auth(token)
            .json(&json!({"muted": true}))
            .send()
    };
    let mine = patch("me").await.unwrap();
    assert_eq!(mine.status(), 200);
    let mine: Value = mine.json().await.unwrap();
    assert_eq!(
        (mine["email"].as_str(), mine["muted"].as_bool()),
        (Some("bob@example.com"), Some(true))
    );
    assert_eq!(patch("ann@example.com").await.unwrap().status(), 403);

    // Expired, altered, cut off, or for another conversation: refused, saying which.
    let (status, problem) = sign_in(&app, &code(app_id, id, &bob, -Duration::seconds(5))).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (410, Some("/problems/link-expired"))
    );
    let mut altered = good.clone().into_bytes();
    altered[12] = if altered[12] == b'x' { b'y' } else { b'x' };
    for bad in [
        String::from_utf8(altered).unwrap(),
        good[..good.len() - 4].to_owned(),
    ] {
        let (status, problem) = sign_in(&app, &bad).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (401, Some("/problems/link-invalid"))
        );
    }
    let elsewhere = code(app_id, &uuid_like(), &bob, Duration::days(1));
    assert_eq!(sign_in(&app, &elsewhere).await.0, 404);

    // Once bob has left, his link opens nothing.
    let left = app
        .client
        .delete(app.url(&format!(
            "/api/v1/conversations/{id}/participants/bob@example.com"
        )))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 204);
    let (status, problem) = sign_in(&app, &good).await;
    assert_eq!(status, 404, "{problem}");
    assert!(!problem.to_string().contains("Order 7"), "{problem}");
}
crate::on_both_backends!(
    sign_in_links_open_one_conversation_for_its_recipient_while_they_are_in_it
);

fn uuid_like() -> String {
    conversations_domain::ConversationId::new().to_string()
}
