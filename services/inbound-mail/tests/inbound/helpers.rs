//! The world of an inbound-mail test: conversation-api, the notifier and inbound-mail on a
//! fresh PostgreSQL database and their own RabbitMQ exchange and queues, an SMTP sink that
//! receives the notifications (whose `Reply-To` and `Message-ID` the tests answer, as a
//! person's mail client would), and a proxy in front of conversation-api that a test can
//! take away.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use conversation_api::{Application, Config};
use conversations_bus::{AmqpConfig, AmqpSink, Sink};
use conversations_test_support::{ReceivedMail, SmtpSink, TcpProxy, TestDatabase, amqp_url};
use inbound_mail::InboundConfig;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection as AmqpConnection, ConnectionProperties};
use notifier::{EventSource, Notifier, NotifierConfig, NotifierStore};
use serde_json::{Value, json};

pub const SECRET: &str = "inbound-test-secret-inbound-test-secret";
pub const INTERNAL: &str = "inbound-internal-token-inbound-internal";
pub const DOMAIN: &str = "reply.example.com";

pub struct World {
    pub api: String,
    pub inbound: String,
    pub key: String,
    pub client: reqwest::Client,
    pub sink: SmtpSink,
    pub notifier_store: NotifierStore,
    pub api_addr: SocketAddr,
    pub proxy: Option<TcpProxy>,
    pub proxy_port: u16,
    notifier: Notifier,
    inbound_server: tokio::task::JoinHandle<std::io::Result<()>>,
    inbound_handle: actix_web::dev::ServerHandle,
    exchange: String,
    queue: String,
    inbound_queue: String,
    db: Option<TestDatabase>,
}

/// A conversation between Ann and Bob, with the notification Bob got.
pub struct Thread {
    pub id: String,
    pub notification: ReceivedMail,
}

pub async fn world(extra: &[(&'static str, &str)]) -> World {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("test.events.{suffix}");
    let queue = format!("test.notifier.{suffix}");
    let inbound_queue = format!("test.inbound.{suffix}");
    let db = tokio::task::spawn_blocking(|| TestDatabase::create("conv_inbound"))
        .await
        .unwrap()
        .unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let api_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api_addr = api_listener.local_addr().unwrap();
    let proxy = TcpProxy::start(api_addr).await.unwrap();
    let proxy_port = proxy.port();
    let mut env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url().to_owned()),
        ("AMQP_URL", amqp_url()),
        ("AMQP_EXCHANGE", exchange.clone()),
        ("NOTIFIER_QUEUE", queue.clone()),
        ("INBOUND_QUEUE", inbound_queue.clone()),
        ("REPLY_SECRET", SECRET.to_owned()),
        ("REPLY_DOMAIN", DOMAIN.to_owned()),
        ("INTERNAL_TOKEN", INTERNAL.to_owned()),
        ("PUBLIC_URL", "https://app.example.com".to_owned()),
        ("SMTP_URL", sink.url()),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
        (
            "CONVERSATION_API_URL",
            format!("http://127.0.0.1:{proxy_port}"),
        ),
        ("CONVERSATION_API_TIMEOUT_MS", "3000".to_owned()),
    ]);
    for (k, v) in extra {
        env.insert(k, (*v).to_owned());
    }
    let lookup = |k: &str| env.get(k).cloned();
    let app = Application::build_with_listener(Config::from_lookup(lookup).unwrap(), api_listener)
        .await
        .unwrap();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&store, "Shop")
    })
    .await
    .unwrap()
    .unwrap()
    .key;

    let notifier_config = NotifierConfig::from_lookup(lookup).unwrap();
    let url = notifier_config.database_url.clone();
    let notifier_store = tokio::task::spawn_blocking(move || NotifierStore::open(&url, 4))
        .await
        .unwrap()
        .unwrap();
    let notifier = Notifier::start(
        notifier_config,
        notifier_store.clone(),
        EventSource::Amqp,
        amqp_sink(&exchange),
    )
    .unwrap();
    let connected = || std::future::ready(notifier.health.is_connected().then_some(()));
    conversations_test_support::eventually(
        "the notifier to consume",
        Duration::from_secs(15),
        connected,
    )
    .await;

    let inbound_config = InboundConfig::from_lookup(lookup).unwrap();
    let inbound_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let inbound_port = inbound_listener.local_addr().unwrap().port();
    let server = inbound_mail::Server::build(inbound_config.clone(), inbound_listener)
        .await
        .unwrap();
    let inbound_handle = server.handle();
    let inbound_server = tokio::spawn(server.run_until_stopped());
    World {
        api: format!("http://{api_addr}"),
        inbound: format!("http://127.0.0.1:{inbound_port}"),
        key,
        client: reqwest::Client::new(),
        sink,
        notifier_store,
        api_addr,
        proxy: Some(proxy),
        proxy_port,
        notifier,
        inbound_server,
        inbound_handle,
        exchange,
        queue,
        inbound_queue,
        db: Some(db),
    }
}

fn amqp_sink(exchange: &str) -> Sink {
    Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
        url: amqp_url(),
        exchange: exchange.to_owned(),
        connect_timeout: Duration::from_secs(10),
    })))
}

impl World {
    /// Ann writes to Bob; waits for Bob's notification.
    pub async fn thread(&self, text: &str) -> Thread {
        let response = self
            .client
            .post(format!("{}/api/v1/conversations", self.api))
            .bearer_auth(&self.key)
            .json(&json!({
                "sender": {"email": "ann@example.com", "name": "Ann"},
                "to": [{"email": "bob@example.com", "name": "Bob"}],
                "subject": "Your order",
                "text": text,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        let id = body["conversation"]["id"].as_str().unwrap().to_owned();
        let notification = self.mail_to("bob@example.com", &id, 1).await;
        Thread { id, notification }
    }

    /// Waits for the `n`-th mail to `address` whose text contains `needle`.
    pub async fn mail_to(&self, address: &str, needle: &str, n: usize) -> ReceivedMail {
        let find = || {
            let found: Vec<ReceivedMail> = self
                .sink
                .received()
                .into_iter()
                .filter(|m| m.rcpt_to == [address] && m.text().contains(needle))
                .collect();
            std::future::ready(found.get(n - 1).cloned())
        };
        conversations_test_support::eventually(
            &format!("mail {n} to {address} mentioning {needle}"),
            Duration::from_secs(20),
            find,
        )
        .await
    }

    /// The conversation as the application sees it.
    pub async fn conversation(&self, id: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/v1/conversations/{id}", self.api))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["conversation"].clone()
    }

    /// Posts a raw mail to the intake.
    pub async fn post_mail(&self, raw: &str, recipient: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/inbound/mail", self.inbound))
            .header("content-type", "message/rfc822")
            .body(raw.to_owned());
        if let Some(r) = recipient {
            request = request.query(&[("recipient", r)]);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET on inbound-mail's API with the application's key.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.inbound))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Takes conversation-api away from inbound-mail (the proxy stops listening).
    pub fn cut_api(&mut self) {
        self.proxy = None;
    }

    /// Brings it back on the same port.
    pub async fn restore_api(&mut self) {
        self.proxy = Some(
            TcpProxy::start_on(self.proxy_port, self.api_addr)
                .await
                .unwrap(),
        );
    }

    pub async fn cleanup(mut self) {
        self.notifier.stop();
        // Stopped, not dropped: its queue consumer must be gone before the queue is.
        self.inbound_handle.stop(false).await;
        let _ = self.inbound_server.await;
        if let Ok(amqp) =
            AmqpConnection::connect(&amqp_url(), ConnectionProperties::default()).await
            && let Ok(channel) = amqp.create_channel().await
        {
            for queue in [
                format!("{}.dead-letter", self.queue),
                self.queue.clone(),
                format!("{}.dead-letter", self.inbound_queue),
                self.inbound_queue.clone(),
            ] {
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for exchange in [
                format!("{}.dead-letter", self.queue),
                format!("{}.dead-letter", self.inbound_queue),
                self.exchange.clone(),
            ] {
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = amqp.close(200, "done".into()).await;
        }
        let db = self.db.take();
        tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
    }
}

/// Bob's reply to a notification, as a mail client writes it: to the `Reply-To`, answering
/// the notification's `Message-ID`, with the history quoted below.
pub fn reply_to(notification: &ReceivedMail, from: &str, message_id: &str, text: &str) -> String {
    let reply_to = notification.header("Reply-To").unwrap();
    let reply_to = reply_to
        .rsplit_once('<')
        .map_or(reply_to.as_str(), |(_, r)| r.trim_end_matches('>'))
        .to_owned();
    let answered = notification.header("Message-ID").unwrap();
    format!(
        "From: Bob <{from}>\r\nTo: Shop <{reply_to}>\r\nSubject: Re: Your order\r\nMessage-ID: <{message_id}>\r\nIn-Reply-To: {answered}\r\nReferences: {answered}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nOn Tue, 1 Dec 2026 at 09:00, Ann via Shop <{reply_to}> wrote:\r\n> Where is my parcel?\r\n"
    )
}

/// The reply address in a notification.
pub fn reply_address(notification: &ReceivedMail) -> String {
    let reply_to = notification.header("Reply-To").unwrap();
    reply_to
        .rsplit_once('<')
        .map_or(reply_to.as_str(), |(_, r)| r.trim_end_matches('>'))
        .to_owned()
}
