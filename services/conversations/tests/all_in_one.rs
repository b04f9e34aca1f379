//! The all-in-one server as the `conversations` binary starts it, on SQLite: the API and
//! the inbox on one port with one OpenAPI document, notification mail written to files,
//! and a metadata-query replica with an empty database catching up from the write store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use metadata_query::{Embedded, EventSource, Feed, MetadataConfig};
use serde_json::{Value, json};

const FRED: &str = "fred@example.com";
const TINA: &str = "tina@example.com";

async fn eventually<T, F, Fut>(f: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    conversations_test_support::eventually("the condition", Duration::from_secs(15), f).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_on_sqlite_serves_api_inbox_and_mail_and_a_fresh_replica_catches_up() {
    let running = common::start("Local", &[("PUBLIC_URL", "https://app.example.com")]).await;
    let (dir, base, key, mail_dir) = (&running.dir, &running.base, &running.key, &running.mail_dir);
    let database_url = &running.database_url;
    assert!(
        dir.path().join("metadata.db").exists(),
        "the projection lives beside the SQLite database"
    );

    let client = reqwest::Client::new();

    // One document describes both APIs; metadata-query's own is there too.
    let combined: serde_json::Value = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &combined["paths"];
    for path in [
        "/api/v1/conversations",
        "/api/v1/contacts/{contact}/conversations",
        "/api/v1/contacts/{contact}/recent-messages",
        "/api/v1/settings/unread-sources",
    ] {
        assert!(
            paths.get(path).is_some(),
            "{path} missing from the combined document"
        );
    }
    let inbox: serde_json::Value = client
        .get(format!("{base}{}", metadata_query::openapi::PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(inbox["paths"].get("/api/v1/participants").is_some());
    assert!(inbox["paths"].get("/api/v1/conversations").is_none());
    assert!(inbox["components"]["schemas"].get("InboxView").is_some());

    // metadata-query accepts the key once it has read that it was issued (an event).
    eventually(|| async {
        let r = client
            .get(format!("{base}/api/v1/settings/unread-sources"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .await;
    // A malformed settings body is a problem document here too, not actix's plain text.
    let r = client
        .put(format!("{base}/api/v1/settings/unread-sources"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body")
    );

    let r = client
        .post(format!("{base}/api/v1/conversations"))
        .bearer_auth(key)
        .json(
            &json!({"sender": {"email": FRED, "name": "Fred"}, "to": [{"email": TINA}],
                      "text": "on one port"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let inbox = |base: String| {
        let client = client.clone();
        let key = key.clone();
        async move {
            let contact: Value = client
                .get(format!("{base}/api/v1/contacts?email={TINA}"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let id = contact["id"].as_str()?.to_owned();
            let page: Value = client
                .get(format!("{base}/api/v1/contacts/{id}/conversations"))
                .bearer_auth(&key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (page["@items"][0]["unread"] == 1).then_some(page)
        }
    };
    let live = eventually(|| inbox(base.clone())).await;
    assert_eq!(live["@items"][0]["last_message"]["preview"], "on one port");

    // The notifier runs too: Tina's notification is written to MAIL_DIR.
    let mail = eventually(|| {
        let mail_dir = mail_dir.clone();
        async move {
            let entries = std::fs::read_dir(&mail_dir).ok()?;
            entries
                .filter_map(Result::ok)
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .find(|m| m.contains(TINA))
        }
    })
    .await;
    assert!(mail.contains("on one port"), "{mail}");
    // One /metrics shows every component: the HTTP histogram, the projection, the notifier.
    let metrics = eventually(|| {
        let client = client.clone();
        let url = format!("{base}/metrics");
        async move {
            let text = client.get(url).send().await.ok()?.text().await.ok()?;
            // Sent mails counted (the series exists at 0 from the start).
            let sent = text
                .lines()
                .find_map(|l| l.strip_prefix("notifier_mails_total{outcome=\"sent\"} "))
                .and_then(|n| n.trim().parse::<f64>().ok())?;
            (sent >= 1.0).then_some(text)
        }
    })
    .await;
    for name in [
        "http_server_request_duration_seconds_count",
        "metadata_query_events_total{result=\"applied\"}",
        "metadata_query_batch_apply_seconds_bucket",
        "conversations_outbox_unpublished",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    // conversation-api's routes still answer on the same port.
    let r = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A second embedded replica on an empty database catches up from the write store. It
    // shares the token secret (as replicas must), and with it the contact-id key.
    let token_secret = std::fs::read_to_string(dir.path().join("token-secret")).unwrap();
    let fresh_env: HashMap<&str, String> = HashMap::from([
        ("TOKEN_SECRET", token_secret),
        (
            "METADATA_DATABASE_URL",
            format!("sqlite://{}/fresh.db", dir.path().display()),
        ),
        ("PUBLIC_URL", "https://app.example.com".to_owned()),
    ]);
    let fresh_config = MetadataConfig::from_lookup(|k| fresh_env.get(k).cloned()).unwrap();
    let idle_bus = conversations_bus::InProcessBus::new();
    let feed = Feed::Local {
        outbox: conversations_store::Store::open(database_url, 1)
            .unwrap()
            .outbox(),
        checkpoint: metadata_query::feed::CONVERSATIONS_FEED,
    };
    let fresh = Embedded::start(
        &fresh_config,
        EventSource::InProcess(vec![(feed, idle_bus.subscribe())]),
        None,
    )
    .await
    .unwrap();
    let routes = fresh.routes();
    let server =
        actix_web::HttpServer::new(move || actix_web::App::new().configure(routes.clone()))
            .listen(TcpListener::bind("127.0.0.1:0").unwrap())
            .unwrap();
    let fresh_base = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    let caught_up = eventually(|| inbox(fresh_base.clone())).await;
    // Same PUBLIC_URL, so the replicas answer byte for byte alike.
    assert_eq!(caught_up["@items"], live["@items"]);
    assert_eq!(caught_up["@items"][0]["id"], live["@items"][0]["id"]);
    assert_eq!(caught_up["@items"][0]["unread"], 1);
    assert_eq!(caught_up["badge"], live["badge"]);
    fresh.stop();
}
