//! `bench`: the end-to-end benchmark. In one run on this machine it measures and prints,
//! as Markdown for BENCHMARKS.md:
//! 1. the ceilings: PostgreSQL transactions/s of one post's writes (pgbench with
//!    `tests/e2e/bench/post.sql`), RabbitMQ persistent publish-with-confirms + consume of an
//!    event-sized message, the SMTP sink's mails/s;
//! 2. the split deployment (the real binaries on PostgreSQL and RabbitMQ, mailing the
//!    SMTP sink of `crates/test-support`) through the public HTTP API: open-loop rates and a
//!    closed-loop maximum, 2- and 4-person conversations, a post counted when every
//!    notification reached the sink and every recipient's inbox showed it; latency
//!    percentiles of the POST, post → mail and post → inbox; CPU per post by process;
//! 3. how a post's cost grows with the conversation;
//! 4. the all-in-one on SQLite, the same way.
//!
//! Run (release build, the services built beside it):
//!   cargo build --release --workspace --bins && target/release/bench
//! `--smoke` runs every phase briefly and fails when a post does not complete (CI);
//! `--quick` skips the slow parts (4-person, growth to 10,000); `--split-only` runs only
//! the split deployment with 2 people (for profiling), `--rates 500,1000` sets the
//! open-loop rates.

// A measuring harness, not a service: a setup that fails ends the run with its reason.
#![allow(clippy::expect_used)]

mod ceilings;
mod cpu;
mod load;

use std::time::Duration;

use conversations_test_support::SmtpSink;
use e2e::{Options, Service, System, binary};
use load::{Measured, Target, percentile};

struct Mode {
    smoke: bool,
    quick: bool,
    /// `--split-only`: only the split deployment with 2 people, no growth (for profiling).
    split_only: bool,
    /// `--rates 500,1000`: these open-loop rates instead of the usual ones.
    rates: Option<Vec<f64>>,
}

impl Mode {
    fn rates(&self) -> Vec<f64> {
        if let Some(rates) = &self.rates {
            rates.clone()
        } else if self.smoke {
            vec![50.0]
        } else {
            vec![250.0, 500.0, 1000.0, 2000.0]
        }
    }
    fn run_for(&self) -> Duration {
        Duration::from_secs(if self.smoke { 2 } else { 10 })
    }
    fn conversations(&self) -> usize {
        if self.smoke { 50 } else { 1000 }
    }
}

const AGENTS: usize = 16;

fn row(label: &str, m: &mut Measured) -> String {
    let p = |v: &mut Vec<f64>, q| percentile(v, q);
    format!(
        "| {label} | {} | {} | {:.0} | {:.0} | {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} |",
        m.posts,
        m.failed,
        m.posts as f64 / m.posting.max(1e-9),
        m.end_to_end_rate(),
        if m.complete { "yes" } else { "**no**" },
        p(&mut m.post, 50.0),
        p(&mut m.post, 99.0),
        p(&mut m.post, 99.9),
        p(&mut m.mail, 50.0),
        p(&mut m.mail, 99.0),
        p(&mut m.mail, 99.9),
        p(&mut m.inbox, 50.0),
        p(&mut m.inbox, 99.0),
        p(&mut m.inbox, 99.9),
    )
}

const HEADER: &str = "| Load | Posts | Failed | Posted/s | End-to-end posts/s | All delivered | POST ms p50 / p99 / p99.9 | Post → mail ms p50 / p99 / p99.9 | Post → inbox ms p50 / p99 / p99.9 |\n|---|---:|---:|---:|---:|---|---|---|---|";

/// Runs the loads against `target`, printing a table; CPU per post by process after it.
/// Returns whether every post completed and the best end-to-end rate.
async fn loads(
    mode: &Mode,
    target: &Target<'_>,
    people: usize,
    processes: &[(&str, Option<u32>)],
) -> (bool, f64) {
    let convs = load::conversations(target, mode.conversations(), people, AGENTS).await;
    let watchers = load::watch(target, AGENTS).await;
    println!(
        "\n{people}-person conversations ({} of them, {AGENTS} agents):\n\n{HEADER}",
        convs.len()
    );
    let mut all_complete = true;
    let mut best: f64 = 0.0;
    let mut cpu_rows = Vec::new();
    for rate in mode.rates() {
        let before = cpu::Snapshot::take(processes);
        let mut m =
            load::open_loop(target, &convs, &watchers, rate, mode.run_for(), people - 1).await;
        let after = cpu::Snapshot::take(processes);
        cpu_rows.push((
            format!("{rate:.0}/s"),
            after.per_post_since(&before, m.posts),
        ));
        println!("{}", row(&format!("open loop {rate:.0}/s"), &mut m));
        all_complete &= m.complete;
        if m.complete {
            best = best.max(m.end_to_end_rate());
        }
    }
    let workers = if mode.smoke { 8 } else { 64 };
    let before = cpu::Snapshot::take(processes);
    let mut m = load::closed_loop(
        target,
        &convs,
        &watchers,
        workers,
        mode.run_for(),
        people - 1,
    )
    .await;
    let after = cpu::Snapshot::take(processes);
    cpu_rows.push((
        format!("closed {workers}"),
        after.per_post_since(&before, m.posts),
    ));
    println!(
        "{}",
        row(&format!("closed loop, {workers} clients"), &mut m)
    );
    all_complete &= m.complete;
    if m.complete {
        best = best.max(m.end_to_end_rate());
    }
    if let Some((_, first)) = cpu_rows.first() {
        let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
        println!(
            "\nCPU ms per post:\n\n| Load | {} |\n|---|{}",
            names.join(" | "),
            "---:|".repeat(names.len())
        );
        for (label, values) in &cpu_rows {
            let cells: Vec<String> = values.iter().map(|(_, v)| format!("{v:.2}")).collect();
            println!("| {label} | {} |", cells.join(" | "));
        }
    }
    (all_complete, best)
}

async fn growth(mode: &Mode, target: &Target<'_>) {
    let sizes: &[usize] = if mode.smoke {
        &[10, 50]
    } else if mode.quick {
        &[10, 1000]
    } else {
        &[10, 1000, 10_000]
    };
    let samples = if mode.smoke { 5 } else { 50 };
    println!(
        "\nPOST latency as one conversation grows (median of {samples} posts, one at a time):\n\n| Messages before | POST ms |\n|---:|---:|"
    );
    for (size, ms) in load::growth(target, sizes, samples).await {
        println!("| {size} | {ms:.2} |");
    }
}

async fn split(mode: &Mode) -> bool {
    let quiet = |v: &str| v.to_owned();
    let system = System::start(Options {
        smtp_connections: 8,
        direct_broker: true,
        env: vec![
            ("RATE_LIMIT_PER_KEY", quiet("off")),
            ("RATE_LIMIT_PER_TOKEN", quiet("off")),
            ("RATE_LIMIT_PER_ADDRESS", quiet("off")),
            ("RUST_LOG", quiet("warn")),
        ],
        ..Options::default()
    })
    .await;
    let processes = [
        ("conversation-api", system.api.pid().await),
        ("notifier", system.notifier.pid().await),
        ("metadata-query", system.metadata.pid().await),
        ("inbound-mail", system.inbound.pid().await),
    ];
    let target = Target {
        api: system.api.base.clone().unwrap_or_default(),
        inbox: system.metadata.base.clone().unwrap_or_default(),
        key: system.key.clone(),
        sink: &system.sink,
        client: reqwest::Client::new(),
    };
    println!("\n## Split deployment (PostgreSQL, RabbitMQ, SMTP sink)");
    let (mut ok, best) = loads(mode, &target, 2, &processes).await;
    if (!mode.quick || mode.smoke) && !mode.split_only {
        ok &= loads(mode, &target, 4, &processes).await.0;
    }
    if !mode.split_only {
        growth(mode, &target).await;
    }
    println!("\nBest complete end-to-end rate (2 people): {best:.0} posts/s");
    system.cleanup().await;
    ok
}

async fn all_in_one(mode: &Mode) -> bool {
    let sink = SmtpSink::start().await.expect("SMTP sink");
    let dir = tempfile::tempdir().expect("temporary directory");
    let addr = conversations_test_support::free_addr();
    let database = format!("sqlite://{}/conversations.db", dir.path().display());
    let env = vec![
        ("DATABASE_URL", database.clone()),
        ("HTTP_ADDR", addr.clone()),
        ("SMTP_URL", sink.url()),
        ("SMTP_CONNECTIONS", "8".to_owned()),
        ("RATE_LIMIT_PER_KEY", "off".to_owned()),
        ("RATE_LIMIT_PER_TOKEN", "off".to_owned()),
        ("RATE_LIMIT_PER_ADDRESS", "off".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let created = std::process::Command::new(binary("conversations"))
        .args(["admin", "create-app", "--name", "bench"])
        .env("DATABASE_URL", &database)
        .output()
        .expect("conversations admin create-app");
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let service = Service::new(
        "conversations",
        dir.path(),
        env,
        Some(format!("http://{addr}")),
    );
    service.start().await;
    let target = Target {
        api: format!("http://{addr}"),
        inbox: format!("http://{addr}"),
        key,
        sink: &sink,
        client: reqwest::Client::new(),
    };
    println!("\n## All-in-one on SQLite (`conversations`, SMTP sink)");
    let processes = [("conversations", service.pid().await)];
    let (ok, best) = loads(mode, &target, 2, &processes).await;
    println!("\nBest complete end-to-end rate: {best:.0} posts/s");
    service.kill().await;
    ok
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = Mode {
        smoke: args.iter().any(|a| a == "--smoke"),
        quick: args.iter().any(|a| a == "--quick"),
        split_only: args.iter().any(|a| a == "--split-only"),
        rates: args
            .iter()
            .position(|a| a == "--rates")
            .and_then(|i| args.get(i + 1))
            .map(|list| {
                list.split(',')
                    .filter_map(|r| r.trim().parse().ok())
                    .collect()
            }),
    };
    println!(
        "# Benchmark run{}\n",
        if mode.smoke {
            " (smoke: tiny sizes, figures meaningless)"
        } else {
            ""
        }
    );
    if mode.split_only {
        let ok = split(&mode).await;
        std::process::exit(if ok { 0 } else { 1 });
    }
    println!("## Ceilings of this machine\n\n| What | Rate |\n|---|---:|");
    let pg_seconds = if mode.smoke { 2 } else { 10 };
    match tokio::task::spawn_blocking(move || ceilings::postgres(pg_seconds)).await {
        Ok(Ok(tps)) => {
            println!("| PostgreSQL: one post's writes (pgbench, 8 clients) | {tps:.0} tx/s |")
        }
        Ok(Err(e)) => println!("| PostgreSQL | failed: {e} |"),
        Err(e) => println!("| PostgreSQL | failed: {e} |"),
    }
    let messages = if mode.smoke { 2_000 } else { 50_000 };
    match ceilings::rabbitmq(messages, 600).await {
        Ok(rate) => println!(
            "| RabbitMQ: persistent 600-byte messages, confirmed publish + consume | {rate:.0} msg/s |"
        ),
        Err(e) => println!("| RabbitMQ | failed: {e} |"),
    }
    let sink = SmtpSink::start().await.expect("SMTP sink");
    let mails = if mode.smoke { 2_000 } else { 50_000 };
    let smtp = ceilings::smtp(&sink, 8, mails, 3_000).await;
    println!("| SMTP sink: 3 KB mails over 8 connections | {smtp:.0} mails/s |");
    drop(sink);

    let mut ok = split(&mode).await;
    ok &= all_in_one(&mode).await;
    if mode.smoke && !ok {
        eprintln!("bench --smoke: some posts did not complete (mail or inbox missing)");
        std::process::exit(1);
    }
}
