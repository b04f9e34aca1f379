//! An application that shows conversations on its own site sets its conversation URL, and
//! the link in every notification then opens there; without one (or after clearing it),
//! the link opens our own page under PUBLIC_URL, signing its recipient in. A malformed
//! template is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

/// The notification mails (written to MAIL_DIR) whose text mentions `needle`, with the
/// quoted-printable soft line breaks and `=3D` of their text part undone.
fn mails(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
                .filter(|m| m.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

/// The link in the notification of the conversation `subject` names, once it is written.
async fn link_in(mail_dir: &Path, subject: &str) -> String {
    conversations_test_support::eventually(
        &format!("the notification of {subject}"),
        Duration::from_secs(20),
        || {
            let found = mails(mail_dir, subject).into_iter().find_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("View the conversation: "))
                    .map(|l| l.trim_end().to_owned())
            });
            async move { found }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_link_to_the_applications_own_conversation_page_when_it_has_one() {
    let running = common::start("Shop", &[("PUBLIC_URL", "https://conversations.example")]).await;
    let (base, key, mail_dir) = (&running.base, &running.key, &running.mail_dir);
    let client = reqwest::Client::new();
    let patch = |body: Value| {
        let request = client
            .patch(format!("{base}/api/v1/application"))
            .bearer_auth(key)
            .json(&body)
            .send();
        async move {
            let response = request.await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };
    let post = |subject: &'static str| {
        let request = client
            .post(format!("{base}/api/v1/conversations"))
            .bearer_auth(key)
            .json(
                &json!({"sender": "seller@example.com", "to": ["buyer@example.com"],
                          "subject": subject, "text": subject}),
            )
            .send();
        async move {
            let created: Value = request.await.unwrap().json().await.unwrap();
            created["conversation"]["id"].as_str().unwrap().to_owned()
        }
    };
    // Refused: not absolute, no placeholder, a script URL.
    for bad in [
        "/messages/{conversation_id}",
        "https://shop.example/messages",
        "javascript:alert(1)//{conversation_id}",
    ] {
        let (status, problem) = patch(json!({"conversation_url": bad})).await;
        assert_eq!(status, 422, "{bad}: {problem}");
    }

    // Without a template: our own page, with the recipient's sign-in code in the fragment.
    let ours = post("Order one").await;
    let link = link_in(mail_dir, "Order one").await;
    let (page, code) = link.split_once("#code=").unwrap();
    assert_eq!(
        page,
        format!("https://conversations.example/conversations/{ours}")
    );
    assert!(code.len() > 100, "{link}");

    // With one: the application's page, id filled in; the setting shows in the view.
    let (status, view) = patch(json!({
        "conversation_url": "https://shop.example/messages/{conversation_id}?from=mail"
    }))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        view["settings"]["conversation_url"],
        "https://shop.example/messages/{conversation_id}?from=mail"
    );
    let theirs = post("Order two").await;
    assert_eq!(
        link_in(mail_dir, "Order two").await,
        format!("https://shop.example/messages/{theirs}?from=mail")
    );

    // Cleared (empty string): our own page again.
    let (status, view) = patch(json!({"conversation_url": ""})).await;
    assert_eq!(status, 200);
    assert_eq!(view["settings"]["conversation_url"], Value::Null);
    let again = post("Order three").await;
    assert!(link_in(mail_dir, "Order three").await.starts_with(&format!(
        "https://conversations.example/conversations/{again}#code="
    )));
}
