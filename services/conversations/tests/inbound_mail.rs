//! Replies by email in the all-in-one (`cargo run`): the notification written to MAIL_DIR
//! is answered through `POST /inbound/mail` on the same port, the reply is posted and the
//! other participant notified; a bounce to the notification's envelope sender suppresses
//! the address, and the next message's delivery to it is `suppressed`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

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

/// The all-in-one's HTTP API as one application sees it.
struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// A JSON request with the API key; `None` unless the answer is JSON.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.ok()?.json().await.ok()
    }

    /// A raw mail to the intake, as the pipe program sends it.
    async fn mail(&self, raw: String, recipient: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/inbound/mail", self.base))
            .header("content-type", "message/rfc822")
            .body(raw);
        if let Some(recipient) = recipient {
            request = request.query(&[("recipient", recipient)]);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Posts a message as Ann; the status of its (only) delivery once recorded.
    async fn next_delivery_status(&self, id: &str) -> String {
        let posted = self
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{id}"),
                Some(json!({"sender": "ann@example.com", "text": "Still there?"})),
            )
            .await
            .unwrap();
        let seq = posted["seq"].as_u64().unwrap();
        let path = format!("/api/v1/conversations/{id}/{seq}/deliveries");
        eventually("the delivery to be recorded", || async {
            let list = self.send(reqwest::Method::GET, &path, None).await?;
            list["deliveries"][0]["status"].as_str().map(str::to_owned)
        })
        .await
    }

    /// How many mails inbound-mail's log holds for the application.
    async fn logged(&self) -> Option<usize> {
        let log = self
            .send(reqwest::Method::GET, "/api/v1/inbound", None)
            .await?;
        Some(log["inbound"].as_array()?.len())
    }
}

fn address(value: &str) -> String {
    value
        .rsplit_once('<')
        .map_or(value, |(_, a)| a.trim_end_matches('>'))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_receives_replies_and_bounces_on_its_own_port() {
    let running = common::start("Local", &[("REPLY_DOMAIN", "reply.example.com")]).await;
    let (dir, base, key, mail_dir) = (&running.dir, &running.base, &running.key, &running.mail_dir);
    assert!(
        dir.path().join("inbound.db").exists(),
        "inbound-mail's own database"
    );
    let api = Api {
        client: reqwest::Client::new(),
        base: base.clone(),
        key: key.clone(),
    };
    let created = api
        .send(
            reqwest::Method::POST,
            "/api/v1/conversations",
            Some(json!({"sender": "ann@example.com", "to": ["bob@example.com"], "text": "Parcel sent"})),
        )
        .await
        .unwrap();
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    let to_bob = eventually("Bob's notification", || {
        std::future::ready(
            mails(mail_dir, "To: bob@example.com")
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
    let handled = api.mail(reply, None).await;
    assert_eq!(handled["outcome"], "posted", "{handled}");
    let view = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/conversations/{id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        view["conversation"]["messages"][1]["text"],
        "Got it, thanks!"
    );
    assert_eq!(view["conversation"]["messages"][1]["source"], "email");
    eventually("Ann's notification of Bob's reply", || {
        std::future::ready(
            mails(mail_dir, "To: ann@example.com")
                .into_iter()
                .find(|m| m.contains("Got it, thanks!")),
        )
    })
    .await;

    // Someone else answering with Bob's reply address is refused and told so, by mail.
    let stranger = format!(
        "From: eve@example.org\r\nTo: {reply_to}\r\nSubject: Re: Parcel sent\r\nMessage-ID: <e1@example.org>\r\n\r\nGive me a refund\r\n"
    );
    let handled = api.mail(stranger, None).await;
    assert_eq!(handled["outcome"], "rejected", "{handled}");
    assert_eq!(handled["notice"], "queued", "{handled}");
    let notice = eventually("Eve's rejection notice", || {
        std::future::ready(mails(mail_dir, "To: eve@example.org").into_iter().next())
    })
    .await;
    assert!(notice.contains("could not be delivered"), "{notice}");
    assert!(notice.contains("Return-Path: <>"), "null sender: {notice}");

    // Bob's mailbox is gone: the bounce reaches the notification's VERP sender.
    let bounce_address = address(&header(&to_bob, "Return-Path"));
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: {bounce_address}\r\nSubject: Delivery Status Notification (Failure)\r\nMessage-ID: <dsn@mx.example.net>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n--x--\r\n"
    );
    let handled = api.mail(dsn, Some(&bounce_address)).await;
    assert_eq!(handled["outcome"], "bounce", "{handled}");
    // Each try posts a new message: the first one posted after the suppression reached
    // the notifier has its delivery recorded as suppressed.
    eventually("Bob's delivery recorded as suppressed", || async {
        (api.next_delivery_status(&id).await == "suppressed").then_some(())
    })
    .await;

    // Deleting the conversation erases its mails from inbound-mail's log as well.
    assert_eq!(
        api.logged().await,
        Some(3),
        "the reply, Eve's mail and the bounce"
    );
    let deleted = api
        .client
        .delete(format!("{}/api/v1/conversations/{id}", api.base))
        .bearer_auth(&api.key)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    eventually("the log to forget the conversation", || async {
        (api.logged().await? == 0).then_some(())
    })
    .await;
}
