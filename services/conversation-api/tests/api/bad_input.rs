//! Bad input gets the right status and a problem+json body, and writes nothing.

use serde_json::json;

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
use crate::on_both_backends;

async fn post_raw(app: &TestApp, path: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn bad_input_is_refused_with_a_problem_and_nothing_is_written(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let conversation = format!("/api/v1/conversations/{id}");
    let before = app.counts().await;

    // A NUL byte in the URL, wherever it is: refused before any route reads it.
    for path in [
        format!("{conversation}/messages?source=a%00b"),
        format!("/api/v1/conversations/{id}%00"),
    ] {
        let r = app
            .client
            .get(app.url(&path))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
    }

    // Malformed JSON.
    assert_problem(
        post_raw(&app, "/api/v1/conversations", b"{\"sender\": ".to_vec()).await,
        400,
    )
    .await;
    assert_problem(
        post_raw(&app, &conversation, b"not json".to_vec()).await,
        400,
    )
    .await;
    // Unknown fields and wrong types.
    let unknown = app
        .post_json(
            &conversation,
            &json!({"sender": "fred@example.com", "text": "x", "bcc": "eve@example.com"}),
        )
        .await;
    let problem = assert_problem(unknown, 422).await;
    assert!(problem["detail"].as_str().unwrap().contains("bcc"));
    assert_problem(
        app.post_json(&conversation, &json!({"sender": 42, "text": "x"}))
            .await,
        422,
    )
    .await;
    assert_problem(
        app.post_json(&conversation, &json!({"text": "no sender"}))
            .await,
        422,
    )
    .await;
    // Oversize body.
    let huge =
        serde_json::to_vec(&json!({"sender": "fred@example.com", "text": "x".repeat(300 * 1024)}))
            .unwrap();
    assert_problem(post_raw(&app, &conversation, huge).await, 413).await;
    // Text over the limit inside the body limit.
    let long = app
        .post_json(
            &conversation,
            &json!({"sender": "fred@example.com", "text": "x".repeat(70 * 1024)}),
        )
        .await;
    assert_problem(long, 422).await;
    // 10,001 participants.
    let many: Vec<String> = (0..10_001).map(|i| format!("p{i}@example.com")).collect();
    let crowd = app
        .post_json(
            "/api/v1/conversations",
            &json!({"sender": "hugo@example.com", "to": many, "text": "hi all"}),
        )
        .await;
    let status = crowd.status().as_u16();
    assert!(status == 409 || status == 413, "got {status}");
    assert_problem(crowd, status).await;
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("p{i}@example.com")).collect();
    let crowd = app
        .post_json(
            "/api/v1/conversations",
            &json!({"participants": hundred_and_one}),
        )
        .await;
    assert_problem(crowd, 409).await;
    // Header injection through any value that could reach a mail header.
    for body in [
        json!({"sender": "fred@example.com", "to": ["a@example.com"], "subject": "Hi\r\nBcc: eve@example.com", "text": "x"}),
        json!({"sender": "fred@example.com\r\nBcc: eve@example.com", "text": "x"}),
        json!({"sender": {"email": "fred@example.com", "name": "Fred\nBcc: eve@example.com"}, "text": "x"}),
        json!({"sender": "fred@example.com", "to": ["a@example.com\nX: y"], "text": "x"}),
    ] {
        assert_problem(app.post_json("/api/v1/conversations", &body).await, 422).await;
    }
    assert_problem(
        app.patch_json(&conversation, &json!({"subject": "new\r\nsubject"}))
            .await,
        422,
    )
    .await;
    // Wrong content type.
    let xml = app
        .client
        .post(app.url(&conversation))
        .bearer_auth(&app.key)
        .header("content-type", "application/xml")
        .body("<message/>")
        .send()
        .await
        .unwrap();
    assert_problem(xml, 415).await;
    // Unknown ids.
    assert_problem(
        app.get("/api/v1/conversations/01a20938-0000-7000-8000-000000000000")
            .await,
        404,
    )
    .await;
    assert_problem(app.get("/api/v1/conversations/not-an-id").await, 404).await;
    assert_problem(app.get(&format!("{conversation}/99")).await, 404).await;
    assert_problem(
        app.post_json(
            "/api/v1/conversations/01a20938-0000-7000-8000-000000000000",
            &json!({"sender": "a@example.com", "text": "x"}),
        )
        .await,
        404,
    )
    .await;
    assert_problem(app.get("/api/v1/nothing-here").await, 404).await;
    // Bad paging.
    assert_problem(app.get(&format!("{conversation}?limit=0")).await, 400).await;
    assert_problem(app.get(&format!("{conversation}?limit=100000")).await, 400).await;
    assert_problem(app.get(&format!("{conversation}?cursor=zzz")).await, 400).await;
    // Method not allowed.
    let put = app
        .client
        .put(app.url(&conversation))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.headers()["allow"],
        "GET, POST, PATCH, DELETE",
        "a 405 says which methods the resource has (RFC 9110)"
    );
    assert_problem(put, 405).await;
    // A JSON array is not a request object (serde would read it as the fields in order).
    assert_problem(
        app.patch_json(&conversation, &json!([null, null])).await,
        422,
    )
    .await;

    assert_eq!(
        app.counts().await,
        before,
        "a refused request wrote something"
    );
}
on_both_backends!(bad_input_is_refused_with_a_problem_and_nothing_is_written);
