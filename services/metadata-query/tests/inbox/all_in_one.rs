//! The all-in-one wiring on SQLite: conversation-api, the in-process bus and an embedded
//! metadata-query on the same port; a replica with an empty database catches up from the
//! write store.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use metadata_query::{Embedded, EventSource, Feed, MetadataConfig};
use serde_json::{Value, json};

use crate::helpers::{TOKEN_SECRET, eventually};
use crate::{FRED, TINA};

#[tokio::test]
async fn all_in_one_on_sqlite_serves_the_inbox_and_a_fresh_replica_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        (
            "DATABASE_URL",
            format!("sqlite://{}/conversations.db", dir.path().display()),
        ),
        ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
    ]);
    let lookup = |k: &str| env.get(k).cloned();
    let config = conversation_api::Config::from_lookup(lookup).unwrap();
    let metadata_config = MetadataConfig::from_lookup(lookup).unwrap();
    assert!(metadata_config.database_url.ends_with("/metadata.db"));
    let bus = conversations_bus::InProcessBus::new(4096);
    let write_store = conversations_store::Store::open(&config.database_url, 2).unwrap();
    let metadata = Embedded::start(
        &metadata_config,
        EventSource::InProcess(bus.subscribe()),
        Some(Feed::Store(write_store.clone())),
    )
    .await
    .unwrap();
    let routes = metadata.routes();
    let document = Arc::new(metadata_query::openapi::merged(
        <conversation_api::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
    ));
    let app = conversation_api::Application::build_with_routes(
        config,
        TcpListener::bind("127.0.0.1:0").unwrap(),
        Some(bus),
        Some(Arc::new(move |cfg: &mut actix_web::web::ServiceConfig| {
            // As services/conversations does.
            metadata_query::openapi::configure_combined(cfg, document.clone());
            routes(cfg)
        })),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&store, "Local")
    })
    .await
    .unwrap()
    .unwrap()
    .key;
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

    // A malformed settings body is a problem document here too, not actix's plain text.
    let r = client
        .put(format!("{base}/api/v1/settings/unread-sources"))
        .bearer_auth(&key)
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
        .bearer_auth(&key)
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
    // conversation-api's routes still answer on the same port.
    let r = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A second embedded replica on an empty database catches up from the write store.
    let fresh_env: HashMap<&str, String> = HashMap::from([(
        "METADATA_DATABASE_URL",
        format!("sqlite://{}/fresh.db", dir.path().display()),
    )]);
    let fresh_config = MetadataConfig::from_lookup(|k| fresh_env.get(k).cloned()).unwrap();
    let idle_bus = conversations_bus::InProcessBus::new(16);
    let fresh = Embedded::start(
        &fresh_config,
        EventSource::InProcess(idle_bus.subscribe()),
        Some(Feed::Store(write_store)),
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
    // Same PUBLIC_URL default, so the replicas answer byte for byte alike.
    assert_eq!(caught_up["@items"], live["@items"]);
    assert_eq!(caught_up["@items"][0]["id"], live["@items"][0]["id"]);
    assert_eq!(caught_up["@items"][0]["unread"], 1);
    assert_eq!(caught_up["badge"], live["badge"]);
    metadata.stop();
    fresh.stop();
}
