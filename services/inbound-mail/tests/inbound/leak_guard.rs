//! The leak guard on the way in: real addresses a reply carries back become names, phone
//! numbers are hidden once the application asks for it (`PATCH /api/v1/application`), and
//! the client's attribution line above our quoted notification is cut in any language
//! because it names our address.

use serde_json::{Value, json};

use crate::helpers::{reply_address, world};

#[tokio::test]
async fn addresses_in_a_reply_become_names_and_phone_numbers_are_hidden_on_request() {
    let w = world(&[]).await;
    let thread = w.thread("Your parcel left our warehouse.").await;
    let ours = reply_address(&thread.notification);
    // A Czech client: no attribution pattern knows "napsal(a)", our address in it does.
    let reply = |message_id: &str| {
        format!(
            "From: Bob <bob@example.com>\r\nTo: <{ours}>\r\nSubject: Re: Your order\r\nMessage-ID: <{message_id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAsk ANN@example.com, or call me on +44 20 7946 0000.\r\nBob (bob@example.com)\r\n\r\nDne 1. 12. 2026 v 9:00 Ann via Shop <{ours}> napsal(a):\r\n> Where is my parcel?\r\n"
        )
    };
    let (status, handled) = w.post_mail(&reply("leak-1@mail.example.com"), None).await;
    assert_eq!(status, 200, "{handled}");
    assert_eq!(handled["outcome"], "posted", "{handled}");
    assert_eq!(handled["rule"], "attribution", "{handled}");
    assert_eq!(handled["confidence"], "high", "{handled}");
    assert_eq!(
        handled["reply_text"],
        "Ask Ann, or call me on +44 20 7946 0000.\nBob (Bob)"
    );

    // The application turns phone masking on; the setting is its own to read and change.
    let settings = |body: Value| {
        w.client
            .patch(format!("{}/api/v1/application", w.api))
            .bearer_auth(&w.key)
            .json(&body)
            .send()
    };
    let response = settings(json!({"mask_phone_numbers": "yes"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "a typed setting");
    let response = settings(json!({"mask_phone_numbers": true})).await.unwrap();
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["settings"]["mask_phone_numbers"], true, "{changed}");
    let shown: Value = w
        .client
        .get(format!("{}/api/v1/application", w.api))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["settings"]["mask_phone_numbers"], true, "{shown}");
    let anonymous = w
        .client
        .get(format!("{}/api/v1/application", w.api))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let (status, handled) = w.post_mail(&reply("leak-2@mail.example.com"), None).await;
    assert_eq!(status, 200, "{handled}");
    assert_eq!(handled["outcome"], "posted", "{handled}");
    let conversation = w.conversation(&thread.id).await;
    let texts: Vec<&str> = conversation["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts[1..],
        [
            "Ask Ann, or call me on +44 20 7946 0000.\nBob (Bob)",
            "Ask Ann, or call me on [phone number hidden].\nBob (Bob)",
        ]
    );
    assert!(
        !texts.iter().any(|t| t.contains("@example.com")),
        "{texts:?}"
    );
    w.cleanup().await;
}
