//! Replies per second that inbound-mail reads, verifies and posts: conversation-api and
//! inbound-mail in this process on a throw-away PostgreSQL database, replies (each a
//! realistic plain-text mail with quoted history and a signature, to its own conversation's
//! reply address) posted to `POST /inbound/mail` over loopback HTTP with several in flight,
//! and then through the pipe program (`inbound-mail deliver`, one process per mail, as an
//! MTA runs it). Every reply must come out `posted`.
//!
//! Run: `cargo bench -p inbound-mail --bench intake` (`BENCH_REPLIES`, default 4000;
//! `BENCH_PIPE_REPLIES`, default 400; `BENCH_CONCURRENCY`, default 32). Figures go to
//! BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;

use conversation_api::{Application, Config};
use conversations_test_support::TestDatabase;
use futures_util::StreamExt;
use serde_json::{Value, json};

const SECRET: &str = "bench-reply-secret-bench-reply-secret-bench";
const INTERNAL: &str = "bench-internal-token-bench-internal-token";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn reply(address: &str, n: usize) -> String {
    format!(
        "From: Bob Buyer <bob@example.com>\r\nTo: Shop <{address}>\r\nSubject: Re: Your order\r\nMessage-ID: <bench-{n}@mail.example.com>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThanks, the parcel arrived today. Could you send the invoice as well?\r\n\r\nBest regards,\r\nBob\r\n\r\n-- \r\nBob Buyer | Example Ltd | +1 555 0100\r\n\r\nOn Mon, 30 Nov 2026 at 18:12, Ann via Shop <{address}> wrote:\r\n> Your parcel left our warehouse this morning.\r\n> It should arrive tomorrow.\r\n>\r\n> Ann\r\n"
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let replies = setting("BENCH_REPLIES", 4000);
    let pipe_replies = setting("BENCH_PIPE_REPLIES", 400);
    let concurrency = setting("BENCH_CONCURRENCY", 32);
    let db = tokio::task::spawn_blocking(|| TestDatabase::create("conv_bench_inbound"))
        .await
        .unwrap()
        .unwrap();
    let api_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}", api_listener.local_addr().unwrap());
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url().to_owned()),
        ("REPLY_SECRET", SECRET.to_owned()),
        ("REPLY_DOMAIN", "reply.example.com".to_owned()),
        ("INTERNAL_TOKEN", INTERNAL.to_owned()),
        ("CONVERSATION_API_URL", api.clone()),
        ("DATABASE_POOL_SIZE", "16".to_owned()),
        // The benchmark drives one client address and one key far past the defaults.
        ("RATE_LIMIT_PER_ADDRESS", "off".to_owned()),
        ("RATE_LIMIT_PER_KEY", "off".to_owned()),
    ]);
    let lookup = |k: &str| env.get(k).cloned();
    let app = Application::build_with_listener(Config::from_lookup(lookup).unwrap(), api_listener)
        .await
        .unwrap();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&store, "Bench")
    })
    .await
    .unwrap()
    .unwrap()
    .key;
    let inbound_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let inbound = format!("http://{}", inbound_listener.local_addr().unwrap());
    let server = inbound_mail::Server::build(
        inbound_mail::InboundConfig::from_lookup(lookup).unwrap(),
        inbound_listener,
    )
    .await
    .unwrap();
    tokio::spawn(server.run_until_stopped());
    let client = reqwest::Client::new();

    // One conversation per reply, so no conversation's lock is what is measured.
    let total = replies + pipe_replies;
    let addresses: Vec<String> = futures_util::stream::iter(0..total)
        .map(|n| {
            let (client, api, key) = (client.clone(), api.clone(), key.clone());
            async move {
                let created: Value = client
                    .post(format!("{api}/api/v1/conversations"))
                    .bearer_auth(&key)
                    .json(&json!({"sender": "ann@example.com", "to": ["bob@example.com"], "subject": format!("Order {n}"), "text": "Your parcel left our warehouse."}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                created["conversation"]["participant_details"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["email"] == "bob@example.com")
                    .unwrap()["reply_to"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        })
        .buffered(concurrency)
        .collect()
        .await;

    // The ceiling: the same number of posts straight to conversation-api's public API
    // (the write path every reply ends in), to conversations of their own.
    let ids: Vec<String> = futures_util::stream::iter(0..replies)
        .map(|n| {
            let (client, api, key) = (client.clone(), api.clone(), key.clone());
            async move {
                let created: Value = client
                    .post(format!("{api}/api/v1/conversations"))
                    .bearer_auth(&key)
                    .json(&json!({"sender": "ann@example.com", "to": ["bob@example.com"], "subject": format!("Direct {n}"), "text": "Hello"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                created["conversation"]["id"].as_str().unwrap().to_owned()
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    let started = Instant::now();
    futures_util::stream::iter(ids.iter())
        .map(|id| {
            let request = client
                .post(format!("{api}/api/v1/conversations/{id}"))
                .bearer_auth(&key)
                .json(&json!({"sender": "bob@example.com", "text": "Thanks, the parcel arrived today. Could you send the invoice as well?\n\nBest regards,\nBob"}))
                .send();
            async move {
                assert_eq!(request.await.unwrap().status(), 201);
            }
        })
        .buffer_unordered(concurrency)
        .count()
        .await;
    let direct = replies as f64 / started.elapsed().as_secs_f64();
    println!(
        "ceiling: POST /api/v1/conversations/{{id}} straight to conversation-api: {replies} posts, {concurrency} in flight: {direct:.0} posts/s"
    );

    let started = Instant::now();
    let posted = futures_util::stream::iter(addresses[..replies].iter().enumerate())
        .map(|(n, address)| {
            let request = client
                .post(format!("{inbound}/inbound/mail"))
                .header("content-type", "message/rfc822")
                .body(reply(address, n))
                .send();
            async move {
                let handled: Value = request.await.unwrap().json().await.unwrap();
                handled["outcome"] == "posted"
            }
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(posted, replies, "every reply posted");
    println!(
        "POST /inbound/mail: {replies} replies, {concurrency} in flight: {:.0} replies/s ({:.2} ms each on average)",
        replies as f64 / elapsed,
        elapsed * 1000.0 * concurrency as f64 / replies as f64
    );

    // The pipe program: a process per mail, as Postfix runs it (8 at once).
    let binary = env!("CARGO_BIN_EXE_inbound-mail");
    let started = Instant::now();
    let pipe = addresses[replies..].to_vec();
    let codes = futures_util::stream::iter(pipe.into_iter().enumerate())
        .map(|(n, address)| {
            let inbound = inbound.clone();
            tokio::task::spawn_blocking(move || {
                let mut child = Command::new(binary)
                    .args(["deliver", "--url", &inbound, "--recipient", &address])
                    .env_clear()
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                stdin
                    .write_all(reply(&address, replies + n).as_bytes())
                    .unwrap();
                drop(stdin);
                child.wait().unwrap().code()
            })
        })
        .buffer_unordered(8)
        .map(|joined| joined.unwrap())
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        codes.iter().all(|c| *c == Some(0)),
        "every pipe run exits 0"
    );
    println!(
        "inbound-mail deliver (one process per mail, 8 at once): {pipe_replies} replies: {:.0} replies/s",
        pipe_replies as f64 / elapsed
    );
    drop(db);
}
