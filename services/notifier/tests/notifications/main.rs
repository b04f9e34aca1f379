//! The notifier end to end: conversation-api publishes through a real RabbitMQ, the
//! notifier consumes its own durable queue and sends through a real SMTP server (the
//! test-support sink, over TCP), recording deliveries in its own tables (`nt_`) of a fresh
//! PostgreSQL database and publishing its `notification_*` events on the exchange.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod world;

use lapin::options::BasicGetOptions;
use serde_json::{Value, json};

use world::{eventually, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_a_three_person_conversation_sends_two_masked_threaded_mails() {
    let mut w = world().await;
    let (id, reply_to) = w.three_people().await;
    w.drained(1, 2).await;
    let everyone = ["hugo@example.com", "fred@example.com", "ann@example.com"];
    let mut bounce_addresses = Vec::new();
    for recipient in ["fred@example.com", "ann@example.com"] {
        let mails = w.mails_to(recipient);
        assert_eq!(mails.len(), 1, "{recipient} gets exactly one mail");
        let mail = &mails[0];
        assert_eq!(
            mail.header("From").unwrap(),
            "\"Hugo via Test app\" <notifications@reply.example.com>"
        );
        assert!(mail.header("To").unwrap().contains(recipient));
        assert!(mail.header("Cc").is_none() && mail.header("Bcc").is_none());
        assert_eq!(mail.header("Reply-To").unwrap(), reply_to[recipient]);
        assert_eq!(mail.header("Subject").unwrap(), "Example message");
        let root = format!("<{id}@reply.example.com>");
        assert_eq!(mail.header("In-Reply-To").unwrap(), root);
        assert_eq!(mail.header("References").unwrap(), root);
        let message_id = mail.header("Message-ID").unwrap();
        assert!(
            message_id.starts_with(&format!("<{id}.1."))
                && message_id.ends_with("@reply.example.com>")
        );
        assert_eq!(mail.header("Thread-Topic").unwrap(), "Example message");
        assert!(mail.header("Thread-Index").is_some());
        assert_eq!(mail.header("Auto-Submitted").unwrap(), "auto-generated");
        assert_eq!(mail.header("X-Auto-Response-Suppress").unwrap(), "All");
        assert!(
            mail.header("List-Unsubscribe")
                .unwrap()
                .starts_with("<https://app.example.com/api/v1/unsubscribe/u")
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").unwrap(),
            "List-Unsubscribe=One-Click"
        );
        let text = mail.decoded_text();
        assert!(text.contains("Please type your reply above this line"));
        assert!(text.contains("this is a message"));
        assert!(text.contains("text/html"));
        assert!(text.contains(&format!("https://app.example.com/conversations/{id}")));
        for other in everyone.iter().filter(|e| **e != recipient) {
            assert!(
                !text.contains(other),
                "{other}'s real address leaked into {recipient}'s mail"
            );
        }
        assert!(mail.mail_from.starts_with('b') && mail.mail_from.ends_with("@reply.example.com"));
        bounce_addresses.push(mail.mail_from.clone());
    }
    assert_ne!(
        bounce_addresses[0], bounce_addresses[1],
        "bounce addresses are per recipient"
    );

    // A reply is "Re:" and threads under the same root; the delivery status is readable.
    w.post(
        &format!("/api/v1/conversations/{id}"),
        json!({"sender": "fred@example.com", "text": "a reply"}),
    )
    .await;
    eventually("two more mails", || w.sink.count() >= 4).await;
    let to_hugo = w.mails_to("hugo@example.com");
    assert_eq!(to_hugo[0].header("Subject").unwrap(), "Re: Example message");
    assert_eq!(
        to_hugo[0].header("From").unwrap(),
        "\"Fred via Test app\" <notifications@reply.example.com>"
    );
    let statuses: Vec<String> = w
        .deliveries(&id, 1)
        .await
        .into_values()
        .map(|d| d.0)
        .collect();
    assert_eq!(statuses, ["sent", "sent"]);
    // Each accepted mail is announced as the notifier's own event.
    let mut sent_to = Vec::new();
    for _ in 0..2 {
        let event = conversations_events::decode(&w.next_event("notification_sent").await).unwrap();
        assert_eq!(event.conversation_id, id);
        match event.payload {
            Some(conversations_events::v1::envelope::Payload::NotificationSent(n)) => {
                assert!(n.smtp_reply.starts_with("250"), "{}", n.smtp_reply);
                sent_to.push(n.recipient.unwrap().email);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    sent_to.sort();
    assert_eq!(sent_to, ["ann@example.com", "fred@example.com"]);
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_and_a_restart_before_the_ack_send_no_second_mail() {
    let mut w = world().await;
    w.three_people().await;
    let event = w.next_event("message_posted").await;
    w.drained(1, 2).await;
    // The same event again, as RabbitMQ redelivers it: consumed, and no mail.
    w.publish("message_posted", &event).await;
    w.drained(2, 2).await;
    // The notifier dies and its unacknowledged event comes back to the next one.
    w.stop_notifier();
    w.publish("message_posted", &event).await;
    w.start_notifier().await;
    w.drained(1, 2).await;
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_smtp_failures_retry_and_permanent_ones_fail_only_that_recipient() {
    let mut w = world().await;
    w.sink.fail_next_data("451 4.3.0 try again later");
    w.sink
        .reject_recipient("ann@example.com", "550 5.1.1 user unknown");
    let (id, _) = w.three_people().await;
    w.drained(1, 1).await;
    assert_eq!(w.mails_to("fred@example.com").len(), 1);
    assert!(
        w.sink.data_commands() >= 2,
        "the 451 was answered and the mail sent again"
    );
    let by_recipient = w.deliveries(&id, 1).await;
    assert_eq!(by_recipient["fred@example.com"].0, "sent");
    assert_eq!(by_recipient["ann@example.com"].0, "failed");
    assert!(
        by_recipient["ann@example.com"]
            .1
            .as_deref()
            .unwrap()
            .contains("550")
    );
    let events = w
        .events_of(&["notification_deferred", "notification_failed"])
        .await;
    let deferred = conversations_events::decode(&events["notification_deferred"]).unwrap();
    assert_eq!(deferred.conversation_id, id);
    let envelope = conversations_events::decode(&events["notification_failed"]).unwrap();
    match envelope.payload {
        Some(conversations_events::v1::envelope::Payload::NotificationFailed(f)) => {
            assert_eq!(f.recipient.unwrap().email, "ann@example.com");
            assert!(f.smtp_reply.contains("550"));
        }
        other => panic!("unexpected {other:?}"),
    }
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_participants_get_nothing_and_poison_events_are_dead_lettered() {
    let mut w = world().await;
    let (id, _) = w.three_people().await;
    w.drained(1, 2).await;
    w.sink.clear();
    let response = w
        .client
        .patch(format!(
            "{}/api/v1/conversations/{id}/participants/ann@example.com",
            w.address
        ))
        .bearer_auth(&w.key)
        .json(&json!({"muted": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Garbage on the queue goes to the dead-letter queue and blocks nothing.
    w.publish("message_posted", b"\x00\x01 this is not an event")
        .await;
    w.post(
        &format!("/api/v1/conversations/{id}"),
        json!({"sender": "hugo@example.com", "text": "second"}),
    )
    .await;
    // The garbage is dead-lettered, not handled: one more event (the second message).
    w.drained(2, 1).await;
    assert_eq!(w.mails_to("fred@example.com").len(), 1);
    assert!(w.mails_to("ann@example.com").is_empty());
    assert_eq!(w.deliveries(&id, 2).await["ann@example.com"].0, "muted");
    let muted = conversations_events::decode(&w.next_event("notification_muted").await).unwrap();
    assert_eq!(muted.conversation_id, id);
    let dead = w
        .channel
        .basic_get(
            format!("{}.dead-letter", w.queue).as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the poison event is in the dead-letter queue");
    assert_eq!(dead.delivery.data, b"\x00\x01 this is not an event");
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&prometheus::gather())
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with(
            r#"conversations_consumer_events_total{consumer="notifier",result="dead_lettered"}"#
        ) && !l.ends_with(" 0")),
        "the dead-lettered event is counted"
    );
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_link_mutes_the_conversation_for_that_recipient() {
    let w = world().await;
    let (id, _) = w.three_people().await;
    eventually("first mails", || w.sink.count() >= 2).await;
    let mail = &w.mails_to("fred@example.com")[0];
    let link = mail.header("List-Unsubscribe").unwrap();
    let url = link
        .trim_start_matches('<')
        .trim_end_matches('>')
        .replace("https://app.example.com", &w.address);
    let scanned = w.client.get(&url).send().await.unwrap();
    assert_eq!(scanned.status(), 200);
    let c = w.get(&format!("/api/v1/conversations/{id}")).await;
    let fred = |c: &Value| {
        c["conversation"]["participant_details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == "fred@example.com")
            .unwrap()["muted"]
            .clone()
    };
    assert_eq!(fred(&c), false, "a GET (link scanner) changes nothing");

    // The same link with one character of its token changed is refused and changes nothing.
    let (base, token) = url.rsplit_once('/').unwrap();
    let mut forged_token: Vec<char> = token.chars().collect();
    let middle = forged_token.len() / 2;
    forged_token[middle] = if forged_token[middle] == 'a' {
        'b'
    } else {
        'a'
    };
    let forged_token: String = forged_token.into_iter().collect();
    assert_ne!(forged_token, token);
    let forged = w
        .client
        .post(format!("{base}/{forged_token}"))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let problem: Value = forged.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("not valid"),
        "{problem}"
    );
    let c = w.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(fred(&c), false, "a forged link changes nothing");

    let clicked = w
        .client
        .post(&url)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), 200);
    let c = w.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(fred(&c), true);
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppressed_address_gets_nothing_and_the_others_their_mail() {
    let w = world().await;
    let (id, _) = w.three_people().await;
    w.drained(1, 2).await;
    w.sink.clear();
    // The address bounced (as inbound-mail's address_suppressed event records it).
    let store = w.notifier_store.clone();
    let conversation = id.clone();
    tokio::task::spawn_blocking(move || {
        let app = store.deliveries_for_message(&conversation, 1)?[0]
            .app_id
            .clone();
        store.suppress_address(&app, "ann@example.com", "bounced", chrono::Utc::now())
    })
    .await
    .unwrap()
    .unwrap();
    w.post(
        &format!("/api/v1/conversations/{id}"),
        json!({"sender": "hugo@example.com", "text": "second"}),
    )
    .await;
    w.drained(2, 1).await;
    assert_eq!(w.mails_to("fred@example.com").len(), 1);
    assert!(w.mails_to("ann@example.com").is_empty());
    let deliveries = w.deliveries(&id, 2).await;
    assert_eq!(deliveries["ann@example.com"].0, "suppressed");
    assert_eq!(deliveries["fred@example.com"].0, "sent");
    w.cleanup().await;
}
