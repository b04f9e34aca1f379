//! The transactional outbox and its relay against a real RabbitMQ, reached through a TCP
//! proxy the test can start late and cut, to play "broker unreachable" and "broker gone".

use std::collections::HashMap;
use std::time::Duration;

use conversations_events::v1::envelope::Payload;
use conversations_test_support::{TcpProxy, amqp_addr};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde_json::json;

use crate::helpers::{Db, Options, amqp_url, spawn_app, spawn_app_with};
use crate::on_both_backends;

/// A proxy to the test RabbitMQ on `port`.
async fn proxy_on(port: u16) -> TcpProxy {
    let upstream = amqp_addr(&amqp_url()).expect("TEST_AMQP_URL names a host and port");
    TcpProxy::start_on(port, upstream).await.unwrap()
}

use conversations_test_support::free_port;

/// A queue bound to every event of a test's own exchange.
struct Listener {
    connection: Connection,
    exchange: String,
    consumer: lapin::Consumer,
}

impl Listener {
    async fn bind(exchange: &str) -> Self {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ must run on 127.0.0.1:5672 (scripts/test starts it)");
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = channel
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
        channel
            .queue_bind(
                queue.name().clone(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Self {
            connection,
            exchange: exchange.to_owned(),
            consumer,
        }
    }

    /// Receives until `n` events arrived, then waits a little for any extra one.
    async fn receive(&mut self, n: usize) -> Vec<(String, conversations_events::v1::Envelope)> {
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let wait = if events.len() >= n {
                Duration::from_millis(800)
            } else {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            };
            match tokio::time::timeout(wait, self.consumer.next()).await {
                Ok(Some(Ok(delivery))) => {
                    let envelope = conversations_events::decode(&delivery.data)
                        .expect("event decodes with the proto schema");
                    let routing_key = delivery.routing_key.to_string();
                    assert_eq!(
                        delivery.properties.delivery_mode(),
                        &Some(2),
                        "events are persistent"
                    );
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                    events.push((routing_key, envelope));
                }
                _ => break,
            }
        }
        events
    }

    async fn close(self) {
        let channel = self.connection.create_channel().await.unwrap();
        let _ = channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Each conversation's events arrive exactly once, with `conversation_seq` 1, 2, 3 …
fn assert_exactly_once_in_order(events: &[(String, conversations_events::v1::Envelope)]) {
    let mut ids = std::collections::HashSet::new();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for (routing_key, e) in events {
        if e.r#type == "application_key_issued" {
            // Not part of any conversation's history (conversation_seq 0).
            assert_eq!(e.conversation_seq, 0);
            assert!(ids.insert(e.event_id.clone()));
            continue;
        }
        assert!(
            ids.insert(e.event_id.clone()),
            "event {} arrived twice",
            e.event_id
        );
        assert_eq!(routing_key, &e.r#type, "routing key is the event type");
        let last = last_seq.entry(e.conversation_id.clone()).or_insert(0);
        assert_eq!(
            e.conversation_seq,
            *last + 1,
            "conversation {} out of order",
            e.conversation_id
        );
        *last = e.conversation_seq;
    }
}

async fn events_wait_for_an_unreachable_broker_and_then_arrive_once_in_order(db: Db) {
    let exchange = format!("test.events.{}", uuid::Uuid::new_v4().simple());
    let mut listener = Listener::bind(&exchange).await;
    let port = free_port();
    let app = spawn_app_with(
        db,
        Options {
            amqp_url: Some(format!("amqp://guest:guest@127.0.0.1:{port}/%2f")),
            exchange: Some(exchange.clone()),
            ..Options::default()
        },
    )
    .await;

    // Nothing listens on the relay's port: writes still succeed and the events wait.
    let a = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "one")
        .await;
    let b = app
        .create_conversation("ann@example.com", &["bob@example.com"], "other")
        .await;
    for text in ["two", "three"] {
        let r = app
            .post_json(
                &format!("/api/v1/conversations/{a}"),
                &json!({"sender": "fred@example.com", "text": text}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    // Still ready (posts are accepted and wait in the outbox); the broker and the backlog
    // are reported for operators.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a broker outage does not make the API unready"
    );
    let health: serde_json::Value = ready.json().await.unwrap();
    assert!(
        health["broker"]
            .as_str()
            .unwrap()
            .starts_with("unreachable")
    );
    assert!(health["outbox"]["unpublished"].as_i64().unwrap() >= 2);
    // The application's key, then created + 2 participants + message = 4 per new
    // conversation, + 2 messages.
    let expected = 1 + 4 + 4 + 2;
    assert_eq!(app.counts().await.outbox, expected as i64);

    // The broker becomes reachable: the relay reconnects by itself.
    let proxy = proxy_on(port).await;
    let events = listener.receive(expected).await;
    assert_eq!(events.len(), expected);
    assert_exactly_once_in_order(&events);
    let posted: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e.conversation_id == a)
        .filter_map(|(_, e)| match &e.payload {
            Some(Payload::MessagePosted(m)) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(posted, ["one", "two", "three"]);
    assert!(events.iter().any(|(_, e)| e.conversation_id == b));
    let message = events
        .iter()
        .find_map(|(_, e)| match &e.payload {
            Some(Payload::MessagePosted(m)) if e.conversation_id == a => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(message.recipients.len(), 1);
    assert_eq!(message.recipients[0].email, "fred@example.com");
    assert!(
        message.recipients[0]
            .reply_address
            .ends_with("@reply.example.com")
    );
    assert_eq!(message.conversation.unwrap().subject, "Test");

    // The broker goes away again (connections cut) and comes back: nothing is lost.
    proxy.cut();
    drop(proxy);
    let r = app
        .post_json(
            &format!("/api/v1/conversations/{a}"),
            &json!({"sender": "hugo@example.com", "text": "four"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let _proxy = proxy_on(port).await;
    let more = listener.receive(1).await;
    assert_eq!(more.len(), 1);
    let mut all = events;
    all.extend(more);
    assert_exactly_once_in_order(&all);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    listener.close().await;
}
on_both_backends!(events_wait_for_an_unreachable_broker_and_then_arrive_once_in_order);

async fn the_in_process_bus_announces_every_committed_event_in_the_outbox(db: Db) {
    let app = spawn_app(db).await;
    let mut head = app.bus.as_ref().unwrap().subscribe();
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let outbox = app.store.outbox();
    let mut types = Vec::new();
    let mut after = 0;
    while types.len() < 4 {
        // Wait for the relay to announce more, then read the outbox like a consumer.
        if *head.borrow_and_update() <= after {
            tokio::time::timeout(Duration::from_secs(10), head.changed())
                .await
                .unwrap()
                .unwrap();
        }
        let feed = outbox.clone();
        let rows = tokio::task::spawn_blocking(move || feed.events_after(after, 100))
            .await
            .unwrap()
            .unwrap();
        for row in rows {
            assert_eq!(row.position, after + 1, "positions have no gaps");
            after = row.position;
            let envelope = conversations_events::decode(&row.payload).unwrap();
            if envelope.r#type == "application_key_issued" {
                continue;
            }
            assert_eq!(envelope.conversation_id, id);
            types.push(envelope.r#type);
        }
    }
    assert_eq!(
        types,
        [
            "conversation_created",
            "participant_added",
            "participant_added",
            "message_posted"
        ]
    );
}
on_both_backends!(the_in_process_bus_announces_every_committed_event_in_the_outbox);
