//! The seed document's sample requests, byte for byte, with the seed's response fields.

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, spawn_app};
use crate::on_both_backends;

const SEED_CREATE_WITH_MESSAGE: &str = r#"{
    "sender": "hugo@example.com",
    "to": ["fred@example.com"],
    "subject": "Example message",
    "text": "this is a message"
}"#;

const SEED_REPLY: &str =
    "{\n    'sender': \"fred@example.com\",\n    'text': \"this is a reply\"\n}";

async fn seed_post(app: &TestApp, path: &str, body: Option<&'static str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.key)
        .header("Content-type", "application/json;")
        .header("Accept", "application/json;");
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn the_seed_samples_work_as_written(db: Db) {
    let app = spawn_app(db).await;

    // 1. An empty conversation shell.
    let shell = seed_post(&app, "/api/v1/conversations", None).await;
    assert_eq!(shell.status(), 201);
    let shell_location = location(&shell);
    let body: Value = shell.json().await.unwrap();
    let shell_id = body["conversation"]["id"].as_str().unwrap();
    assert_eq!(shell_location, format!("/api/v1/conversations/{shell_id}"));
    assert!(body["conversation"]["created"].as_str().is_some());
    assert_eq!(body["conversation"]["messages"], json!([]));

    // 2. A conversation initialised with its first message.
    let created = seed_post(
        &app,
        "/api/v1/conversations",
        Some(SEED_CREATE_WITH_MESSAGE),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created_location = location(&created);
    let body: Value = created.json().await.unwrap();
    let conversation = &body["conversation"];
    let id = conversation["id"].as_str().unwrap().to_owned();
    assert_eq!(created_location, format!("/api/v1/conversations/{id}"));
    assert_eq!(conversation["subject"], "Example message");
    assert_eq!(
        conversation["participants"],
        json!(["fred@example.com", "hugo@example.com"])
    );
    let first = &conversation["messages"][0];
    assert_eq!(first["id"], format!("{id}.1"));
    assert_eq!(first["sender"], "hugo@example.com");
    assert_eq!(first["text"], "this is a message");
    assert_eq!(first["notifications"], json!(["fred@example.com"]));
    assert!(first["created"].as_str().is_some());

    // 3. The recipient replies via the web, with the seed's single-quoted keys.
    let reply = seed_post(
        &app,
        &format!("/api/v1/conversations/{id}"),
        Some(SEED_REPLY),
    )
    .await;
    assert_eq!(reply.status(), 201);
    assert_eq!(location(&reply), format!("/api/v1/conversations/{id}/2"));
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["id"], format!("{id}.2"));
    assert_eq!(
        body["participants"],
        json!(["fred@example.com", "hugo@example.com"])
    );
    assert_eq!(body["notifications"], json!(["hugo@example.com"]));
    assert!(body["created"].as_str().is_some());

    // View conversation: both messages, as in the seed.
    let view: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let messages = view["conversation"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["id"], format!("{id}.2"));
    assert_eq!(messages[1]["sender"], "fred@example.com");
    assert_eq!(messages[1]["text"], "this is a reply");
    assert_eq!(messages[1]["notifications"], json!(["hugo@example.com"]));
    assert_eq!(view["conversation"]["subject"], "Example message");

    // View message, out of context.
    let one = app.get(&format!("/api/v1/conversations/{id}/2")).await;
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["id"], format!("{id}.2"));
    assert_eq!(one["sender"], "fred@example.com");
    assert_eq!(one["text"], "this is a reply");
    assert_eq!(
        one["participants"],
        json!(["fred@example.com", "hugo@example.com"])
    );
    assert_eq!(one["notifications"], json!(["hugo@example.com"]));
}
on_both_backends!(the_seed_samples_work_as_written);

async fn the_openapi_document_and_health_endpoints_are_served(db: Db) {
    let app = spawn_app(db).await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/conversations/{id}"]["post"].is_object());
    let live = app.client.get(app.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
on_both_backends!(the_openapi_document_and_health_endpoints_are_served);
