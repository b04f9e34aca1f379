//! metadata-query's live event stream across a broker outage, on the split system: an open
//! stream hears of a post; when the broker's connections are cut, the stream is told to
//! refetch (`reset`: signals of the outage may be lost), and later posts arrive again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use e2e::{Options, System, eventually};
use serde_json::{Value, json};

/// Reads events from an open stream until one satisfies `wanted` (or 30 s pass).
async fn until_event(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    what: &str,
    wanted: impl Fn(&str, &Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d).unwrap())
                .unwrap_or(Value::Null);
            if let Some(event) = event
                && wanted(event, &data)
            {
                return;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 30 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the stream ended before {what}"));
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_cut_tells_open_streams_to_refetch_and_changes_keep_arriving() {
    let system = System::start(Options::default()).await;
    let id = system.create(1).await;
    let contact = eventually("buyer1's contact", Duration::from_secs(30), || async {
        let found = system
            .read("/api/v1/contacts?email=buyer1@example.com")
            .await?;
        found["id"].as_str().map(str::to_owned)
    })
    .await;
    let mut stream = system
        .client
        .get(system.metadata_url(&format!("/api/v1/contacts/{contact}/events")))
        .bearer_auth(&system.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut buffer = String::new();
    let say = |text: &'static str| {
        let request = system
            .client
            .post(system.api_url(&format!("/api/v1/conversations/{id}")))
            .bearer_auth(&system.key)
            .json(&json!({"sender": "seller1@example.com", "text": text}))
            .send();
        async move { assert_eq!(request.await.unwrap().status(), 201) }
    };
    let message = |seq: u64| {
        let id = id.clone();
        move |event: &str, data: &Value| {
            event == "message" && data["conversation_id"] == id.as_str() && data["seq"] == seq
        }
    };

    say("before the outage").await;
    until_event(&mut stream, &mut buffer, "message 2", message(2)).await;

    system.broker.cut();
    until_event(&mut stream, &mut buffer, "a reset", |event, _| {
        event == "reset"
    })
    .await;

    say("after the outage").await;
    until_event(&mut stream, &mut buffer, "message 3", message(3)).await;
    drop(stream);
    system.cleanup().await;
}
