//! `spawn_app`: one service per test with its own database, like zero2prod's harness.

use std::net::TcpListener;
use std::sync::Arc;

use conversation_api::{Application, Config};
use conversations_bus::InProcessBus;
use conversations_store::{Counts, Store};
use conversations_test_support::TestDatabase;
use reqwest::Response;
use serde_json::Value;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Sqlite,
}

/// Runs one scenario against both backends, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Db::Postgres).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Db::Sqlite).await;
            }
        }
    };
}

pub use conversations_test_support::amqp_url;

/// A database that exists for one test and is removed after it.
pub enum TestDb {
    Postgres { _db: TestDatabase },
    Sqlite { _dir: tempfile::TempDir },
}

impl TestDb {
    pub fn create(kind: Db) -> (Self, String) {
        match kind {
            Db::Postgres => {
                let db = TestDatabase::create("conv_test").unwrap();
                let url = db.url().to_owned();
                (Self::Postgres { _db: db }, url)
            }
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/conversations.db", dir.path().display());
                (Self::Sqlite { _dir: dir }, url)
            }
        }
    }
}

/// Options beyond the database.
#[derive(Default)]
pub struct Options {
    /// Publish to RabbitMQ at this URL instead of the in-process bus.
    pub amqp_url: Option<String>,
    /// The exchange to publish to (unique per test).
    pub exchange: Option<String>,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors_allowed_origins: Option<String>,
    /// Any other settings (`RATE_LIMIT_PER_KEY`, `REDIS_URL`, …).
    pub env: Vec<(&'static str, String)>,
}

pub struct TestApp {
    pub address: String,
    pub key: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub bus: Option<InProcessBus>,
    database_url: String,
    _db: Arc<TestDb>,
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, Options::default()).await
}

pub async fn spawn_app_with(db: Db, options: Options) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = conversations_telemetry::init("conversation-api", "debug");
    }
    let (test_db, url) = tokio::task::spawn_blocking(move || TestDb::create(db))
        .await
        .unwrap();
    start(Arc::new(test_db), url, options, None).await
}

/// Starts the service on `url`; creates an application unless `key` names one.
async fn start(
    test_db: Arc<TestDb>,
    url: String,
    options: Options,
    key: Option<String>,
) -> TestApp {
    let database_url = url.clone();
    let mut env = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), url),
        (
            "REPLY_SECRET".to_owned(),
            "test-secret-test-secret-test-secret-0123".to_owned(),
        ),
        ("REPLY_DOMAIN".to_owned(), "reply.example.com".to_owned()),
        ("HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("DATABASE_POOL_SIZE".to_owned(), "4".to_owned()),
    ]);
    if let Some(amqp) = options.amqp_url {
        env.insert("AMQP_URL".to_owned(), amqp);
    }
    if let Some(exchange) = options.exchange {
        env.insert("AMQP_EXCHANGE".to_owned(), exchange);
    }
    if let Some(origins) = options.cors_allowed_origins {
        env.insert("CORS_ALLOWED_ORIGINS".to_owned(), origins);
    }
    for (name, value) in options.env {
        env.insert(name.to_owned(), value);
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build_with_listener(config, listener)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let bus = app.bus();
    tokio::spawn(app.run_until_stopped());
    let key = match key {
        Some(key) => key,
        None => {
            let key_store = store.clone();
            tokio::task::spawn_blocking(move || {
                conversation_api::admin::create_application(&key_store, "Test app")
            })
            .await
            .unwrap()
            .unwrap()
            .key
        }
    };
    TestApp {
        address,
        key,
        client: reqwest::Client::new(),
        store,
        bus,
        database_url,
        _db: test_db,
    }
}

impl TestApp {
    /// A second replica of the service on the same database (same key).
    pub async fn replica(&self, options: Options) -> TestApp {
        start(
            self._db.clone(),
            self.database_url.clone(),
            options,
            Some(self.key.clone()),
        )
        .await
    }

    /// Another application on the same deployment, with its own key.
    pub async fn second_application_key(&self) -> String {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            conversation_api::admin::create_application(&store, "Other app")
        })
        .await
        .unwrap()
        .unwrap()
        .key
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    /// Creates a conversation with a first message and returns its id.
    pub async fn create_conversation(&self, sender: &str, to: &[&str], text: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/conversations",
                &serde_json::json!({"sender": sender, "to": to, "subject": "Test", "text": text}),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["conversation"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn counts(&self) -> Counts {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.counts())
            .await
            .unwrap()
            .unwrap()
    }
}

/// Asserts an RFC 9457 problem with this status and returns its body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()));
    body
}
