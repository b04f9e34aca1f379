//! Notification sending throughput against a local SMTP sink (the test-support sink, over
//! real TCP on loopback). Run: `cargo bench -p notifier --bench smtp_throughput`.
//! Prints mails/s for our pool (TCP_NODELAY) at several sizes, and for lettre's stock
//! pooled transport for comparison. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use conversations_test_support::SmtpSink;
use futures_util::StreamExt;
use lettre::AsyncTransport;
use notifier::mailer::SmtpPool;

fn sample_mail() -> Vec<u8> {
    let body =
        "Hello Fred,\r\n\r\nthis is a typical notification body of a few lines.\r\n".repeat(20);
    format!(
        "From: \"Hugo via Shop\" <notifications@reply.example.com>\r\nTo: fred@example.com\r\nSubject: Re: Example\r\nMessage-ID: <bench@reply.example.com>\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn ours(connections: usize, mails: usize) -> f64 {
    let sink = SmtpSink::start().await.unwrap();
    let pool = SmtpPool::from_url(&sink.url(), connections, "reply.example.com").unwrap();
    let raw = sample_mail();
    let started = Instant::now();
    futures_util::stream::iter(0..mails)
        .map(|_| pool.send("b@reply.example.com", "fred@example.com", &raw))
        .buffer_unordered(connections)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
    let rate = mails as f64 / started.elapsed().as_secs_f64();
    assert_eq!(sink.count(), mails);
    rate
}

async fn stock_lettre(connections: u32, mails: usize) -> f64 {
    let sink = SmtpSink::start().await.unwrap();
    let transport =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.port())
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(connections))
            .build();
    let raw = sample_mail();
    let envelope = lettre::address::Envelope::new(
        Some("b@reply.example.com".parse().unwrap()),
        vec!["fred@example.com".parse().unwrap()],
    )
    .unwrap();
    let started = Instant::now();
    futures_util::stream::iter(0..mails)
        .map(|_| transport.send_raw(&envelope, &raw))
        .buffer_unordered(connections as usize)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
    mails as f64 / started.elapsed().as_secs_f64()
}

/// The whole sending path: claim due deliveries from PostgreSQL, send, record the outcome.
async fn end_to_end(mails: usize) -> f64 {
    let db = conversations_test_support::TestDatabase::create("conv_bench").unwrap();
    let store = notifier::NotifierStore::open(db.url(), 8).unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let raw = sample_mail();
    let conversation = uuid::Uuid::now_v7().to_string();
    let rows: Vec<_> = (0..mails)
        .map(|i| notifier::store::NewDelivery {
            app_id: "app".into(),
            conversation_id: conversation.clone(),
            message_seq: (i / 10) as u64 + 1,
            participant_id: format!("p{}", i % 10),
            recipient: "fred@example.com".into(),
            status: notifier::store::DeliveryStatus::Pending,
            envelope_from: "b@reply.example.com".into(),
            raw_message: Some(raw.clone()),
            trace_context: None,
        })
        .collect();
    store
        .record_deliveries(&rows, |_| Vec::new(), None, chrono::Utc::now())
        .unwrap();
    let config = notifier::NotifierConfig::from_lookup(|k| match k {
        "REPLY_SECRET" => Some("bench-secret-bench-secret-bench-secret-00".into()),
        "SMTP_URL" => Some(sink.url()),
        "SMTP_CONNECTIONS" => Some("8".into()),
        _ => None,
    })
    .unwrap();
    let sender = notifier::sender::Sender {
        mailer: std::sync::Arc::new(notifier::Mailer::from_config(&config).unwrap()),
        config: std::sync::Arc::new(config),
        store: store.clone(),
        wake: Default::default(),
        relay_wake: Default::default(),
        stopping: tokio::sync::watch::channel(false).1,
    };
    let started = Instant::now();
    while sender.round().await.unwrap() > 0 {}
    let rate = mails as f64 / started.elapsed().as_secs_f64();
    assert_eq!(sink.count(), mails);
    drop(store);
    drop(db);
    rate
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this too; keep that quick.
    let quick = std::env::args().any(|a| a == "--test") || std::env::var("BENCH_QUICK").is_ok();
    let mails = if quick { 200 } else { 20_000 };
    for connections in [1, 4, 8, 16] {
        let rate = ours(connections, mails).await;
        println!(
            "notifier pool, TCP_NODELAY, {connections:>2} connections: {rate:>8.0} mails/s ({mails} mails)"
        );
    }
    let e2e = if quick { 100 } else { 10_000 };
    let rate = end_to_end(e2e).await;
    println!(
        "notifier sender end to end (PostgreSQL claim → SMTP → record), 8 connections: {rate:>8.0} mails/s ({e2e} mails)"
    );
    let stock = if quick { 20 } else { 200 };
    for connections in [1, 8] {
        let rate = stock_lettre(connections, stock).await;
        println!(
            "lettre stock pooled transport, {connections:>2} connections: {rate:>8.0} mails/s ({stock} mails)"
        );
    }
}
