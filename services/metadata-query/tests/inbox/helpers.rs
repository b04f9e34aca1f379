//! A world per test: conversation-api on a fresh PostgreSQL database publishing to its own
//! exchange on the real RabbitMQ, and a metadata-query replica with its own database and
//! queue, catching up from conversation-api's event feed. Everything is removed at the end.

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use conversations_test_support::{TestDatabase, amqp_url};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection as AmqpConnection, ConnectionProperties};
use serde_json::{Value, json};

pub const REPLY_SECRET: &str = "inbox-test-reply-secret-inbox-test-reply-secret";
pub const TOKEN_SECRET: &str = "inbox-test-token-secret-inbox-test-token-secret";
pub const FEED_TOKEN: &str = "inbox-test-feed-token-inbox-test-feed-token";

/// A fresh database on the test server (blocking work kept off the runtime's workers).
async fn create_database(prefix: &'static str) -> TestDatabase {
    tokio::task::spawn_blocking(move || TestDatabase::create(prefix))
        .await
        .unwrap()
        .unwrap()
}

/// A running metadata-query replica.
pub struct Replica {
    pub address: String,
    pub queue: String,
    db: TestDatabase,
}

pub struct World {
    pub api: String,
    pub key: String,
    pub client: reqwest::Client,
    pub api_store: conversations_store::Store,
    pub exchange: String,
    pub replicas: Vec<Replica>,
    suffix: String,
    api_db: TestDatabase,
    /// Every metadata-query started, to stop before the queues are deleted (a running
    /// consumer declares its queue again).
    running: std::sync::Mutex<Vec<Running>>,
}

type Running = (
    actix_web::dev::ServerHandle,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

pub async fn world() -> World {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let exchange = format!("test.events.{suffix}");
    let api_db = create_database("conv_inbox_api").await;
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", api_db.url().to_owned()),
        ("AMQP_URL", amqp_url()),
        ("AMQP_EXCHANGE", exchange.clone()),
        ("REPLY_SECRET", REPLY_SECRET.to_owned()),
        ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
        ("FEED_TOKEN", FEED_TOKEN.to_owned()),
        ("DATABASE_POOL_SIZE", "4".to_owned()),
    ]);
    let config = conversation_api::Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let app = conversation_api::Application::build_with_listener(
        config,
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();
    let api = format!("http://127.0.0.1:{}", app.port());
    let api_store = app.store();
    tokio::spawn(app.run_until_stopped());
    let mut world = World {
        api,
        key: String::new(),
        client: reqwest::Client::new(),
        api_store,
        exchange,
        replicas: Vec::new(),
        suffix,
        running: std::sync::Mutex::default(),
        api_db,
    };
    // The replica first, so its queue exists before any event is published; the key is
    // then announced on the bus like any other event.
    world.add_replica().await;
    world.key = world.create_app("Shop").await;
    world
}

impl World {
    pub async fn create_app(&self, name: &str) -> String {
        let store = self.api_store.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            conversation_api::admin::create_application(&store, &name)
        })
        .await
        .unwrap()
        .unwrap()
        .key
    }

    /// Starts another metadata-query replica with an empty database and its own queue.
    pub async fn add_replica(&mut self) -> usize {
        let n = self.replicas.len();
        let queue = format!("test.metadata.{n}.{}", self.suffix);
        let db = create_database("conv_inbox_mq").await;
        let address = self.start_replica(db.url(), &queue).await;
        self.replicas.push(Replica { address, queue, db });
        n
    }

    /// Starts a replica that shares replica `of`'s database and queue, as the replicas of
    /// one deployment do (competing consumers); its base URL.
    pub async fn add_competing_replica(&self, of: usize) -> String {
        let (url, queue) = (
            self.replicas[of].db.url().to_owned(),
            self.replicas[of].queue.clone(),
        );
        self.start_replica(&url, &queue).await
    }

    async fn start_replica(&self, database_url: &str, queue: &str) -> String {
        let env: HashMap<&str, String> = HashMap::from([
            ("METADATA_DATABASE_URL", database_url.to_owned()),
            ("AMQP_URL", amqp_url()),
            ("AMQP_EXCHANGE", self.exchange.clone()),
            ("METADATA_QUEUE", queue.to_owned()),
            ("TOKEN_SECRET", TOKEN_SECRET.to_owned()),
            // Each replica keeps its own projection database: they share the key.
            (
                "CONTACT_ID_SECRET",
                "contact-id-secret-of-the-inbox-tests".to_owned(),
            ),
            ("CORS_ALLOWED_ORIGINS", "https://shop.example".to_owned()),
            ("FEED_URL", self.api.clone()),
            ("FEED_TOKEN", FEED_TOKEN.to_owned()),
            ("PUBLIC_URL", "https://inbox.example.com".to_owned()),
            ("METADATA_DATABASE_POOL_SIZE", "4".to_owned()),
        ]);
        let config = metadata_query::MetadataConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
        let app =
            metadata_query::Application::build(config, TcpListener::bind("127.0.0.1:0").unwrap())
                .await
                .unwrap();
        let address = format!("http://127.0.0.1:{}", app.port());
        let server = app.server_handle();
        let running = tokio::spawn(app.run_until_stopped());
        self.running.lock().unwrap().push((server, running));
        // Ready = database up, consuming, caught up.
        let url = format!("{address}/readyz");
        eventually(|| async {
            let r = self.client.get(&url).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        address
    }

    pub fn inbox_url(&self, replica: usize) -> &str {
        &self.replicas[replica].address
    }

    /// POST to conversation-api with the application key.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.post_as(&self.key, path, body).await.1
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patch(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .patch(format!("{}{path}", self.api))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PATCH {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// A new conversation with a first message; its id.
    pub async fn conversation(&self, from: &str, to: &[&str], text: &str) -> String {
        let to: Vec<Value> = to.iter().map(|e| json!({"email": e})).collect();
        let body = self
            .post(
                "/api/v1/conversations",
                json!({"sender": {"email": from, "name": name_of(from)}, "to": to, "text": text,
                       "subject": format!("About {text}")}),
            )
            .await;
        body["conversation"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn say(&self, conversation: &str, from: &str, text: &str) {
        self.say_with_source(conversation, from, text, None).await;
    }

    pub async fn say_with_source(
        &self,
        conversation: &str,
        from: &str,
        text: &str,
        source: Option<&str>,
    ) {
        let mut body = json!({"sender": {"email": from, "name": name_of(from)}, "text": text});
        if let Some(source) = source {
            body["source"] = json!(source);
        }
        let (status, response) = self
            .post_as(
                &self.key,
                &format!("/api/v1/conversations/{conversation}"),
                body,
            )
            .await;
        assert_eq!(status, 201, "{response}");
    }

    /// GET from a replica with `key`.
    pub async fn get_as(&self, replica: usize, key: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.inbox_url(replica)))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn contact_id(&self, replica: usize, email: &str) -> String {
        let path = format!("/api/v1/contacts?email={email}");
        let key = self.key.clone();
        eventually(|| async {
            let (status, body) = self.get_as(replica, &key, &path).await;
            (status == 200).then(|| body["id"].as_str().unwrap().to_owned())
        })
        .await
    }

    pub async fn inbox(&self, replica: usize, contact: &str, query: &str) -> Value {
        let (status, body) = self
            .get_as(
                replica,
                &self.key,
                &format!("/api/v1/contacts/{contact}/conversations?{query}"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until every event committed so far is in replica `n`'s projection: polls the
    /// inbox of `email` until `check` holds.
    pub async fn settled<F>(&self, replica: usize, email: &str, query: &str, check: F) -> Value
    where
        F: Fn(&Value) -> bool,
    {
        let contact = self.contact_id(replica, email).await;
        // Like `eventually`, but a timeout shows the inbox as it last was.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let body = self.inbox(replica, &contact, query).await;
            if check(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "replica {replica}'s inbox of {email} never got there; last seen: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every event committed so far has its feed position (the relay gives
    /// positions a moment after the commit), so the feed can be read in full.
    pub async fn feed_complete(&self) {
        let store = self.api_store.clone();
        eventually(|| {
            let store = store.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let committed = store.counts().ok()?.outbox;
                    (store.outbox().head().ok()? == committed).then_some(())
                })
                .await
                .ok()
                .flatten()
            }
        })
        .await;
    }

    pub async fn token_for(&self, email: &str) -> String {
        let (status, body) = self
            .post_as(&self.key, "/api/v1/tokens", json!({"email": email}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn finish(self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap());
        for (server, task) in running {
            server.stop(true).await;
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        if let Ok(amqp) =
            AmqpConnection::connect(&amqp_url(), ConnectionProperties::default()).await
            && let Ok(channel) = amqp.create_channel().await
        {
            for replica in &self.replicas {
                for queue in [
                    replica.queue.clone(),
                    format!("{}.dead-letter", replica.queue),
                ] {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                }
                let _ = channel
                    .exchange_delete(
                        format!("{}.dead-letter", replica.queue).as_str().into(),
                        ExchangeDeleteOptions::default(),
                    )
                    .await;
            }
            let _ = channel
                .exchange_delete(
                    self.exchange.as_str().into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
            let _ = amqp.close(200, "done".into()).await;
        }
        let mut databases: Vec<TestDatabase> = self.replicas.into_iter().map(|r| r.db).collect();
        databases.push(self.api_db);
        tokio::task::spawn_blocking(move || drop(databases))
            .await
            .unwrap();
    }
}

pub fn name_of(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let mut chars = local.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Polls `f` until it yields, for up to 15 seconds.
pub async fn eventually<T, F, Fut>(f: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    conversations_test_support::eventually("the condition", Duration::from_secs(15), f).await
}

/// The ids of an inbox page, in order.
pub fn ids(page: &Value) -> Vec<String> {
    page["@items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// An item of an inbox page by conversation id.
pub fn item<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["@items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {page}"))
}
