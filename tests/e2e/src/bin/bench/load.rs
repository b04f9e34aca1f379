//! Load through the public HTTP API, and the time until each post has done everything it
//! causes: every notification at the SMTP sink (matched by its Message-ID
//! `<conversation.seq.participant@…>`) and every recipient's inbox updated (metadata-query's
//! live stream says so once the projection committed it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conversations_test_support::SmtpSink;
use serde_json::{Value, json};

/// Where the load goes.
pub struct Target<'a> {
    /// Base URL of the API that takes posts.
    pub api: String,
    /// Base URL of metadata-query (the inbox and its live stream).
    pub inbox: String,
    /// The application's API key.
    pub key: String,
    /// Where the notifications arrive.
    pub sink: &'a SmtpSink,
    /// The HTTP client.
    pub client: reqwest::Client,
}

/// A conversation of the load: who posts, who is notified.
pub struct Conversation {
    id: String,
    sender: String,
}

/// When each recipient's inbox showed (conversation, seq): from the live streams.
type Seen = Arc<Mutex<Vec<(String, u64, Instant)>>>;

/// The inboxes being watched.
pub struct Watchers {
    seen: Seen,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Watchers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What one run measured (milliseconds for latencies).
#[derive(Debug, Default)]
pub struct Measured {
    /// Posts accepted (201).
    pub posts: usize,
    /// Posts refused or failed.
    pub failed: usize,
    /// How long posting went on (s).
    pub posting: f64,
    /// From the first post until everything every post caused had happened (s).
    pub done_after: f64,
    /// Whether everything arrived before the deadline.
    pub complete: bool,
    /// POST latencies.
    pub post: Vec<f64>,
    /// Post → mail at the sink, per mail.
    pub mail: Vec<f64>,
    /// Post → visible in the recipient's inbox, per recipient.
    pub inbox: Vec<f64>,
}

impl Measured {
    /// Posts per second with everything done.
    pub fn end_to_end_rate(&self) -> f64 {
        self.posts as f64 / self.done_after.max(1e-9)
    }
}

/// The `p`-th percentile (0–100) of `values`.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn agent(n: usize) -> String {
    format!("agent{n}@bench.example")
}

/// `n` conversations of `people` people: a customer who posts and `people - 1` of
/// `agents` agents who are notified (few agents, so that few live streams watch every
/// inbox). Their first messages are mailed and projected before this returns, and the
/// sink is emptied.
pub async fn conversations(
    target: &Target<'_>,
    n: usize,
    people: usize,
    agents: usize,
) -> Vec<Conversation> {
    let mut created = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        let requests = chunk.iter().map(|&i| {
            let sender = format!("customer{i}@bench.example");
            let to: Vec<String> = (0..people - 1).map(|j| agent((i + j) % agents)).collect();
            let body = json!({"sender": sender, "to": to, "subject": format!("Bench {i}"),
                              "text": "first message"});
            let request = target
                .client
                .post(format!("{}/api/v1/conversations", target.api))
                .bearer_auth(&target.key)
                .json(&body)
                .send();
            async move {
                let response: Value = request.await.ok()?.json().await.ok()?;
                Some(Conversation {
                    id: response["conversation"]["id"].as_str()?.to_owned(),
                    sender,
                })
            }
        });
        created.extend(
            futures_util::future::join_all(requests)
                .await
                .into_iter()
                .flatten(),
        );
    }
    let expected = created.len() * (people - 1);
    let deadline = Instant::now() + Duration::from_secs(120);
    while target.sink.count() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    target.sink.clear();
    created
}

/// Opens the live stream of every agent's inbox.
pub async fn watch(target: &Target<'_>, agents: usize) -> Watchers {
    let seen: Seen = Arc::default();
    let mut tasks = Vec::new();
    for n in 0..agents {
        let find = format!("{}/api/v1/contacts?email={}", target.inbox, agent(n));
        let mut contact = None;
        for _ in 0..600 {
            let found = target
                .client
                .get(&find)
                .bearer_auth(&target.key)
                .send()
                .await;
            if let Ok(r) = found
                && r.status() == 200
                && let Ok(body) = r.json::<Value>().await
            {
                contact = body["id"].as_str().map(str::to_owned);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(contact) = contact else {
            continue;
        };
        let stream = target
            .client
            .get(format!("{}/api/v1/contacts/{contact}/events", target.inbox))
            .bearer_auth(&target.key)
            .send()
            .await;
        let Ok(mut stream) = stream else { continue };
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = stream.chunk().await {
                let at = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if !block.contains("event: message") {
                        continue;
                    }
                    let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                    if let Some(Ok(v)) = data.map(serde_json::from_str::<Value>)
                        && let (Some(c), Some(s)) =
                            (v["conversation_id"].as_str(), v["seq"].as_u64())
                        && let Ok(mut seen) = seen.lock()
                    {
                        seen.push((c.to_owned(), s, at));
                    }
                }
            }
        }));
    }
    Watchers { seen, tasks }
}

/// One post: its conversation, number and when it was sent, or `None` when refused.
async fn post(
    client: &reqwest::Client,
    url: String,
    key: &str,
    sender: &str,
    k: usize,
) -> Option<(u64, f64)> {
    let started = Instant::now();
    let response = client
        .post(url)
        .bearer_auth(key)
        .json(&json!({"sender": sender, "text": format!("bench message {k}")}))
        .send()
        .await
        .ok()?;
    if response.status() != 201 {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    Some((
        body["seq"].as_u64()?,
        started.elapsed().as_secs_f64() * 1000.0,
    ))
}

type Sent = Arc<Mutex<Vec<(String, u64, Instant, f64)>>>;

/// Notes a post sent at `at` to conversation `id`: accepted (its number and latency) or
/// failed.
fn record(
    sent: &Sent,
    failed: &std::sync::atomic::AtomicUsize,
    id: String,
    at: Instant,
    result: Option<(u64, f64)>,
) {
    match result {
        Some((seq, ms)) => {
            if let Ok(mut s) = sent.lock() {
                s.push((id, seq, at, ms));
            }
        }
        None => {
            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Posts at `rate` per second for `duration` (open loop: the schedule does not wait for
/// answers), round robin over the conversations.
pub async fn open_loop(
    target: &Target<'_>,
    convs: &[Conversation],
    watchers: &Watchers,
    rate: f64,
    duration: Duration,
    recipients: usize,
) -> Measured {
    let sent: Sent = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(4096));
    let mut tasks = Vec::with_capacity(total);
    for k in 0..total {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let c = &convs[k % convs.len()];
        let (client, key, sender) = (target.client.clone(), target.key.clone(), c.sender.clone());
        let (url, id) = (
            format!("{}/api/v1/conversations/{}", target.api, c.id),
            c.id.clone(),
        );
        let (sent, failed) = (sent.clone(), failed.clone());
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            record(
                &sent,
                &failed,
                id,
                at,
                post(&client, url, &key, &sender, k).await,
            );
            drop(permit);
        }));
    }
    let posting = started.elapsed().as_secs_f64();
    futures_util::future::join_all(tasks).await;
    settle(
        target,
        watchers,
        sent,
        failed.load(std::sync::atomic::Ordering::Relaxed),
        started,
        posting,
        recipients,
    )
    .await
}

/// `workers` clients posting one after the other for `duration`, each in its own share of
/// the conversations (so no two posts race for one conversation).
pub async fn closed_loop(
    target: &Target<'_>,
    convs: &[Conversation],
    watchers: &Watchers,
    workers: usize,
    duration: Duration,
    recipients: usize,
) -> Measured {
    let sent: Sent = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mine: Vec<(String, String)> = convs
            .iter()
            .skip(w)
            .step_by(workers)
            .map(|c| (c.id.clone(), c.sender.clone()))
            .collect();
        let (client, key, api) = (
            target.client.clone(),
            target.key.clone(),
            target.api.clone(),
        );
        let (sent, failed) = (sent.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut k = 0;
            while started.elapsed() < duration && !mine.is_empty() {
                let (id, sender) = &mine[k % mine.len()];
                let at = Instant::now();
                let url = format!("{api}/api/v1/conversations/{id}");
                let result = post(&client, url, &key, sender, k).await;
                record(&sent, &failed, id.clone(), at, result);
                k += 1;
            }
        }));
    }
    futures_util::future::join_all(tasks).await;
    let posting = started.elapsed().as_secs_f64();
    settle(
        target,
        watchers,
        sent,
        failed.load(std::sync::atomic::Ordering::Relaxed),
        started,
        posting,
        recipients,
    )
    .await
}

/// Waits until every mail and inbox update of the posts has arrived (or 120 s passed),
/// then matches them to the posts.
async fn settle(
    target: &Target<'_>,
    watchers: &Watchers,
    sent: Sent,
    failed: usize,
    started: Instant,
    posting: f64,
    recipients: usize,
) -> Measured {
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let expected = sent.len() * recipients;
    let deadline = Instant::now() + Duration::from_secs(120);
    let inbox_count = || watchers.seen.lock().map(|s| s.len()).unwrap_or(0);
    while (target.sink.count() < expected || inbox_count() < expected) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let complete = target.sink.count() >= expected && inbox_count() >= expected;
    let when: HashMap<(String, u64), Instant> = sent
        .iter()
        .map(|(id, seq, at, _)| ((id.clone(), *seq), *at))
        .collect();
    let mut last = started;
    let mut mail = Vec::with_capacity(expected);
    for m in target.sink.received() {
        let key = m.header("Message-ID").and_then(|id| {
            let inner = id.trim().trim_start_matches('<');
            let mut parts = inner.split('@').next()?.split('.');
            Some((parts.next()?.to_owned(), parts.next()?.parse::<u64>().ok()?))
        });
        if let Some(at) = key.and_then(|k| when.get(&k)) {
            mail.push((m.received_at - *at).as_secs_f64() * 1000.0);
            last = last.max(m.received_at);
        }
    }
    let mut inbox = Vec::with_capacity(expected);
    if let Ok(mut seen) = watchers.seen.lock() {
        for (id, seq, at) in seen.drain(..) {
            if let Some(posted) = when.get(&(id, seq)) {
                inbox.push((at - *posted).as_secs_f64() * 1000.0);
                last = last.max(at);
            }
        }
    }
    target.sink.clear();
    Measured {
        posts: sent.len(),
        failed,
        posting,
        done_after: (last - started).as_secs_f64(),
        complete,
        post: sent.iter().map(|s| s.3).collect(),
        mail,
        inbox,
    }
}

/// POST latency (ms, median of `samples`) after a conversation has reached each of
/// `sizes` messages, posting into it one after the other.
pub async fn growth(target: &Target<'_>, sizes: &[usize], samples: usize) -> Vec<(usize, f64)> {
    let created: Value = match target
        .client
        .post(format!("{}/api/v1/conversations", target.api))
        .bearer_auth(&target.key)
        .json(&json!({"sender": "grower@bench.example", "to": [agent(0)], "text": "first"}))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => return Vec::new(),
    };
    let Some(id) = created["conversation"]["id"].as_str().map(str::to_owned) else {
        return Vec::new();
    };
    let url = format!("{}/api/v1/conversations/{id}", target.api);
    let mut count = 1;
    let mut out = Vec::new();
    for &size in sizes {
        while count < size {
            let _ = post(
                &target.client,
                url.clone(),
                &target.key,
                "grower@bench.example",
                count,
            )
            .await;
            count += 1;
        }
        let mut latencies = Vec::with_capacity(samples);
        for _ in 0..samples {
            if let Some((_, ms)) = post(
                &target.client,
                url.clone(),
                &target.key,
                "grower@bench.example",
                count,
            )
            .await
            {
                latencies.push(ms);
            }
            count += 1;
        }
        out.push((size, percentile(&mut latencies, 50.0)));
    }
    target.sink.clear();
    out
}
