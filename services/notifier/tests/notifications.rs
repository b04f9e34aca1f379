//! The notifier end to end: conversation-api publishes through a real RabbitMQ, the
//! notifier consumes its own durable queue and sends through a real SMTP server (the
//! test-support sink, over TCP), recording deliveries in its own tables (`nt_`) of a fresh
//! PostgreSQL database and publishing its `notification_*` events on the exchange.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use conversation_api::{Application, Config};
use conversations_bus::{AmqpConfig, AmqpSink, Sink};
use conversations_store::Store;
use conversations_test_support::{ReceivedMail, SmtpSink, TestDatabase, amqp_url};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection as AmqpConnection, ConnectionProperties};
use notifier::{EventSource, Notifier, NotifierConfig, NotifierStore};
use serde_json::{Value, json};

const SECRET: &str = "notifier-test-secret-notifier-test-secret";

/// conversation-api + notifier + SMTP sink + a listener on the exchange, all owned by one test.
struct World {
    address: String,
    key: String,
    client: reqwest::Client,
    #[allow(dead_code)]
    store: Store,
    notifier_store: NotifierStore,
    sink: SmtpSink,
    notifier: Option<Notifier>,
    notifier_config: NotifierConfig,
    channel: Channel,
    amqp: AmqpConnection,
    exchange: String,
    queue: String,
    captured: lapin::Consumer,
    db: Option<TestDatabase>,
}

async fn world() -> World {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("test.events.{suffix}");
    let queue = format!("test.notifier.{suffix}");
    let db = tokio::task::spawn_blocking(|| TestDatabase::create("conv_notifier"))
        .await
        .unwrap()
        .unwrap();
    let db_url = db.url().to_owned();
    let sink = SmtpSink::start().await.unwrap();
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db_url),
        ("AMQP_URL", amqp_url()),
        ("AMQP_EXCHANGE", exchange.clone()),
        ("NOTIFIER_QUEUE", queue.clone()),
        ("REPLY_SECRET", SECRET.to_owned()),
        ("REPLY_DOMAIN", "reply.example.com".to_owned()),
        ("PUBLIC_URL", "https://app.example.com".to_owned()),
        ("SMTP_URL", sink.url()),
        ("NOTIFIER_RETRY_BASE_MS", "200".to_owned()),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
    ]);
    let lookup = |k: &str| env.get(k).cloned();
    let config = Config::from_lookup(lookup).unwrap();
    let notifier_config = NotifierConfig::from_lookup(lookup).unwrap();

    // A listener bound to the exchange first, so the test can see (and re-send) events.
    let amqp = AmqpConnection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = amqp.create_channel().await.unwrap();
    channel
        .exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let capture = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    for key in [
        "message_posted",
        "notification_sent",
        "notification_failed",
        "notification_deferred",
        "notification_suppressed",
        "notification_muted",
    ] {
        channel
            .queue_bind(
                capture.name().clone(),
                exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let captured = channel
        .basic_consume(
            capture.name().clone(),
            "capture".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let app = Application::build_with_listener(config, TcpListener::bind("127.0.0.1:0").unwrap())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let notifier_url = notifier_config.database_url.clone();
    let notifier_store = tokio::task::spawn_blocking(move || NotifierStore::open(&notifier_url, 4))
        .await
        .unwrap()
        .unwrap();
    let key_store = store.clone();
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&key_store, "Test app")
    })
    .await
    .unwrap()
    .unwrap()
    .key;
    let mut world = World {
        address,
        key,
        client: reqwest::Client::new(),
        store,
        notifier_store,
        sink,
        notifier: None,
        notifier_config,
        channel,
        amqp,
        exchange,
        queue,
        captured,
        db: Some(db),
    };
    world.start_notifier().await;
    world
}

impl World {
    async fn start_notifier(&mut self) {
        let sink = Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
            url: amqp_url(),
            exchange: self.exchange.clone(),
            connect_timeout: Duration::from_secs(10),
        })));
        let notifier = Notifier::start(
            self.notifier_config.clone(),
            self.notifier_store.clone(),
            EventSource::Amqp,
            sink,
        )
        .unwrap();
        eventually("the notifier to consume", || notifier.health.is_connected()).await;
        self.notifier = Some(notifier);
    }

    /// Waits until the notifier has consumed `events` events (since its start) and has
    /// nothing left to send, then checks that exactly `mails` mails arrived: proof that a
    /// (re)delivered event was consumed, not merely that nothing happened in time.
    async fn drained(&self, events: u64, mails: usize) {
        let notifier = self.notifier.as_ref().expect("a running notifier");
        for _ in 0..400 {
            let store = self.notifier_store.clone();
            let open = tokio::task::spawn_blocking(move || store.open_deliveries())
                .await
                .unwrap()
                .unwrap();
            if notifier.events_handled() >= events && open == 0 {
                assert_eq!(
                    self.sink.count(),
                    mails,
                    "mails once everything was handled"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the notifier did not drain: {} events handled",
            notifier.events_handled()
        );
    }

    /// Delivery status of one message, by recipient: (status, SMTP reply).
    async fn deliveries(&self, id: &str, seq: u64) -> HashMap<String, (String, Option<String>)> {
        let store = self.notifier_store.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || store.deliveries_for_message(&id, seq))
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|d| (d.recipient, (d.status.as_str().to_owned(), d.smtp_reply)))
            .collect()
    }

    fn stop_notifier(&mut self) {
        if let Some(n) = self.notifier.take() {
            n.stop();
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// A three-person conversation; returns its id and each participant's reply address.
    async fn three_people(&self) -> (String, HashMap<String, String>) {
        let created = self
            .post(
                "/api/v1/conversations",
                json!({
                    "sender": {"email": "hugo@example.com", "name": "Hugo"},
                    "to": [{"email": "fred@example.com", "name": "Fred"}, "ann@example.com"],
                    "subject": "Example message",
                    "text": "this is a message"
                }),
            )
            .await;
        let c = &created["conversation"];
        let replies = c["participant_details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["email"].as_str().unwrap().to_owned(),
                    p["reply_to"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (c["id"].as_str().unwrap().to_owned(), replies)
    }

    /// The next captured event of this type, as published.
    async fn next_event(&mut self, kind: &str) -> Vec<u8> {
        loop {
            let delivery = tokio::time::timeout(Duration::from_secs(20), self.captured.next())
                .await
                .expect("an event")
                .unwrap()
                .unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            if delivery.routing_key.as_str() == kind {
                return delivery.data;
            }
        }
    }

    /// The first captured event of each of these types, whatever order they come in.
    async fn events_of(&mut self, kinds: &[&str]) -> HashMap<String, Vec<u8>> {
        let mut found = HashMap::new();
        while found.len() < kinds.len() {
            let delivery = tokio::time::timeout(Duration::from_secs(20), self.captured.next())
                .await
                .expect("an event")
                .unwrap()
                .unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            let kind = delivery.routing_key.as_str().to_owned();
            if kinds.contains(&kind.as_str()) {
                found.entry(kind).or_insert(delivery.data);
            }
        }
        found
    }

    /// Publishes bytes as RabbitMQ would (re)deliver an event.
    async fn publish(&self, routing_key: &str, payload: &[u8]) {
        self.channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    fn mails_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.sink
            .received()
            .into_iter()
            .filter(|m| m.rcpt_to == [address])
            .collect()
    }

    async fn cleanup(mut self) {
        self.stop_notifier();
        for queue in [format!("{}.dead-letter", self.queue), self.queue.clone()] {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [format!("{}.dead-letter", self.queue), self.exchange.clone()] {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = self.amqp.close(200, "done".into()).await;
        let db = self.db.take();
        tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let mut check = move || std::future::ready(check().then_some(()));
    conversations_test_support::eventually(what, Duration::from_secs(15), &mut check).await;
}

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
