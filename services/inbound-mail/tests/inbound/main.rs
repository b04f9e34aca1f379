//! inbound-mail end to end on PostgreSQL and RabbitMQ: replies answer real notifications
//! (their `Reply-To` and `Message-ID`), go through `POST /inbound/mail`, the provider forms
//! and the pipe program, and land in conversation-api exactly once; everything else gets
//! its documented outcome, status or exit code, and a log entry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod leak_guard;
mod pipe;
mod providers;

use helpers::{DOMAIN, reply_address, reply_to, world};
use serde_json::Value;

#[tokio::test]
async fn a_reply_is_posted_once_the_others_are_notified_and_the_log_tells_what_was_cut() {
    let w = world(&[]).await;
    let thread = w.thread("Your parcel left our warehouse.").await;
    let raw = reply_to(
        &thread.notification,
        "Bob@Example.com",
        "reply-1@mail.example.com",
        "Thanks, it arrived.\r\n\r\nBob\r\n-- \r\nBob Builder, bob@example.com",
    );
    let (status, handled) = w.post_mail(&raw, None).await;
    assert_eq!(status, 200, "{handled}");
    assert_eq!(handled["outcome"], "posted", "{handled}");
    assert_eq!(handled["message_seq"], 2);
    assert_eq!(
        handled["rule"], "attribution",
        "the quoted history is what was cut first"
    );

    let conversation = w.conversation(&thread.id).await;
    assert_eq!(conversation["message_count"], 2);
    let message = &conversation["messages"][1];
    assert_eq!(message["source"], "email");
    assert_eq!(
        message["inbound_id"], handled["id"],
        "the message names its log entry"
    );
    assert_eq!(conversation["messages"][0].get("inbound_id"), None);
    // What was cut is kept with the message, for "show trimmed text", with the
    // participants' addresses masked like the reply itself.
    let trimmed = message["trimmed_text"].as_str().unwrap();
    assert!(trimmed.contains("Bob Builder"), "{trimmed}");
    assert!(
        !trimmed.to_lowercase().contains("bob@example.com"),
        "{trimmed}"
    );
    assert_eq!(conversation["messages"][0].get("trimmed_text"), None);
    assert_eq!(message["sender"], "bob@example.com");
    assert_eq!(message["text"], "Thanks, it arrived.\n\nBob");
    let bob = conversation["participant_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "bob@example.com")
        .unwrap();
    assert_eq!(bob["last_read"], 2, "the replier has read what he answered");

    // Ann hears of it, with Bob's words and not the quoted history.
    let ann = w.mail_to("ann@example.com", &thread.id, 1).await;
    assert!(ann.decoded_text().contains("Thanks, it arrived."));
    assert!(!ann.decoded_text().contains("Where is my parcel"));

    // The MTA delivering the same mail again changes nothing.
    let (status, again) = w.post_mail(&raw, None).await;
    assert_eq!(status, 200);
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(
        again["reply_text"], "Thanks, it arrived.\n\nBob",
        "shown for duplicates too"
    );
    assert_eq!(again["message_seq"], 2);
    assert_eq!(w.conversation(&thread.id).await["message_count"], 2);

    // The log shows both, newest first, with what was cut; the raw mail is kept.
    let (status, log) = w.get_json("/api/v1/inbound").await;
    assert_eq!(status, 200);
    let entries = log["inbound"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["outcome"], "duplicate");
    let first = &entries[1];
    assert_eq!(first["outcome"], "posted");
    assert_eq!(first["conversation_id"], thread.id.as_str());
    let elided = first["elided_text"].as_str().unwrap();
    assert!(
        elided.contains("Bob Builder") && elided.contains("Where is my parcel"),
        "{elided}"
    );
    let id = first["id"].as_str().unwrap();
    let raw_back = w
        .client
        .get(format!("{}/api/v1/inbound/{id}/raw", w.inbound))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw_back.headers()["content-type"], "message/rfc822");
    assert_eq!(raw_back.text().await.unwrap(), raw);
    let (status, _) = w.get_json("/api/v1/inbound?outcome=posted&limit=1").await;
    assert_eq!(status, 200);
    let (status, _) = w.get_json("/api/v1/inbound?outcome=nonsense").await;
    assert_eq!(status, 400);
    // Another application's key sees none of it.
    let foreign = w
        .client
        .get(format!("{}/api/v1/inbound/{id}", w.inbound))
        .bearer_auth("cvk_not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 401);

    // Deleting the conversation erases its mails from the log too (the event reaches
    // inbound-mail's own queue).
    let deleted = w
        .client
        .delete(format!("{}/api/v1/conversations/{}", w.api, thread.id))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    conversations_test_support::eventually(
        "the conversation's mails to leave the log",
        std::time::Duration::from_secs(20),
        || async {
            let (_, log) = w.get_json("/api/v1/inbound").await;
            log["inbound"].as_array()?.is_empty().then_some(())
        },
    )
    .await;
    let (status, _) = w.get_json(&format!("/api/v1/inbound/{id}")).await;
    assert_eq!(status, 404);
    w.cleanup().await;
}

#[tokio::test]
async fn forged_misdirected_automatic_and_broken_mail_is_recorded_and_never_posted() {
    let w = world(&[("INBOUND_MAX_BYTES", "20000")]).await;
    let thread = w.thread("Hello Bob").await;
    let good = reply_address(&thread.notification);
    let reply = |from: &str, id: &str, text: &str| {
        reply_to(
            &thread.notification,
            from,
            &format!("{id}@mail.example.com"),
            text,
        )
    };

    // An address of ours with a signature that does not verify: unknown user.
    let mut altered = good.clone().into_bytes();
    altered[12] = if altered[12] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    let raw = reply("bob@example.com", "m1", "Hi").replace(&good, &altered);
    let (status, body) = w.post_mail(&raw, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["type"], "/problems/unknown-address");
    assert!(body["inbound_id"].is_string());
    let (status, body) = w
        .post_mail(
            &reply("bob@example.com", "m2", "Hi"),
            Some(&format!("rnotacode@{DOMAIN}")),
        )
        .await;
    assert_eq!(
        status, 200,
        "the envelope recipient is tried first, then the headers"
    );
    assert_eq!(body["outcome"], "posted");
    let raw = reply("bob@example.com", "m3", "Hi").replace(&good, "someone@elsewhere.example");
    let (status, _) = w.post_mail(&raw, None).await;
    assert_eq!(status, 404);

    let outcome = |body: &Value| body["outcome"].as_str().unwrap_or_default().to_owned();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong sender",
            reply("mallory@example.com", "m4", "Refund me"),
            "rejected",
        ),
        (
            "out of office",
            reply("bob@example.com", "m5", "I am away").replace(
                "Subject: Re: Your order",
                "Subject: Out of office: Re: Your order\r\nAuto-Submitted: auto-replied",
            ),
            "auto_reply",
        ),
        (
            "nothing written",
            reply("bob@example.com", "m6", ""),
            "rejected",
        ),
        (
            "our own mail looping back",
            reply("bob@example.com", "m7", "loop").replace(
                "From: Bob <bob@example.com>",
                &format!("From: notifications@{DOMAIN}"),
            ),
            "rejected",
        ),
        (
            "no header section",
            "just text, no headers\r\n".to_owned(),
            "rejected",
        ),
        (
            "NUL bytes",
            reply("bob@example.com", "m8", "a\0b"),
            "rejected",
        ),
        (
            "truncated in the headers",
            reply("bob@example.com", "m9", "x")[..60].to_owned(),
            "rejected",
        ),
        (
            "DMARC is not checked without INBOUND_AUTHSERV_ID",
            reply("bob@example.com", "m10", "Still here").replace(
                "Date:",
                "Authentication-Results: mx.example.com; dmarc=fail\r\nDate:",
            ),
            "posted",
        ),
    ];
    // As an MTA delivers them: with the envelope recipient.
    // A person whose reply is refused for a reason they can act on is told, once a day;
    // machines, loops and unreadable mail are not answered.
    let notices = [
        Some("queued"),
        None,
        Some("queued"),
        None,
        None,
        None,
        // Cut off after the headers: nothing written, and Bob was told today already.
        Some("already_sent_today"),
        None,
    ];
    for ((what, raw, expected), notice) in cases.iter().zip(notices) {
        let (status, body) = w.post_mail(raw, Some(&good)).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(outcome(&body), *expected, "{what}: {body}");
        assert!(
            !body["reason"].as_str().unwrap_or_default().is_empty(),
            "{what}"
        );
        assert_eq!(body["notice"].as_str(), notice, "{what}: {body}");
    }

    // Too large: refused before anything is read into the pipeline.
    let big = reply("bob@example.com", "m11", &"x".repeat(30_000));
    let (status, body) = w.post_mail(&big, None).await;
    assert_eq!(status, 413, "{body}");

    // Bob leaves; his reply is refused.
    let removed = w
        .client
        .delete(format!(
            "{}/api/v1/conversations/{}/participants/bob@example.com",
            w.api, thread.id
        ))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success());
    let (status, body) = w
        .post_mail(&reply("bob@example.com", "m12", "Me again"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "rejected");
    assert!(body["reason"].as_str().unwrap().contains("left"), "{body}");
    assert_eq!(
        body["notice"], "already_sent_today",
        "one notice a day: {body}"
    );

    // The notifier sends the notices: from the null sender, saying why.
    let notice = w.mail_to("mallory@example.com", "", 1).await;
    assert_eq!(notice.mail_from, "", "null envelope sender");
    assert!(notice.text().contains("Auto-Submitted: auto-replied"));
    assert!(
        notice.decoded_text().contains("not the participant"),
        "{}",
        notice.text()
    );
    let to_bob = w
        .mail_to("bob@example.com", "could not be delivered", 1)
        .await;
    assert!(to_bob.decoded_text().contains("nothing was written"));

    // Only the ordinary replies were posted.
    let conversation = w.conversation(&thread.id).await;
    let texts: Vec<&str> = conversation["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hello Bob", "Hi", "Still here"]);

    // Each mail has its log entry; those naming nobody belong to no application.
    let (_, log) = w.get_json("/api/v1/inbound?limit=200").await;
    let outcomes: Vec<&str> = log["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "posted").count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(outcomes.iter().filter(|o| **o == "auto_reply").count(), 1);
    assert!(
        outcomes.iter().filter(|o| **o == "rejected").count() >= 3,
        "{outcomes:?}"
    );
    w.cleanup().await;
}

#[tokio::test]
async fn a_permanent_bounce_suppresses_the_address_until_the_application_lifts_it() {
    let w = world(&[]).await;
    let thread = w.thread("Hello Bob").await;
    let bounce_address = thread.notification.mail_from.clone();
    assert!(
        bounce_address.starts_with('b'),
        "VERP sender: {bounce_address}"
    );
    // A report that the mail *was* delivered is recorded and counts against nobody.
    let delivered = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {bounce_address}\r\nSubject: Successful Mail Delivery Report\r\nMessage-ID: <dsn-0@mx.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message was delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n--b--\r\n"
    );
    let (status, body) = w.post_mail(&delivered, Some(&bounce_address)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "bounce", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("delivered"),
        "{body}"
    );
    assert!(body.get("bounce").is_none_or(Value::is_null), "{body}");
    let (_, list) = w.get_json("/api/v1/suppressions").await;
    assert_eq!(list["suppressions"], serde_json::json!([]), "{list}");

    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {bounce_address}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--b--\r\n"
    );
    let (status, body) = w.post_mail(&dsn, Some(&bounce_address)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "bounce");
    assert_eq!(body["bounce"]["permanent"], true);
    let (_, list) = w.get_json("/api/v1/suppressions").await;
    assert_eq!(
        list["suppressions"][0]["email"], "bob@example.com",
        "{list}"
    );

    // The notifier learns of it through the event and mails Bob no more.
    let post = |text: &'static str| {
        let w = &w;
        let id = thread.id.clone();
        async move {
            let response = w
                .client
                .post(format!("{}/api/v1/conversations/{id}", w.api))
                .bearer_auth(&w.key)
                .json(&serde_json::json!({"sender": "ann@example.com", "text": text}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()["seq"]
                .as_u64()
                .unwrap()
        }
    };
    let status_of = |seq: u64| {
        let store = w.notifier_store.clone();
        let id = thread.id.clone();
        async move {
            tokio::task::spawn_blocking(move || store.deliveries_for_message(&id, seq))
                .await
                .unwrap()
                .unwrap()
                .first()
                .map(|d| d.status.as_str().to_owned())
        }
    };
    // Each try posts a new message: the one posted once the event has arrived is the
    // first recorded as suppressed.
    let (post, status_of) = (&post, &status_of);
    let next_delivery_is = move |text: &'static str, suppressed: bool| async move {
        let seq = post(text).await;
        let status = conversations_test_support::eventually(
            "the delivery to be recorded",
            std::time::Duration::from_secs(10),
            move || async move { status_of(seq).await },
        )
        .await;
        ((status == "suppressed") == suppressed).then_some(())
    };
    conversations_test_support::eventually(
        "a delivery to Bob recorded as suppressed",
        std::time::Duration::from_secs(20),
        move || next_delivery_is("Are you there?", true),
    )
    .await;

    // Lifted: mailed again.
    let lifted = w
        .client
        .delete(format!("{}/api/v1/suppressions/bob@example.com", w.inbound))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    let again = w
        .client
        .delete(format!("{}/api/v1/suppressions/bob@example.com", w.inbound))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    conversations_test_support::eventually(
        "Bob mailed again",
        std::time::Duration::from_secs(20),
        move || next_delivery_is("Welcome back", false),
    )
    .await;
    w.cleanup().await;
}
