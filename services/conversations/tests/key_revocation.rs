//! A revoked key stops working in every service that accepts keys, within seconds: the
//! conversation API at once, metadata-query once it has read `application_key_revoked`,
//! inbound-mail once its cache of key answers expires. The all-in-one runs them as one
//! process on SQLite, each with its own database, connected by the events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_service_within_seconds() {
    let running = common::start("Rotating", &[]).await;
    let (base, first) = (running.base.clone(), running.key.clone());
    let client = reqwest::Client::new();
    let status = |key: String, path: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // One route of each service that takes keys.
    let services = [
        ("conversation-api", "/api/v1/application"),
        ("metadata-query", "/api/v1/settings/unread-sources"),
        ("inbound-mail", "/api/v1/suppressions"),
    ];

    let issued: Value = client
        .post(format!("{base}/api/v1/application/keys"))
        .bearer_auth(&first)
        .json(&json!({"label": "next"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = issued["key"].as_str().unwrap().to_owned();
    // The new key works everywhere once the services have read that it was issued.
    for (service, path) in services {
        let second = second.clone();
        conversations_test_support::eventually(
            &format!("{service} accepts the new key"),
            Duration::from_secs(15),
            || {
                let probe = status(second.clone(), path);
                async move { (probe.await == 200).then_some(()) }
            },
        )
        .await;
        assert_eq!(status(first.clone(), path).await, 200, "{service}");
    }

    let revoked = client
        .delete(format!("{base}/api/v1/application/keys/{}", &first[..10]))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let at = Instant::now();
    for (service, path) in services {
        conversations_test_support::eventually(
            &format!("{service} refuses the revoked key"),
            Duration::from_secs(15),
            || {
                let probe = status(first.clone(), path);
                async move { (probe.await == 401).then_some(()) }
            },
        )
        .await;
        assert_eq!(status(second.clone(), path).await, 200, "{service}");
    }
    let took = at.elapsed();
    eprintln!("every service refused the revoked key after {took:?}");
}
