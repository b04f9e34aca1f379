//! A key never sees or touches another application's data: 404, not 403. The routes are
//! read from the served OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Db, assert_problem, spawn_app};
use crate::on_both_backends;

/// A plausible body for each write that names a resource, so that the request gets past
/// body validation to the ownership check. A new write route must be added here: the test
/// fails until it is, so that no route escapes the check.
fn sample_body(method: &str, template: &str) -> Option<Value> {
    Some(match (method, template) {
        ("post", "/api/v1/conversations/{id}") => {
            json!({"sender": "eve@example.com", "text": "hi"})
        }
        ("patch", "/api/v1/conversations/{id}") => json!({"subject": "pwned"}),
        ("post", "/api/v1/conversations/{id}/participants") => json!("eve@example.com"),
        ("patch", "/api/v1/conversations/{id}/participants/{email}") => json!({"muted": true}),
        ("post", "/api/v1/conversations/{id}/read") => json!({"participant": "fred@example.com"}),
        _ => return None,
    })
}

/// The route list comes from the served OpenAPI document, so a new route is covered
/// without anyone remembering to add it: every authenticated operation that names a
/// resource answers another application's key with 404 and changes nothing; every one that
/// names none shows nothing of the first application.
async fn another_applications_key_gets_404_on_every_route(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "secret plans")
        .await;
    let own_prefix = &app.key[..10];
    let other_key = app.second_application_key().await;
    let document: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fill = |template: &str| {
        template
            .replace("{id}", &id)
            .replace("{n}", "1")
            .replace("{email}", "fred@example.com")
            .replace("{prefix}", own_prefix)
    };
    let mut with_resource = Vec::new();
    let mut without_resource = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = operation["security"].as_array().is_some_and(Vec::is_empty);
            if public {
                continue;
            }
            let entry = (method.clone(), template.clone());
            if template.contains('{') {
                with_resource.push(entry);
            } else {
                without_resource.push(entry);
            }
        }
    }
    assert!(
        with_resource.len() >= 12,
        "the document lists too few routes"
    );
    let send = |method: &str, path: String, body: Option<Value>| {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&other_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let before = app.counts().await;
    for (method, template) in &with_resource {
        let body = sample_body(method, template);
        assert!(
            method == "get" || method == "delete" || body.is_some(),
            "{method} {template}: add a sample body to sample_body() so this route is checked"
        );
        let response = send(method, fill(template), body).await.unwrap();
        assert_eq!(
            response.status(),
            404,
            "{method} {template} leaked across applications"
        );
        assert_problem(response, 404).await;
    }
    assert_eq!(
        app.counts().await,
        before,
        "a foreign key changed something"
    );
    let view: Value = app
        .get(&format!("/api/v1/conversations/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["conversation"]["subject"], "Test");
    assert_eq!(view["conversation"]["message_count"], 1);
    let keys: Value = app
        .get("/api/v1/application/keys")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        keys["keys"][0]["revoked_at"].is_null(),
        "a foreign key revoked ours"
    );

    // Routes that name no resource act on the caller's own application only.
    let own_app: Value = app.get("/api/v1/application").await.json().await.unwrap();
    let own_app_id = own_app["id"].as_str().unwrap().to_owned();
    for (method, template) in &without_resource {
        let response = send(method, template.clone(), None).await.unwrap();
        let text = response.text().await.unwrap();
        for secret in [id.as_str(), own_app_id.as_str(), own_prefix, "secret plans"] {
            assert!(
                !text.contains(secret),
                "{method} {template} showed another application's {secret}: {text}"
            );
        }
    }
}
on_both_backends!(another_applications_key_gets_404_on_every_route);

async fn requests_without_a_valid_key_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let path = app.url(&format!("/api/v1/conversations/{id}"));
    let none = app.client.get(&path).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_problem(none, 401).await;
    let wrong = app
        .client
        .get(&path)
        .bearer_auth("cvk_not-a-real-key")
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401).await;
    let other_scheme = app
        .client
        .get(&path)
        .basic_auth("user", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_problem(other_scheme, 401).await;
}
on_both_backends!(requests_without_a_valid_key_are_refused);
