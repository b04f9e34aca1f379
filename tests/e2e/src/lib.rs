//! The split system as an operator runs it, for end-to-end tests: conversation-api,
//! metadata-query and the notifier as their own processes (the binaries `cargo build`
//! makes), each with its own PostgreSQL database, talking over a uniquely named exchange
//! of the real RabbitMQ (through a proxy the test can cut), mailing a real SMTP server.
//!
//! The binaries are taken from the target directory this test runs from; `scripts/test`
//! builds them (`cargo build --workspace --bins`) before running the tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod gateway;
mod inspect;
pub mod otlp;
pub mod postfix;
mod service;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use conversations_test_support::{SmtpSink, TcpProxy, TestDatabase, amqp_addr, amqp_url};
use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};

pub use conversations_test_support::eventually;
use service::free_addr;
pub use service::{Service, binary};

/// The services' `REPLY_SECRET` (tests sign their own links and addresses with it).
pub const REPLY_SECRET: &str = "e2e-reply-secret-e2e-reply-secret-e2e-reply";
const TOKEN_SECRET: &str = "e2e-token-secret-e2e-token-secret-e2e-token";
const FEED_TOKEN: &str = "e2e-feed-token-e2e-feed-token-e2e-feed-token";
const INTERNAL_TOKEN: &str = "e2e-internal-token-e2e-internal-token-e2e";

/// What a test can tune.
#[derive(Debug, Clone)]
pub struct Options {
    /// SMTP connections of the notifier.
    pub smtp_connections: usize,
    /// How long the SMTP server takes to accept each mail.
    pub smtp_delay: Duration,
    /// More environment for every service (tracing settings, say).
    pub env: Vec<(&'static str, String)>,
    /// The services reach RabbitMQ directly, not through the proxy tests cut (the
    /// benchmark: the proxy would cost CPU in the measuring process).
    pub direct_broker: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            smtp_connections: 4,
            smtp_delay: Duration::ZERO,
            env: Vec::new(),
            direct_broker: false,
        }
    }
}

/// The running system.
pub struct System {
    /// conversation-api.
    pub api: Service,
    /// metadata-query.
    pub metadata: Service,
    /// The notifier.
    pub notifier: Service,
    /// inbound-mail.
    pub inbound: Service,
    /// The mail server every notification goes to.
    pub sink: SmtpSink,
    /// The path between every service and RabbitMQ.
    pub broker: TcpProxy,
    /// The application's API key.
    pub key: String,
    /// metadata-query's metrics server (`METRICS_ADDR`; not on its HTTP port then).
    pub metadata_metrics: String,
    /// The notifier's metrics server (`METRICS_ADDR`).
    pub notifier_metrics: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    exchange: String,
    queues: Vec<String>,
    logs: PathBuf,
    database_urls: Vec<String>,
    _databases: Vec<TestDatabase>,
}

impl System {
    /// Creates the databases, names, sink and proxy, and starts all three services.
    pub async fn start(options: Options) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let exchange = format!("e2e.events.{suffix}");
        let notifier_queue = format!("e2e.notifier.{suffix}");
        let inbound_queue = format!("e2e.inbound.{suffix}");
        let metadata_queue = format!("e2e.metadata.{suffix}");
        let databases = tokio::task::spawn_blocking(|| {
            [
                "conv_e2e_api",
                "conv_e2e_notifier",
                "conv_e2e_metadata",
                "conv_e2e_inbound",
            ]
            .map(|name| TestDatabase::create(name).unwrap())
        })
        .await
        .unwrap();
        let urls: Vec<String> = databases.iter().map(|d| d.url().to_owned()).collect();
        let upstream = amqp_url();
        let broker = TcpProxy::start(amqp_addr(&upstream).expect("TEST_AMQP_URL host"))
            .await
            .unwrap();
        let amqp = if options.direct_broker {
            upstream.clone()
        } else {
            proxied(&upstream, broker.port())
        };
        let sink = SmtpSink::start().await.unwrap();
        sink.slow_down(options.smtp_delay);
        let logs = std::env::temp_dir().join(format!("conversations-e2e-{suffix}"));
        std::fs::create_dir_all(&logs).unwrap();
        // Shown with the test's output when it fails.
        eprintln!("service logs: {}", logs.display());

        let api_addr = free_addr();
        let api_base = format!("http://{api_addr}");
        let api = Service::new(
            "conversation-api",
            &logs,
            vec![
                ("DATABASE_URL", urls[0].clone()),
                ("HTTP_ADDR", api_addr),
                ("PUBLIC_URL", "https://app.example.com".to_owned()),
                ("AMQP_URL", amqp.clone()),
                ("AMQP_EXCHANGE", exchange.clone()),
                ("REPLY_SECRET", REPLY_SECRET.to_owned()),
                ("REPLY_DOMAIN", "reply.example.com".to_owned()),
                ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
                ("FEED_TOKEN", FEED_TOKEN.to_owned()),
                ("INTERNAL_TOKEN", INTERNAL_TOKEN.to_owned()),
            ]
            .into_iter()
            .chain(options.env.iter().cloned())
            .collect(),
            Some(api_base.clone()),
        );
        let inbound_addr = free_addr();
        let inbound = Service::new(
            "inbound-mail",
            &logs,
            vec![
                ("INBOUND_DATABASE_URL", urls[3].clone()),
                ("INBOUND_HTTP_ADDR", inbound_addr.clone()),
                ("AMQP_URL", amqp.clone()),
                ("AMQP_EXCHANGE", exchange.clone()),
                ("REPLY_SECRET", REPLY_SECRET.to_owned()),
                ("REPLY_DOMAIN", "reply.example.com".to_owned()),
                ("INTERNAL_TOKEN", INTERNAL_TOKEN.to_owned()),
                ("CONVERSATION_API_URL", api_base.clone()),
                ("INBOUND_QUEUE", inbound_queue.clone()),
            ]
            .into_iter()
            .chain(options.env.iter().cloned())
            .collect(),
            Some(format!("http://{inbound_addr}")),
        );
        let metadata_addr = free_addr();
        let metadata_metrics = free_addr();
        let notifier_metrics = free_addr();
        let metadata = Service::new(
            "metadata-query",
            &logs,
            vec![
                ("METADATA_DATABASE_URL", urls[2].clone()),
                ("METADATA_HTTP_ADDR", metadata_addr.clone()),
                ("PUBLIC_URL", "https://app.example.com".to_owned()),
                ("AMQP_URL", amqp.clone()),
                ("AMQP_EXCHANGE", exchange.clone()),
                ("METADATA_QUEUE", metadata_queue.clone()),
                ("METRICS_ADDR", metadata_metrics.clone()),
                ("FEED_URL", api_base),
                ("FEED_TOKEN", FEED_TOKEN.to_owned()),
                ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
            ]
            .into_iter()
            .chain(options.env.iter().cloned())
            .collect(),
            Some(format!("http://{metadata_addr}")),
        );
        let notifier = Service::new(
            "notifier",
            &logs,
            vec![
                ("NOTIFIER_DATABASE_URL", urls[1].clone()),
                ("AMQP_URL", amqp),
                ("AMQP_EXCHANGE", exchange.clone()),
                ("NOTIFIER_QUEUE", notifier_queue.clone()),
                ("METRICS_ADDR", notifier_metrics.clone()),
                ("SMTP_URL", sink.url()),
                ("SMTP_CONNECTIONS", options.smtp_connections.to_string()),
                ("REPLY_SECRET", REPLY_SECRET.to_owned()),
                ("REPLY_DOMAIN", "reply.example.com".to_owned()),
                ("PUBLIC_URL", "https://app.example.com".to_owned()),
                ("NOTIFIER_CLAIM_TIMEOUT_SECS", "3".to_owned()),
            ]
            .into_iter()
            .chain(options.env.iter().cloned())
            .collect(),
            None,
        );
        let key = create_app(&urls[0]).await;
        let urls = urls.clone();
        let system = Self {
            api,
            metadata,
            notifier,
            inbound,
            sink,
            broker,
            key,
            metadata_metrics: format!("http://{metadata_metrics}"),
            notifier_metrics: format!("http://{notifier_metrics}"),
            client: reqwest::Client::new(),
            exchange,
            queues: vec![notifier_queue, metadata_queue, inbound_queue],
            logs,
            database_urls: urls,
            _databases: databases.into(),
        };
        system.api.start().await;
        system.metadata.start().await;
        system.notifier.start().await;
        system.inbound.start().await;
        system.wait_for_queues().await;
        system
    }

    /// Both consumers' queues exist (declared by the services themselves), so nothing
    /// published from now on can miss them.
    async fn wait_for_queues(&self) {
        let connection =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
                .await
                .unwrap();
        for queue in &self.queues {
            eventually(
                &format!("queue {queue}"),
                Duration::from_secs(30),
                || async {
                    let channel = connection.create_channel().await.ok()?;
                    channel
                        .queue_declare(
                            queue.as_str().into(),
                            QueueDeclareOptions {
                                passive: true,
                                ..Default::default()
                            },
                            FieldTable::default(),
                        )
                        .await
                        .ok()
                        .map(|_| ())
                },
            )
            .await;
        }
        let _ = connection.close(200, "ok".into()).await;
    }

    /// conversation-api's base URL.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api.base.as_deref().unwrap_or_default())
    }

    /// metadata-query's base URL.
    pub fn metadata_url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.metadata.base.as_deref().unwrap_or_default()
        )
    }

    /// A two-person conversation between `seller{n}` and `buyer{n}` with a first message.
    pub async fn create(&self, n: usize) -> String {
        let r = self
            .client
            .post(self.api_url("/api/v1/conversations"))
            .bearer_auth(&self.key)
            .json(&json!({
                "sender": {"email": format!("seller{n}@example.com"), "name": format!("Seller {n}")},
                "to": [format!("buyer{n}@example.com")],
                "subject": format!("Order {n}"),
                "text": format!("hello buyer {n}")
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        body["conversation"]["id"].as_str().unwrap().to_owned()
    }

    /// GET on metadata-query with the API key; `None` unless 200.
    pub async fn read(&self, path: &str) -> Option<Value> {
        let r = self
            .client
            .get(self.metadata_url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    }

    /// Messages committed in each conversation (from conversation-api).
    pub async fn message_counts(&self, ids: &[String]) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        for id in ids {
            let c: Value = self
                .client
                .get(self.api_url(&format!("/api/v1/conversations/{id}?limit=1")))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            counts.insert(
                id.clone(),
                c["conversation"]["message_count"].as_u64().unwrap(),
            );
        }
        counts
    }

    /// Distinct notifications received (by Message-ID), and all of them.
    pub fn mails(&self) -> (HashSet<String>, usize) {
        let mails = self.sink.received();
        let ids = mails
            .iter()
            .map(|m| m.header("Message-ID").expect("a Message-ID"))
            .collect();
        (ids, mails.len())
    }

    /// Unread count of conversation `id` in buyer `n`'s inbox, per metadata-query.
    pub async fn buyer_unread(&self, n: usize, id: &str) -> Option<u64> {
        let contact = self
            .read(&format!("/api/v1/contacts?email=buyer{n}@example.com"))
            .await?;
        let contact = contact["id"].as_str()?.to_owned();
        let page = self
            .read(&format!("/api/v1/contacts/{contact}/conversations"))
            .await?;
        page["@items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == id)?["unread"]
            .as_u64()
    }

    /// Posts from `tasks` clients, each seller into their own conversation, until `stop`
    /// is set; a refused or failed request is retried after a pause (the service may be
    /// restarting). Returns how many posts were accepted.
    pub async fn burst(
        self: &Arc<Self>,
        ids: &[String],
        tasks: usize,
        stop: Arc<AtomicBool>,
        accepted: Arc<AtomicUsize>,
    ) -> usize {
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (system, ids, stop, accepted) =
                (self.clone(), ids.to_vec(), stop.clone(), accepted.clone());
            handles.push(tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let n = i % ids.len();
                    i += tasks;
                    let posted = system
                        .client
                        .post(system.api_url(&format!("/api/v1/conversations/{}", ids[n])))
                        .bearer_auth(&system.key)
                        .json(&json!({"sender": format!("seller{n}@example.com"), "text": format!("post {i}")}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match posted {
                        Ok(r) if r.status() == 201 => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        accepted.load(Ordering::Relaxed)
    }

    /// `n` two-person conversations (`create(0)` … `create(n - 1)`).
    pub async fn conversations(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(self.create(i).await);
        }
        ids
    }

    /// Starts posting into `ids` from 4 clients in the background (see [`System::burst`]).
    pub fn start_burst(self: &Arc<Self>, ids: &[String]) -> Burst {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (system, ids, flag, count) =
            (self.clone(), ids.to_vec(), stop.clone(), accepted.clone());
        let task = tokio::spawn(async move { system.burst(&ids, 4, flag, count).await });
        Burst {
            stop,
            accepted,
            task,
        }
    }

    /// Stops every service and deletes the exchange and queues (the databases drop with
    /// the system).
    pub async fn cleanup(mut self) {
        // (`mut`: the databases are taken out to be dropped off the runtime.)
        self.notifier.kill().await;
        self.metadata.kill().await;
        self.api.kill().await;
        self.inbound.kill().await;
        if let Ok(connection) =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default()).await
            && let Ok(channel) = connection.create_channel().await
        {
            for queue in &self.queues {
                for name in [format!("{queue}.dead-letter"), queue.clone()] {
                    let _ = channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await;
                    let _ = channel
                        .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
            }
            let _ = channel
                .exchange_delete(
                    self.exchange.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
            let _ = connection.close(200, "done".into()).await;
        }
        // Kept when the test failed before getting here.
        let _ = std::fs::remove_dir_all(&self.logs);
        let databases = std::mem::take(&mut self._databases);
        tokio::task::spawn_blocking(move || drop(databases))
            .await
            .unwrap();
    }
}

/// Posts running in the background.
pub struct Burst {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<usize>,
}

impl Burst {
    /// Waits until `more` further posts have been accepted: the load is in progress
    /// (what the test does next happens in the middle of it, however fast the machine).
    pub async fn progressed(&self, more: usize) {
        let target = self.accepted.load(Ordering::Relaxed) + more;
        eventually("posts to be accepted", Duration::from_secs(60), || async {
            (self.accepted.load(Ordering::Relaxed) >= target).then_some(())
        })
        .await;
    }

    /// Stops posting; returns how many posts were accepted.
    pub async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// The AMQP URL with its host and port replaced by the proxy's.
fn proxied(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let credentials = authority
        .rsplit_once('@')
        .map(|(c, _)| format!("{c}@"))
        .unwrap_or_default();
    format!("{scheme}://{credentials}127.0.0.1:{port}/{path}")
}

/// Creates the application with the all-in-one's admin command, as an operator does.
async fn create_app(database_url: &str) -> String {
    let out = tokio::process::Command::new(binary("conversations"))
        .args(["admin", "create-app", "--name", "E2E shop"])
        .env("DATABASE_URL", database_url)
        .env("REPLY_SECRET", REPLY_SECRET)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "create-app failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_url_keeps_credentials_and_vhost() {
        assert_eq!(
            proxied("amqp://guest:guest@127.0.0.1:5672/%2f", 4000),
            "amqp://guest:guest@127.0.0.1:4000/%2f"
        );
    }
}
