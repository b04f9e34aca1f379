//! Inbox benchmark: projection throughput and read latency on PostgreSQL.
//!
//! ```text
//! cargo bench -p metadata-query --bench inbox            # 100k conversations, 1M messages
//! BENCH_SCALE=0.1 cargo bench -p metadata-query --bench inbox   # a tenth of that
//! BENCH_KEEP_DB=1 …                                          # keep the database (EXPLAIN)
//! ```
//!
//! Data: 10,000 customers and 10 agents; every conversation is between one customer and
//! one agent (so a customer has ~10 conversations and an agent ~10,000: the deep pages);
//! messages alternate between the two and are spread over the conversations in random
//! order. Every event goes through the real path — protobuf encoding, decoding, planning
//! and batched application (256 events per transaction) — and the reads are the queries
//! the inbox endpoint runs (page + participants). Uses `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); creates and drops its own database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use conversations_events::v1::{self, envelope::Payload};
use conversations_events::{ProtoMessage, SCHEMA_VERSION, Timestamp};
use conversations_test_support::TestDatabase;
use diesel::{Connection, RunQueryDsl};
use metadata_query::InboxStore;
use metadata_query::consumer::Projector;
use metadata_query::store::{InboxFilter, InboxOrder, Planned, Relevant};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const APP: &str = "0190b3c2-0000-7000-8000-000000000001";
const BATCH: usize = 256;

fn ts(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap(),
    }
}

fn person(email: &str, read: u64) -> v1::Participant {
    v1::Participant {
        participant_id: String::new(),
        email: email.to_owned(),
        display_name: email.split('@').next().unwrap().to_owned(),
        external_id: String::new(),
        reply_address: String::new(),
        muted: false,
        pinned: false,
        archived_at: None,
        last_opened_at: None,
        last_read_seq: read,
        active: true,
    }
}

fn envelope(conversation: &str, seq: u64, at: i64, payload: Payload) -> Vec<u8> {
    v1::Envelope {
        event_id: String::new(),
        r#type: String::new(),
        occurred_at: Some(ts(at)),
        app_id: APP.to_owned(),
        conversation_id: conversation.to_owned(),
        conversation_seq: seq,
        schema_version: SCHEMA_VERSION,
        payload: Some(payload),
    }
    .encode_to_vec()
}

struct Conversation {
    id: String,
    customer: String,
    agent: String,
    seq: u64,
    messages: u64,
    customer_read: u64,
    agent_read: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<6} p50={:>7.3} ms  p99={:>7.3} ms  max={:>7.3} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().unwrap().as_secs_f64() * 1000.0
    );
}

fn main() {
    let scale: f64 = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let conversations_n = ((100_000.0 * scale) as usize).max(100);
    let messages_n = conversations_n * 10;
    let customers_n = ((10_000.0 * scale) as usize).max(10);
    let agents_n = 10;

    let db = TestDatabase::create("inbox_bench").unwrap();
    let store = InboxStore::open(db.url(), 4).unwrap();
    let projector = Projector::new(store.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    println!(
        "inbox bench: {conversations_n} conversations, {messages_n} messages, \
         {customers_n} customers + {agents_n} agents"
    );
    let customers: Vec<String> = (0..customers_n)
        .map(|i| format!("customer{i}@example.com"))
        .collect();
    let agents: Vec<String> = (0..agents_n)
        .map(|i| format!("agent{i}@example.com"))
        .collect();
    let mut clock: i64 = 1_800_000_000_000_000;
    let mut conversations: Vec<Conversation> = (0..conversations_n)
        .map(|i| Conversation {
            id: format!("0190b3c2-{:04x}-7000-8000-{:012x}", i >> 16, i),
            customer: customers[i % customers_n].clone(),
            agent: agents[rng.random_range(0..agents_n)].clone(),
            seq: 0,
            messages: 0,
            customer_read: 0,
            agent_read: 0,
        })
        .collect();

    // Events, generated lazily in batches so memory stays flat.
    let mut order: Vec<usize> = (0..messages_n).map(|i| i % conversations_n).collect();
    order.shuffle(&mut rng);
    let mut pending: Vec<Vec<u8>> = Vec::with_capacity(BATCH * 4);
    let mut events = 0u64;
    let mut applying = Duration::ZERO;
    let started = Instant::now();
    let mut flush = |pending: &mut Vec<Vec<u8>>, events: &mut u64| {
        let t = Instant::now();
        for chunk in pending.chunks(BATCH) {
            let batch: Vec<Planned> = chunk
                .iter()
                .map(|p| Planned {
                    update: projector.plan_payload(p).unwrap(),
                    feed_position: None,
                })
                .collect();
            store.apply(&batch).unwrap();
        }
        applying += t.elapsed();
        *events += pending.len() as u64;
        pending.clear();
    };
    for index in order {
        let c = &mut conversations[index];
        clock += 1000;
        if c.seq == 0 {
            let info = v1::ConversationInfo {
                kind: "personal".into(),
                subject: format!("Order {index}"),
                owner_email: c.customer.clone(),
                message_count: 0,
                created_at: Some(ts(clock)),
                pinned_message: 0,
            };
            c.seq += 1;
            pending.push(envelope(
                &c.id,
                c.seq,
                clock,
                Payload::ConversationCreated(v1::ConversationCreated {
                    conversation: Some(info.clone()),
                }),
            ));
            for who in [c.customer.clone(), c.agent.clone()] {
                c.seq += 1;
                pending.push(envelope(
                    &c.id,
                    c.seq,
                    clock,
                    Payload::ParticipantAdded(v1::ParticipantAdded {
                        conversation: Some(info.clone()),
                        participant: Some(person(&who, 0)),
                    }),
                ));
            }
        }
        c.seq += 1;
        c.messages += 1;
        let from_customer = c.messages % 2 == 1;
        if from_customer {
            c.customer_read = c.messages;
        } else {
            c.agent_read = c.messages;
        }
        let (sender, recipient) = if from_customer {
            (
                person(&c.customer, c.customer_read),
                person(&c.agent, c.agent_read),
            )
        } else {
            (
                person(&c.agent, c.agent_read),
                person(&c.customer, c.customer_read),
            )
        };
        pending.push(envelope(
            &c.id,
            c.seq,
            clock,
            Payload::MessagePosted(v1::MessagePosted {
                conversation: Some(v1::ConversationInfo {
                    kind: "personal".into(),
                    subject: format!("Order {index}"),
                    owner_email: c.customer.clone(),
                    message_count: c.messages,
                    created_at: None,
                    pinned_message: 0,
                }),
                message_seq: c.messages,
                message_id: String::new(),
                sender: Some(sender),
                text: format!(
                    "Message {} about order {index}: when does it ship?",
                    c.messages
                ),
                source: "api".into(),
                created: Some(ts(clock)),
                recipients: vec![recipient],
                application_name: "Bench".into(),
                ..Default::default()
            }),
        ));
        if pending.len() >= BATCH * 4 {
            flush(&mut pending, &mut events);
        }
    }
    flush(&mut pending, &mut events);
    let wall = started.elapsed();
    println!(
        "projection: {events} events in {:.1} s applying ({:.0} events/s; {:.1} s wall incl. generation)",
        applying.as_secs_f64(),
        events as f64 / applying.as_secs_f64(),
        wall.as_secs_f64()
    );

    // Autovacuum is off on the benchmark machine; in production it vacuums these tables
    // continuously (PostgreSQL's default). Do once what it would have done by now.
    let t = Instant::now();
    let mut direct = diesel::PgConnection::establish(db.url()).unwrap();
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut direct)
        .unwrap();
    drop(direct);
    println!(
        "VACUUM ANALYZE after loading: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Reads: what GET /contacts/{c}/conversations runs (page, then its participants).
    let page = |contact: &str, filter: &InboxFilter, order: &InboxOrder| {
        let t = Instant::now();
        let page = store.inbox(contact, filter, order, None).unwrap();
        let ids: Vec<String> = page
            .items
            .iter()
            .map(|i| i.conversation_id.clone())
            .collect();
        store.members(APP, &ids, None).unwrap();
        (t.elapsed(), page)
    };
    let first = |limit| InboxOrder {
        limit,
        ..Default::default()
    };
    for _ in 0..50 {
        page(
            &store.contact_ids().id(APP, &customers[0]),
            &InboxFilter::default(),
            &first(10),
        );
    }
    let samples: Vec<Duration> = (0..2000)
        .map(|_| {
            let who = &customers[rng.random_range(0..customers_n)];
            page(
                &store.contact_ids().id(APP, who),
                &InboxFilter::default(),
                &first(10),
            )
            .0
        })
        .collect();
    report("first page, customer (~10 conversations)", samples);
    let samples: Vec<Duration> = (0..1000)
        .map(|_| {
            let who = &agents[rng.random_range(0..agents_n)];
            page(
                &store.contact_ids().id(APP, who),
                &InboxFilter::default(),
                &first(10),
            )
            .0
        })
        .collect();
    report("first page, agent (~10,000 conversations)", samples);
    let unread = InboxFilter {
        relevant: Some(Relevant::UnreadMessages),
        ..Default::default()
    };
    let samples: Vec<Duration> = (0..1000)
        .map(|_| {
            let who = &agents[rng.random_range(0..agents_n)];
            page(&store.contact_ids().id(APP, who), &unread, &first(10)).0
        })
        .collect();
    report("first page, agent, relevant=unread messages", samples);
    let any = InboxFilter {
        relevant: Some(Relevant::All),
        ..Default::default()
    };
    let samples: Vec<Duration> = (0..300)
        .map(|_| {
            let who = &agents[rng.random_range(0..agents_n)];
            page(&store.contact_ids().id(APP, who), &any, &first(10)).0
        })
        .collect();
    report("first page, agent, relevant=all", samples);

    // Deep pages: walk an agent's inbox by cursor; compare with offset paging.
    let agent = store.contact_ids().id(APP, &agents[0]);
    let mut order = first(10);
    let mut by_cursor = Vec::new();
    let mut pages = 0;
    loop {
        let (took, p) = page(&agent, &InboxFilter::default(), &order);
        by_cursor.push(took);
        pages += 1;
        let Some(next) = p.next_after else { break };
        order.after = Some(next);
    }
    report(
        &format!("every page by cursor, agent ({pages} pages)"),
        by_cursor,
    );
    let deep: Vec<Duration> = (0..200)
        .map(|i| {
            let order = InboxOrder {
                offset: 5000 + i,
                limit: 10,
                ..Default::default()
            };
            page(&agent, &InboxFilter::default(), &order).0
        })
        .collect();
    report("offset paging at start=5000 (for comparison)", deep);

    drop(store);
    if std::env::var_os("BENCH_KEEP_DB").is_some() {
        // For looking at query plans afterwards; drop it by hand.
        println!("kept database: {}", db.url());
        std::mem::forget(db);
    }
}
