//! A key never sees or touches another application's data: 404, not 403.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Db, assert_problem, spawn_app};
use crate::on_both_backends;

async fn another_applications_key_gets_404_on_every_route(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "secret plans")
        .await;
    let other_key = app.second_application_key().await;
    let before = app.counts().await;
    let base = format!("/api/v1/conversations/{id}");
    let fred = "fred@example.com";
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, base.clone(), None),
        (
            Method::POST,
            base.clone(),
            Some(json!({"sender": "eve@example.com", "text": "hi"})),
        ),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"subject": "pwned"})),
        ),
        (Method::DELETE, base.clone(), None),
        (Method::GET, format!("{base}/messages"), None),
        (Method::GET, format!("{base}/1"), None),
        (Method::GET, format!("{base}/1/deliveries"), None),
        (Method::GET, format!("{base}/participants"), None),
        (
            Method::POST,
            format!("{base}/participants"),
            Some(json!("eve@example.com")),
        ),
        (
            Method::PATCH,
            format!("{base}/participants/{fred}"),
            Some(json!({"muted": true})),
        ),
        (Method::DELETE, format!("{base}/participants/{fred}"), None),
        (
            Method::POST,
            format!("{base}/read"),
            Some(json!({"participant": fred})),
        ),
    ];
    for (method, path, body) in routes {
        let mut request = app
            .client
            .request(method.clone(), app.url(&path))
            .bearer_auth(&other_key);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            404,
            "{method} {path} leaked across applications"
        );
        assert_problem(response, 404).await;
    }
    assert_eq!(
        app.counts().await,
        before,
        "a foreign key changed something"
    );
    let view: Value = app.get(&base).await.json().await.unwrap();
    assert_eq!(view["conversation"]["subject"], "Test");
    assert_eq!(view["conversation"]["message_count"], 1);
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
