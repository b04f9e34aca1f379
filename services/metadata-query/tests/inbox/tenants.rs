//! One application never sees another's inbox data. The route list comes from the served
//! OpenAPI document, so a new route is covered without anyone remembering to add it: every
//! authenticated operation that names a resource answers another application's key with
//! 404; every one that names none answers with nothing of the first application.

use serde_json::{Value, json};

use crate::helpers::{eventually, world};

const FRED: &str = "fred@example.com";
const TINA: &str = "tina@example.com";

/// Query parameters an operation cannot do without, and bodies for writes. A new write
/// route must be added here: the test fails until it is.
fn sample(method: &str, template: &str, conversation: &str) -> (String, Option<Value>) {
    match (method, template) {
        ("get", "/api/v1/contacts") => (format!("?email={TINA}"), None),
        ("get", "/api/v1/participants") => (format!("?conversation_ids={conversation}"), None),
        ("put", "/api/v1/settings/unread-sources") => (String::new(), Some(json!({"sources": []}))),
        ("post", "/api/v1/contacts/{contact}/recent-messages") => (String::new(), Some(json!({}))),
        _ => (String::new(), None),
    }
}

#[tokio::test]
async fn another_applications_key_sees_nothing_on_any_documented_route() {
    let w = world().await;
    let conversation = w.conversation(FRED, &[TINA], "secret plans").await;
    let tina = w.contact_id(0, TINA).await;
    let other = w.create_app("Other shop").await;
    // metadata-query knows the other key once it has read that it was issued.
    eventually(|| async {
        let (status, _) = w.get_as(0, &other, "/api/v1/settings/unread-sources").await;
        (status == 200).then_some(())
    })
    .await;
    let document: Value = w
        .client
        .get(format!(
            "{}{}",
            w.inbox_url(0),
            metadata_query::openapi::PATH
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["security"].as_array().is_some_and(Vec::is_empty) {
                continue;
            }
            let (query, body) = sample(method, template, &conversation);
            assert!(
                method == "get" || body.is_some(),
                "{method} {template}: add a sample body to sample() so this route is checked"
            );
            let path = template
                .replace("{contact}", &tina)
                .replace("{id}", &conversation)
                .replace("{n}", "1");
            let mut request = w
                .client
                .request(
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{path}{query}", w.inbox_url(0)),
                )
                .bearer_auth(&other);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            if template.contains('{') || template == "/api/v1/contacts" {
                assert_eq!(status, 404, "{method} {template} leaked: {text}");
            } else {
                assert_eq!(status, 200, "{method} {template}: {text}");
            }
            // An error may echo what was asked (`contact … does not exist`); nothing else.
            let asked = format!("{path}{query}");
            for secret in [
                conversation.as_str(),
                tina.as_str(),
                TINA,
                FRED,
                "secret plans",
            ] {
                if asked.contains(secret) {
                    continue;
                }
                assert!(
                    !text.contains(secret),
                    "{method} {template} showed the other application's {secret}: {text}"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 7,
        "the document lists too few routes ({checked})"
    );
    // The first application still sees its own.
    let (status, _) = w
        .get_as(0, &w.key, &format!("/api/v1/contacts/{tina}/conversations"))
        .await;
    assert_eq!(status, 200);
    w.finish().await;
}
