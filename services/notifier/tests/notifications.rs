//! The notifier end to end: conversation-api publishes through a real RabbitMQ, the
//! notifier consumes its own durable queue and sends through a real SMTP server (the
//! test-support sink, over TCP), recording deliveries in a fresh PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use conversation_api::{Application, Config};
use conversations_store::Store;
use conversations_test_support::{ReceivedMail, SmtpSink, TestDatabase, amqp_url};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection as AmqpConnection, ConnectionProperties};
use notifier::{EventSource, Notifier, NotifierConfig};
use serde_json::{Value, json};
use tokio::sync::Notify;

const SECRET: &str = "notifier-test-secret-notifier-test-secret";

/// conversation-api + notifier + SMTP sink + a listener on the exchange, all owned by one test.
struct World {
    address: String,
    key: String,
    client: reqwest::Client,
    store: Store,
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
    for key in ["message_posted", "notification_failed"] {
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
    let relay_wake = app.relay_wake();
    tokio::spawn(app.run_until_stopped());
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
    world.start_notifier(relay_wake).await;
    world
}

impl World {
    async fn start_notifier(&mut self, relay_wake: Arc<Notify>) {
        let notifier = Notifier::start(
            self.notifier_config.clone(),
            self.store.clone(),
            EventSource::Amqp,
            relay_wake,
        )
        .unwrap();
        eventually("the notifier to consume", || notifier.health.is_connected()).await;
        self.notifier = Some(notifier);
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
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits a moment and checks that nothing more arrives.
async fn settle(sink: &SmtpSink, expected: usize) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.count(), expected, "unexpected extra mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_in_a_three_person_conversation_sends_two_masked_threaded_mails() {
    let w = world().await;
    let (id, reply_to) = w.three_people().await;
    eventually("two mails", || w.sink.count() >= 2).await;
    settle(&w.sink, 2).await;
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
    let deliveries = w
        .get(&format!("/api/v1/conversations/{id}/1/deliveries"))
        .await;
    let statuses: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["sent", "sent"]);
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_and_a_restart_before_the_ack_send_no_second_mail() {
    let mut w = world().await;
    w.three_people().await;
    let event = w.next_event("message_posted").await;
    eventually("two mails", || w.sink.count() >= 2).await;
    // The same event again, as RabbitMQ redelivers it.
    w.publish("message_posted", &event).await;
    settle(&w.sink, 2).await;
    // The notifier dies and its unacknowledged event comes back to the next one.
    w.stop_notifier();
    w.publish("message_posted", &event).await;
    w.start_notifier(Arc::new(Notify::new())).await;
    settle(&w.sink, 2).await;
    w.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_smtp_failures_retry_and_permanent_ones_fail_only_that_recipient() {
    let mut w = world().await;
    w.sink.fail_next_data("451 4.3.0 try again later");
    w.sink
        .reject_recipient("ann@example.com", "550 5.1.1 user unknown");
    let (id, _) = w.three_people().await;
    eventually("fred's mail after the retry", || {
        w.mails_to("fred@example.com").len() == 1
    })
    .await;
    settle(&w.sink, 1).await;
    assert!(
        w.sink.data_commands() >= 2,
        "the 451 was answered and the mail sent again"
    );
    let deliveries = w
        .get(&format!("/api/v1/conversations/{id}/1/deliveries"))
        .await;
    let by_recipient: HashMap<&str, &Value> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["recipient"].as_str().unwrap(), d))
        .collect();
    assert_eq!(by_recipient["fred@example.com"]["status"], "sent");
    assert_eq!(by_recipient["ann@example.com"]["status"], "failed");
    assert!(
        by_recipient["ann@example.com"]["smtp_reply"]
            .as_str()
            .unwrap()
            .contains("550")
    );
    let failed = w.next_event("notification_failed").await;
    let envelope = conversations_events::decode(&failed).unwrap();
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
    let w = world().await;
    let (id, _) = w.three_people().await;
    eventually("first mails", || w.sink.count() >= 2).await;
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
    eventually("fred's mail", || w.sink.count() >= 1).await;
    settle(&w.sink, 1).await;
    assert_eq!(w.mails_to("fred@example.com").len(), 1);
    assert!(w.mails_to("ann@example.com").is_empty());
    let deliveries = w
        .get(&format!("/api/v1/conversations/{id}/2/deliveries"))
        .await;
    let ann = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["recipient"] == "ann@example.com")
        .unwrap();
    assert_eq!(ann["status"], "muted");
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
