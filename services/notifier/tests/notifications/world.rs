//! The world every notifier test runs in: conversation-api and the notifier on a fresh
//! PostgreSQL database and RabbitMQ exchange, with an SMTP sink and a listener on the
//! exchange, and what the tests ask of it.

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
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection as AmqpConnection, ConnectionProperties};
use notifier::{EventSource, Notifier, NotifierConfig, NotifierStore};
use serde_json::{Value, json};

const SECRET: &str = "notifier-test-secret-notifier-test-secret";

/// conversation-api + notifier + SMTP sink + a listener on the exchange, all owned by one test.
pub struct World {
    pub address: String,
    pub key: String,
    pub client: reqwest::Client,
    #[allow(dead_code)]
    pub store: Store,
    pub notifier_store: NotifierStore,
    pub sink: SmtpSink,
    pub notifier: Option<Notifier>,
    pub notifier_config: NotifierConfig,
    pub channel: Channel,
    pub amqp: AmqpConnection,
    pub exchange: String,
    pub queue: String,
    pub captured: lapin::Consumer,
    pub db: Option<TestDatabase>,
}

pub async fn world() -> World {
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
    pub async fn start_notifier(&mut self) {
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
    pub async fn drained(&self, events: u64, mails: usize) {
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
    pub async fn deliveries(
        &self,
        id: &str,
        seq: u64,
    ) -> HashMap<String, (String, Option<String>)> {
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

    pub fn stop_notifier(&mut self) {
        if let Some(n) = self.notifier.take() {
            n.stop();
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
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

    pub async fn get(&self, path: &str) -> Value {
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
    pub async fn three_people(&self) -> (String, HashMap<String, String>) {
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
    pub async fn next_event(&mut self, kind: &str) -> Vec<u8> {
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
    pub async fn events_of(&mut self, kinds: &[&str]) -> HashMap<String, Vec<u8>> {
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
    pub async fn publish(&self, routing_key: &str, payload: &[u8]) {
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

    pub fn mails_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.sink
            .received()
            .into_iter()
            .filter(|m| m.rcpt_to == [address])
            .collect()
    }

    pub async fn cleanup(mut self) {
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

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let mut check = move || std::future::ready(check().then_some(()));
    conversations_test_support::eventually(what, Duration::from_secs(15), &mut check).await;
}
