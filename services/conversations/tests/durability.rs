//! The all-in-one keeps the split system's promise: no notification is lost, whether the
//! process is killed in the middle of a burst or the notifier simply cannot keep up. Mail
//! goes to a real SMTP server (the test-support sink over TCP) that answers slowly, so the
//! notifier is always behind when it matters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use conversations_test_support::SmtpSink;
use serde_json::{Value, json};

const SECRET: &str = "durability-test-secret-durability-test-secret";

/// The distinct notifications received (by Message-ID) and the total, duplicates included.
fn received(sink: &SmtpSink) -> (HashSet<String>, usize) {
    let mails = sink.received();
    let ids = mails
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    (ids, mails.len())
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let mut check = move || std::future::ready(done().then_some(()));
    conversations_test_support::eventually(what, limit, &mut check).await;
}

/// Waits until `accepted` has grown by `more`: the burst is under way, whatever the
/// machine's speed.
async fn progressed(accepted: &AtomicUsize, more: usize) {
    let target = accepted.load(Ordering::Relaxed) + more;
    wait_until("posts to be accepted", Duration::from_secs(60), || {
        accepted.load(Ordering::Relaxed) >= target
    })
    .await;
}

struct Api {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Api {
    async fn create(&self, n: usize) -> String {
        let r = self
            .client
            .post(format!("{}/api/v1/conversations", self.base))
            .bearer_auth(&self.key)
            .json(&json!({
                "sender": format!("seller{n}@example.com"),
                "to": [format!("buyer{n}@example.com")],
                "subject": format!("Order {n}"),
                "text": "hello"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        body["conversation"]["id"].as_str().unwrap().to_owned()
    }

    /// Posts into the conversations from `tasks` concurrent clients until `stop` is set or
    /// the server stops answering; returns how many posts were accepted.
    async fn burst(
        self: &Arc<Self>,
        ids: &[String],
        tasks: usize,
        stop: Arc<AtomicBool>,
        accepted: Arc<AtomicUsize>,
    ) -> usize {
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (api, ids, stop, accepted) =
                (self.clone(), ids.to_vec(), stop.clone(), accepted.clone());
            handles.push(tokio::spawn(async move {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let n = i % ids.len();
                    let id = &ids[n];
                    i += tasks;
                    let posted = api
                        .client
                        .post(format!("{}/api/v1/conversations/{id}", api.base))
                        .bearer_auth(&api.key)
                        .json(&json!({"sender": format!("seller{n}@example.com"), "text": format!("post {i}")}))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match posted {
                        Ok(r) if r.status() == 201 => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        // The sender is not a participant of this conversation: refused,
                        // nothing committed. Anything else: the server went away.
                        Ok(r) if r.status().is_client_error() => {}
                        _ => return,
                    }
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
        accepted.load(Ordering::Relaxed)
    }

    /// Messages committed across `ids` (each notifies exactly one person).
    async fn messages(&self, ids: &[String]) -> usize {
        let mut total = 0;
        for id in ids {
            let c: Value = self
                .client
                .get(format!("{}/api/v1/conversations/{id}?limit=1", self.base))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            total += c["conversation"]["message_count"].as_u64().unwrap() as usize;
        }
        total
    }
}

/// The all-in-one as its own process (`conversations`), so it can be SIGKILLed.
struct Process {
    env: HashMap<&'static str, String>,
    child: Option<tokio::process::Child>,
    base: String,
}

impl Process {
    fn new(env: HashMap<&'static str, String>) -> Self {
        let base = format!("http://{}", env["HTTP_ADDR"]);
        Self {
            env,
            child: None,
            base,
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conversations"));
        command
            .envs(&self.env)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn create_app(&self) -> String {
        let out = self
            .command()
            .args(["admin", "create-app", "--name", "Burst"])
            .stderr(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    async fn start(&mut self) {
        self.child = Some(
            self.command()
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let client = reqwest::Client::new();
        let ready = format!("{}/readyz", self.base);
        conversations_test_support::eventually(
            "the all-in-one to be ready",
            Duration::from_secs(10),
            || async {
                let r = client.get(&ready).send().await.ok()?;
                (r.status() == 200).then_some(())
            },
        )
        .await;
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }
}

use conversations_test_support::free_addr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_burst_the_all_in_one_sends_every_notification_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start().await.unwrap();
    // 2 connections at 20 ms a mail: about 100 mails/s, slower than the posts arrive.
    sink.slow_down(Duration::from_millis(20));
    let connections = 2;
    let mut process = Process::new(HashMap::from([
        (
            "DATABASE_URL",
            format!("sqlite://{}/conversations.db", dir.path().display()),
        ),
        ("HTTP_ADDR", free_addr()),
        ("REPLY_SECRET", SECRET.to_owned()),
        ("SMTP_URL", sink.url()),
        ("SMTP_CONNECTIONS", connections.to_string()),
        ("NOTIFIER_CLAIM_TIMEOUT_SECS", "3".to_owned()),
    ]));
    let key = process.create_app().await;
    process.start().await;
    let api = Arc::new(Api {
        base: process.base.clone(),
        key,
        client: reqwest::Client::new(),
    });
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(api.create(n).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let posting = {
        let (api, ids, stop, count) = (api.clone(), ids.clone(), stop.clone(), accepted.clone());
        tokio::spawn(async move { api.burst(&ids, 8, stop, count).await })
    };
    // Kill it while posts pour in and the notifier is behind.
    progressed(&accepted, 300).await;
    let (before_kill, _) = received(&sink);
    process.kill().await;
    stop.store(true, Ordering::Relaxed);
    let accepted = posting.await.unwrap();
    process.start().await;
    let committed = api.messages(&ids).await;
    assert!(
        committed >= accepted + ids.len(),
        "every accepted post is committed"
    );
    assert!(
        before_kill.len() < committed,
        "the notifier was behind when the process died ({} of {committed} sent)",
        before_kill.len()
    );
    wait_until("every notification", Duration::from_secs(90), || {
        received(&sink).0.len() >= committed
    })
    .await;
    process.kill().await;
    let (distinct, total) = received(&sink);
    assert_eq!(distinct.len(), committed, "one notification per message");
    assert!(
        total - distinct.len() <= connections,
        "a kill repeats at most the mails in flight: {} repeated with {connections} connections",
        total - distinct.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_that_cannot_keep_up_works_off_its_backlog_after_the_load() {
    let sink = SmtpSink::start().await.unwrap();
    // One connection at 10 ms a mail: at most 100 mails/s.
    sink.slow_down(Duration::from_millis(10));
    let smtp_url = sink.url();
    let running = common::start(
        "Backlog",
        &[
            ("REPLY_SECRET", SECRET),
            ("SMTP_URL", &smtp_url),
            ("SMTP_CONNECTIONS", "1"),
        ],
    )
    .await;
    let (base, key) = (running.base.clone(), running.key.clone());
    let api = Arc::new(Api {
        base,
        key,
        client: reqwest::Client::new(),
    });
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(api.create(n).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let posting = {
        let (api, ids, stop, count) = (api.clone(), ids.clone(), stop.clone(), accepted.clone());
        tokio::spawn(async move { api.burst(&ids, 8, stop, count).await })
    };
    // Far more posts than one connection at 10 ms a mail can send meanwhile.
    progressed(&accepted, 600).await;
    stop.store(true, Ordering::Relaxed);
    let accepted = posting.await.unwrap();
    let committed = api.messages(&ids).await;
    assert_eq!(committed, accepted + ids.len());
    let (sent_when_load_stopped, _) = received(&sink);
    assert!(
        sent_when_load_stopped.len() + 50 < committed,
        "the load outran the notifier ({} of {committed} sent)",
        sent_when_load_stopped.len()
    );
    wait_until("the backlog to be sent", Duration::from_secs(120), || {
        received(&sink).0.len() >= committed
    })
    .await;
    let (distinct, total) = received(&sink);
    assert_eq!(distinct.len(), committed);
    assert_eq!(total, committed, "nothing sent twice without a crash");
}
