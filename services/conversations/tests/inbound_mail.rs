//! Replies by email in the all-in-one (`cargo run`): the notification written to MAIL_DIR
//! is answered through `POST /inbound/mail` on the same port, the reply is posted and the
//! other participant notified; a bounce to the notification's envelope sender suppresses
//! the address, and the next message's delivery to it is `suppressed`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use conversations::AllInOne;
use serde_json::{Value, json};

async fn eventually<T, Fut: std::future::Future<Output = Option<T>>>(
    what: &str,
    f: impl FnMut() -> Fut,
) -> T {
    conversations_test_support::eventually(what, Duration::from_secs(20), f).await
}

/// The mails in `dir` that mention `needle`, in no particular order.
fn mails(dir: &PathBuf, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .filter(|m| m.contains(needle))
                .collect()
        })
        .unwrap_or_default()
}

fn header(mail: &str, name: &str) -> String {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    mail.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
        .unwrap()
}

fn address(value: &str) -> String {
    value
        .rsplit_once('<')
        .map_or(value, |(_, a)| a.trim_end_matches('>'))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_receives_replies_and_bounces_on_its_own_port() {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("mail");
    let env: HashMap<&str, String> = HashMap::from([
        (
            "DATABASE_URL",
            format!("sqlite://{}/conversations.db", dir.path().display()),
        ),
        ("MAIL_DIR", mail_dir.display().to_string()),
        ("REPLY_DOMAIN", "reply.example.com".to_owned()),
    ]);
    let server = AllInOne::start(
        |k| env.get(k).cloned(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    let store = server.store();
    tokio::spawn(server.run_until_stopped());
    assert!(
        dir.path().join("inbound.db").exists(),
        "inbound-mail's own database"
    );
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&store, "Local")
    })
    .await
    .unwrap()
    .unwrap()
    .key;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{base}/api/v1/conversations"))
        .bearer_auth(&key)
        .json(
            &json!({"sender": "ann@example.com", "to": ["bob@example.com"], "text": "Parcel sent"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    let to_bob = eventually("Bob's notification", || {
        std::future::ready(
            mails(&mail_dir, "To: bob@example.com")
                .into_iter()
                .find(|m| m.contains(&id)),
        )
    })
    .await;

    let reply_to = address(&header(&to_bob, "Reply-To"));
    let answered = header(&to_bob, "Message-ID");
    let reply = format!(
        "From: bob@example.com\r\nTo: {reply_to}\r\nSubject: Re: Parcel sent\r\nMessage-ID: <r1@example.com>\r\nIn-Reply-To: {answered}\r\n\r\nGot it, thanks!\r\n\r\nOn Tue, Dec 1, 2026 at 9:00 AM Ann wrote:\r\n> Parcel sent\r\n"
    );
    let handled: Value = client
        .post(format!("{base}/inbound/mail"))
        .header("content-type", "message/rfc822")
        .body(reply)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(handled["outcome"], "posted", "{handled}");
    let view: Value = client
        .get(format!("{base}/api/v1/conversations/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["conversation"]["messages"][1]["text"],
        "Got it, thanks!"
    );
    assert_eq!(view["conversation"]["messages"][1]["source"], "email");
    eventually("Ann's notification of Bob's reply", || {
        std::future::ready(
            mails(&mail_dir, "To: ann@example.com")
                .into_iter()
                .find(|m| m.contains("Got it, thanks!")),
        )
    })
    .await;

    // Someone else answering with Bob's reply address is refused and told so, by mail.
    let stranger = format!(
        "From: eve@example.org\r\nTo: {reply_to}\r\nSubject: Re: Parcel sent\r\nMessage-ID: <e1@example.org>\r\n\r\nGive me a refund\r\n"
    );
    let handled: Value = client
        .post(format!("{base}/inbound/mail"))
        .header("content-type", "message/rfc822")
        .body(stranger)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(handled["outcome"], "rejected", "{handled}");
    assert_eq!(handled["notice"], "queued", "{handled}");
    let notice = eventually("Eve's rejection notice", || {
        std::future::ready(mails(&mail_dir, "To: eve@example.org").into_iter().next())
    })
    .await;
    assert!(notice.contains("could not be delivered"), "{notice}");
    assert!(notice.contains("Return-Path: <>"), "null sender: {notice}");

    // Bob's mailbox is gone: the bounce reaches the notification's VERP sender.
    let bounce_address = address(&header(&to_bob, "Return-Path"));
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: {bounce_address}\r\nSubject: Delivery Status Notification (Failure)\r\nMessage-ID: <dsn@mx.example.net>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--x--\r\n"
    );
    let handled: Value = client
        .post(format!("{base}/inbound/mail"))
        .query(&[("recipient", &bounce_address)])
        .header("content-type", "message/rfc822")
        .body(dsn)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(handled["outcome"], "bounce", "{handled}");
    let statuses = eventually("Bob's delivery recorded as suppressed", || {
        let (client, base, key, id) = (client.clone(), base.clone(), key.clone(), id.clone());
        async move {
            let posted: Value = client
                .post(format!("{base}/api/v1/conversations/{id}"))
                .bearer_auth(&key)
                .json(&json!({"sender": "ann@example.com", "text": "Still there?"}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let seq = posted["seq"].as_u64()?;
            for _ in 0..100 {
                let list: Value = client
                    .get(format!("{base}/api/v1/conversations/{id}/{seq}/deliveries"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                if let Some(status) = list["deliveries"][0]["status"].as_str() {
                    return (status == "suppressed").then(|| status.to_owned());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }
    })
    .await;
    assert_eq!(statuses, "suppressed");

    // Deleting the conversation erases its mails from inbound-mail's log as well.
    let logged = |client: reqwest::Client, base: String, key: String| async move {
        let log: Value = client
            .get(format!("{base}/api/v1/inbound"))
            .bearer_auth(&key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(log["inbound"].as_array()?.len())
    };
    assert_eq!(
        logged(client.clone(), base.clone(), key.clone()).await,
        Some(3),
        "the reply, Eve's mail and the bounce"
    );
    let deleted = client
        .delete(format!("{base}/api/v1/conversations/{id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    eventually("the log to forget the conversation", || {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        async move { (logged(client, base, key).await? == 0).then_some(()) }
    })
    .await;
}
