//! `/metrics`: Prometheus text with the HTTP histogram and the outbox backlog, moving as
//! requests are served.

use serde_json::json;

use crate::helpers::{Db, TestApp, spawn_app};

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

/// The value of the first sample whose line starts with `prefix` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_when_a_message_is_posted() {
    let app = spawn_app(Db::Sqlite).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "first")
        .await;
    let route = [
        "http_request_method=\"POST\"",
        "http_route=\"/api/v1/conversations/{id}\"",
        "http_response_status_code=\"201\"",
    ];
    let before = scrape(&app).await;
    let count = "http_server_request_duration_seconds_count";
    for text in ["two", "three"] {
        let r = app
            .post_json(
                &format!("/api/v1/conversations/{id}"),
                &json!({"sender": "fred@example.com", "text": text}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let after = scrape(&app).await;
    // Other tests in this process post too: at least our two.
    assert!(
        sample(&after, count, &route) >= sample(&before, count, &route) + 2.0,
        "{after}"
    );
    // The route pattern labels the metric, never the path with its ids.
    assert!(!after.contains(&id), "a conversation id became a label");
    for name in [
        "conversations_outbox_unpublished",
        "conversations_outbox_oldest_unpublished_age_seconds",
        "conversations_broker_connected",
        "http_server_request_duration_seconds_bucket",
    ] {
        assert!(after.contains(name), "{name} missing:\n{after}");
    }
}
