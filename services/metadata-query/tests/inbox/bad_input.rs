//! Input refused at the edge, before any work: NUL bytes in URLs (which PostgreSQL would
//! answer with an error), bodies over the limit (413, not 400, however they are read), and
//! lists over their cap, duplicates included.

use serde_json::Value;

use crate::helpers::{eventually, world};

#[tokio::test]
async fn bad_input_is_refused_at_the_edge_with_the_right_status() {
    let w = world().await;
    let inbox = w.inbox_url(0).to_owned();
    for path in [
        "/api/v1/contacts?external_id=a%00b",
        "/api/v1/participants?conversation_ids=a%00b",
        "/api/v1/contacts/%00/conversations",
    ] {
        let r = w
            .client
            .get(format!("{inbox}{path}"))
            .bearer_auth(&w.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], 400, "{problem}");
    }

    // The key has reached the projection (the NUL checks above need none).
    eventually(|| async {
        let (status, _) = w
            .get_as(0, &w.key, "/api/v1/contacts?email=nobody@example.com")
            .await;
        (status == 404).then_some(())
    })
    .await;
    let ids = vec!["0190b3c2-0000-7000-8000-000000000000"; 101].join(",");
    let (status, _) = w
        .get_as(
            0,
            &w.key,
            &format!("/api/v1/participants?conversation_ids={ids}"),
        )
        .await;
    assert_eq!(
        status, 400,
        "101 entries, even all the same, are over the cap"
    );

    let big = "x".repeat(10 * 1024 * 1024);
    let r = w
        .client
        .put(format!("{inbox}/api/v1/settings/unread-sources"))
        .bearer_auth(&w.key)
        .header("content-type", "application/json")
        .body(format!("{{\"sources\": [\"{big}\"]}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = w
        .client
        .post(format!("{inbox}/api/v1/contacts/me/recent-messages"))
        .bearer_auth(&w.key)
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "y".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "64 KiB at most, as every JSON body");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    w.finish().await;
}
