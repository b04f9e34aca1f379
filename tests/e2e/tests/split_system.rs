//! The split system end to end: conversation-api, metadata-query and the notifier as
//! separate processes on PostgreSQL, RabbitMQ and an SMTP server. A post reaches the
//! recipient's mailbox, inbox and delivery status; cutting the broker, killing the
//! notifier between send and record, or restarting conversation-api in the middle of a
//! burst loses nothing, and a kill repeats at most the mails in flight at that instant.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use e2e::{Options, System, eventually};

/// Every committed message is mailed exactly `copies_allowed` or fewer extra times, and
/// every recipient's inbox shows it unread.
async fn check_nothing_lost(system: &System, ids: &[String], copies_allowed: usize) {
    let counts = system.message_counts(ids).await;
    let committed: u64 = counts.values().sum();
    eventually("every notification", Duration::from_secs(120), || async {
        (system.mails().0.len() as u64 >= committed).then_some(())
    })
    .await;
    for (n, id) in ids.iter().enumerate() {
        let expected = counts[id];
        eventually(
            &format!("buyer {n}'s inbox to show {expected} unread"),
            Duration::from_secs(60),
            || async { (system.buyer_unread(n, id).await? == expected).then_some(()) },
        )
        .await;
    }
    let (distinct, total) = system.mails();
    assert_eq!(distinct.len() as u64, committed, "one mail per message");
    assert!(
        total - distinct.len() <= copies_allowed,
        "{} mails repeated (at most {copies_allowed} allowed)",
        total - distinct.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_reaches_the_mailbox_the_inbox_and_the_delivery_status() {
    let system = System::start(Options::default()).await;
    let id = system.create(1).await;

    // The mail: to the buyer alone, from the seller's name, never the seller's address.
    eventually("the mail", Duration::from_secs(30), || async {
        (system.sink.count() == 1).then_some(())
    })
    .await;
    let mail = &system.sink.received()[0];
    assert_eq!(mail.rcpt_to, ["buyer1@example.com"]);
    assert!(
        mail.header("From")
            .unwrap()
            .contains("Seller 1 via E2E shop")
    );
    assert!(mail.decoded_text().contains("hello buyer 1"));
    assert!(!mail.text().contains("seller1@example.com"));

    // The inbox, from metadata-query's own projection.
    let unread = eventually("the inbox", Duration::from_secs(30), || async {
        system.buyer_unread(1, &id).await
    })
    .await;
    assert_eq!(unread, 1);

    // The delivery status: built by metadata-query from the notifier's events.
    let path = format!("/api/v1/conversations/{id}/1/deliveries");
    let delivery = eventually("the sent status", Duration::from_secs(30), || async {
        let list = system.read(&path).await?;
        let first = list["deliveries"][0].clone();
        (first["status"] == "sent").then_some(first)
    })
    .await;
    assert_eq!(delivery["recipient"], "buyer1@example.com");
    assert!(delivery["smtp_reply"].as_str().unwrap().starts_with("250"));
    // conversation-api no longer serves it (the gateway routes the path to metadata-query).
    let r = system
        .client
        .get(system.api_url(&path))
        .bearer_auth(&system.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    system.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_the_broker_in_the_middle_of_a_burst_loses_nothing() {
    let system = Arc::new(System::start(Options::default()).await);
    let ids = system.conversations(10).await;
    let burst = system.start_burst(&ids);
    for _ in 0..3 {
        burst.progressed(100).await;
        system.broker.cut();
    }
    burst.progressed(100).await;
    assert!(burst.stop().await > 0);
    // Redelivered events are recognised: no mail twice without a crash.
    check_nothing_lost(&system, &ids, 0).await;
    Arc::into_inner(system).unwrap().cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_notifier_between_send_and_record_repeats_at_most_the_mails_in_flight() {
    let connections = 2;
    let system = Arc::new(
        System::start(Options {
            smtp_connections: connections,
            // Slow enough that mails are always in flight, and the notifier falls behind.
            smtp_delay: Duration::from_millis(25),
            ..Options::default()
        })
        .await,
    );
    let ids = system.conversations(10).await;
    let burst = system.start_burst(&ids);
    burst.progressed(300).await;
    // SIGKILL while posts pour in and mails are being handed to the SMTP server.
    system.notifier.kill().await;
    let sent_before = system.mails().0.len();
    burst.progressed(100).await;
    system.notifier.start().await;
    burst.progressed(100).await;
    assert!(burst.stop().await > 0);
    let committed: u64 = system.message_counts(&ids).await.values().sum();
    assert!(
        (sent_before as u64) < committed,
        "the notifier was behind when it died ({sent_before} of {committed})"
    );
    check_nothing_lost(&system, &ids, connections).await;
    Arc::into_inner(system).unwrap().cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_conversation_api_during_posts_loses_nothing() {
    let system = Arc::new(System::start(Options::default()).await);
    let ids = system.conversations(10).await;
    let burst = system.start_burst(&ids);
    burst.progressed(200).await;
    // SIGKILL in the middle of the posts: events committed but not yet published stay in
    // the outbox, and the next process publishes them.
    system.api.kill().await;
    system.api.start().await;
    burst.progressed(100).await;
    let accepted = burst.stop().await;
    let counts: HashMap<String, u64> = system.message_counts(&ids).await;
    let committed: u64 = counts.values().sum();
    // A post cut off by the kill may have committed without its answer arriving.
    assert!(committed >= (accepted + ids.len()) as u64);
    check_nothing_lost(&system, &ids, 0).await;
    Arc::into_inner(system).unwrap().cleanup().await;
}

/// SIGTERM, as an orchestrator stops containers, to every service in turn in the middle
/// of a burst: each exits 0 within its grace period, and after restarting nothing is lost
/// and no mail is sent twice (a graceful stop finishes or leaves what is in flight; only a
/// SIGKILL may repeat a mail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_exits_cleanly_and_loses_or_repeats_nothing() {
    let system = Arc::new(System::start(Options::default()).await);
    let ids = system.conversations(10).await;
    let burst = system.start_burst(&ids);
    burst.progressed(100).await;
    for service in [
        &system.notifier,
        &system.metadata,
        &system.inbound,
        &system.api,
    ] {
        let status = service.terminate(Duration::from_secs(20)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "a service did not exit 0 on SIGTERM within 20 s: {status:?}"
        );
        service.start().await;
        burst.progressed(50).await;
    }
    let accepted = burst.stop().await;
    let counts: HashMap<String, u64> = system.message_counts(&ids).await;
    let committed: u64 = counts.values().sum();
    assert!(committed >= (accepted + ids.len()) as u64);
    check_nothing_lost(&system, &ids, 0).await;
    Arc::into_inner(system).unwrap().cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_conversation_leaves_no_trace_in_any_service() {
    let system = System::start(Options::default()).await;
    let needle = format!("erase{}", uuid::Uuid::new_v4().simple());
    let created = system
        .client
        .post(system.api_url("/api/v1/conversations"))
        .bearer_auth(&system.key)
        .header("Idempotency-Key", format!("create-{needle}"))
        .json(&serde_json::json!({
            "sender": {"email": format!("{needle}-seller@example.com"), "name": format!("Seller {needle}")},
            "to": [{"email": format!("{needle}-buyer@example.com"), "name": format!("Buyer {needle}"), "external_id": format!("ext-{needle}")}],
            "subject": format!("Subject {needle}"),
            "text": format!("First {needle}")
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = system
        .client
        .post(system.api_url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&system.key)
        .header("Idempotency-Key", format!("reply-{needle}"))
        .json(&serde_json::json!({"sender": format!("{needle}-buyer@example.com"), "text": format!("Reply {needle}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    // Every service has it: mails sent, delivery status and inbox projected.
    let path = format!("/api/v1/conversations/{id}/2/deliveries");
    eventually(
        "the reply's sent status",
        Duration::from_secs(30),
        || async {
            let list = system.read(&path).await?;
            (list["deliveries"][0]["status"] == "sent").then_some(())
        },
    )
    .await;
    let before = system.tables_mentioning(&needle).await;
    for (database, table) in [
        ("conv_e2e_api", "messages"),
        ("conv_e2e_api", "outbox"),
        ("conv_e2e_api", "idempotency_keys"),
        ("conv_e2e_notifier", "nt_deliveries"),
        ("conv_e2e_notifier", "nt_outbox"),
        ("conv_e2e_metadata", "mq_contacts"),
        ("conv_e2e_metadata", "mq_messages"),
        ("conv_e2e_metadata", "mq_deliveries"),
    ] {
        assert!(
            before
                .iter()
                .any(|t| t.starts_with(database) && t.ends_with(&format!(".{table}"))),
            "the search finds the conversation in {database}.{table} before the deletion: {before:?}"
        );
    }

    let deleted = system
        .client
        .delete(system.api_url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&system.key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // Wait until both consumers have handled the deletion (not until the string is gone):
    // metadata-query no longer knows the message, the notifier has recorded the erasure.
    let erased = format!(
        "SELECT count(*) AS n FROM nt_deleted_conversations WHERE conversation_id = '{id}'"
    );
    let delivery = format!("/api/v1/conversations/{id}/1/deliveries");
    eventually(
        "both consumers to handle the deletion",
        Duration::from_secs(30),
        || async {
            (system.read(&delivery).await.is_none() && system.count(1, &erased).await == 1)
                .then_some(())
        },
    )
    .await;
    let left = system.tables_mentioning(&needle).await;
    assert!(left.is_empty(), "still found in {left:?}");
    system.cleanup().await;
}

/// Key rotation across the real processes: a key issued through conversation-api works on
/// metadata-query and inbound-mail once they have heard of it (the event; inbound-mail's
/// question to conversation-api), and a revoked one stops working everywhere within
/// seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_service_within_seconds() {
    let system = System::start(Options::default()).await;
    let inbound = |path: &str| {
        format!(
            "{}{path}",
            system.inbound.base.as_deref().unwrap_or_default()
        )
    };
    let urls = [
        system.api_url("/api/v1/application"),
        system.metadata_url("/api/v1/settings/unread-sources"),
        inbound("/api/v1/suppressions"),
    ];
    let status = |url: String, key: String| {
        let client = system.client.clone();
        async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let issued: serde_json::Value = system
        .client
        .post(system.api_url("/api/v1/application/keys"))
        .bearer_auth(&system.key)
        .json(&serde_json::json!({"label": "rotated in"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = issued["key"].as_str().unwrap().to_owned();
    for url in &urls {
        eventually("the new key accepted", Duration::from_secs(30), || async {
            (status(url.clone(), second.clone()).await == 200).then_some(())
        })
        .await;
    }
    let revoked = system
        .client
        .delete(system.api_url(&format!("/api/v1/application/keys/{}", &system.key[..10])))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    for url in &urls {
        eventually(
            "the revoked key refused",
            Duration::from_secs(20),
            || async { (status(url.clone(), system.key.clone()).await == 401).then_some(()) },
        )
        .await;
        assert_eq!(status(url.clone(), second.clone()).await, 200, "{url}");
    }
    system.cleanup().await;
}
