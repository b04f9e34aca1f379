//! `GET /api/v1/contacts/{contact}/events`: a contact's live updates as Server-Sent Events,
//! from every replica whichever replica applied the change, resumable with
//! `Last-Event-ID`, and only ever the caller's own.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{World, world};
use crate::{FRED, TINA};

/// One event of a stream: (`event`, `data`, `id`).
type Event = (String, Value, Option<String>);

/// An open event stream.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(w: &World, base: &str, token: &str, last_event_id: Option<&str>) -> Self {
        let mut request = w
            .client
            .get(format!("{base}/api/v1/contacts/me/events"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments and `retry:` skipped), or `None` after 15 s of nothing.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data, mut id) = (None, String::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    }
                }
                if let Some(event) = event {
                    return Some((event, serde_json::from_str(&data).unwrap(), id));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(15), self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events until `n` `message` events of `conversation` arrived; their seqs, and the id
    /// of the last event.
    async fn messages(&mut self, conversation: &str, n: usize) -> (BTreeSet<u64>, String) {
        let mut seqs = BTreeSet::new();
        let mut last = String::new();
        while seqs.len() < n {
            let (event, data, id) = self
                .next()
                .await
                .unwrap_or_else(|| panic!("only {seqs:?} of {n} messages arrived"));
            last = id.unwrap_or(last);
            if event == "message" && data["conversation_id"] == conversation {
                seqs.insert(data["seq"].as_u64().unwrap());
            }
        }
        (seqs, last)
    }
}

#[tokio::test]
async fn every_replica_streams_every_change_and_a_reconnect_resumes_where_it_left_off() {
    let w = world().await;
    let other = w.add_competing_replica(0).await;
    let token = w.token_for(TINA).await;
    let mut first = Stream::open(&w, w.inbox_url(0), &token, None).await;
    let mut second = Stream::open(&w, &other, &token, None).await;

    // Two replicas share the queue, so each applies about half of these; both streams
    // still hear of all of them.
    let c = w.conversation(FRED, &[TINA], "one").await;
    for n in 2..=10 {
        w.say(&c, FRED, &format!("message {n}")).await;
    }
    let all: BTreeSet<u64> = (1..=10).collect();
    let (seen, last) = first.messages(&c, 10).await;
    assert_eq!(seen, all);
    assert_eq!(second.messages(&c, 10).await.0, all);

    // Gone for a while: the reconnect names the last event seen and gets exactly what it
    // missed, nothing twice.
    drop(first);
    for n in 11..=14 {
        w.say(&c, FRED, &format!("message {n}")).await;
    }
    assert_eq!(second.messages(&c, 4).await.0, (11..=14).collect());
    let mut resumed = Stream::open(&w, w.inbox_url(0), &token, Some(&last)).await;
    assert_eq!(resumed.messages(&c, 4).await.0, (11..=14).collect());
    w.say(&c, FRED, "message 15").await;
    let (seqs, _) = resumed.messages(&c, 1).await;
    assert_eq!(seqs, BTreeSet::from([15]), "replayed events came twice");

    // An id this replica cannot resume from (another replica's, or too old) says `reset`.
    let mut reset = Stream::open(&w, &other, &token, Some(&last)).await;
    let (event, _, _) = reset.next().await.unwrap();
    assert_eq!(event, "reset");

    // Only one's own stream: another contact with a token is not found; no token, 401.
    let fred = w.contact_id(0, FRED).await;
    let path = |base: &str, contact: &str| format!("{base}/api/v1/contacts/{contact}/events");
    let status = |r: reqwest::Response| r.status().as_u16();
    let foreign = w
        .client
        .get(path(w.inbox_url(0), &fred))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status(foreign), 404);
    let anonymous = w
        .client
        .get(path(w.inbox_url(0), "me"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(anonymous), 401);
    w.finish().await;
}
