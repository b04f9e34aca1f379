//! The machine's own limits, measured in the same run as the system: what PostgreSQL,
//! RabbitMQ and the SMTP sink can do at most for the work one post causes there.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use conversations_test_support::{SmtpSink, TestDatabase, amqp_url};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Where Debian puts pgbench.
fn pgbench() -> Option<std::path::PathBuf> {
    let dir = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .collect();
    versions.sort_by_key(|e| e.file_name());
    versions
        .iter()
        .rev()
        .map(|e| e.path().join("bin/pgbench"))
        .find(|p| p.exists())
}

/// Transactions per second of one post's writes (tests/e2e/bench/post.sql), 8 clients.
pub fn postgres(seconds: u64) -> Result<f64, String> {
    let pgbench = pgbench().ok_or("pgbench not found under /usr/lib/postgresql")?;
    let db = TestDatabase::create("conv_bench_pg").map_err(|e| e.to_string())?;
    // libpq's URL, without diesel's extra parameters.
    let url = db.url().to_owned();
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench");
    let schema = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &url, "-f"])
        .arg(bench.join("schema.sql"))
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !schema.status.success() {
        return Err(String::from_utf8_lossy(&schema.stderr).into_owned());
    }
    let run = Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-c", "8", "-j", "2", "-T"])
        .arg(seconds.to_string())
        .arg("-f")
        .arg(bench.join("post.sql"))
        .arg(&url)
        .output()
        .map_err(|e| format!("pgbench: {e}"))?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "no tps in pgbench's output: {out}{}",
                String::from_utf8_lossy(&run.stderr)
            )
        })
}

/// Persistent messages per second through a quorum queue, published with confirms (a
/// window of 256 in flight) and consumed with acks at once, `size` bytes each.
pub async fn rabbitmq(messages: usize, size: usize) -> Result<f64, String> {
    let e = |e: lapin::Error| e.to_string();
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .map_err(e)?;
    let queue = format!("bench.ceiling.{}", uuid::Uuid::new_v4().simple());
    let publisher = connection.create_channel().await.map_err(e)?;
    let mut arguments = FieldTable::default();
    arguments.insert(
        ShortString::from("x-queue-type"),
        AMQPValue::LongString("quorum".into()),
    );
    publisher
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await
        .map_err(e)?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(e)?;
    let consumer_channel = connection.create_channel().await.map_err(e)?;
    consumer_channel
        .basic_qos(512, Default::default())
        .await
        .map_err(e)?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut seen = 0;
        while seen < messages {
            let Some(Ok(delivery)) = consumer.next().await else {
                break;
            };
            seen += 1;
            if seen % 64 == 0 || seen == messages {
                let _ = delivery.ack(BasicAckOptions { multiple: true }).await;
            }
        }
        seen
    });
    let payload = vec![0xab_u8; size];
    let mut window = std::collections::VecDeque::new();
    for _ in 0..messages {
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(e)?;
        window.push_back(confirm);
        if window.len() >= 256
            && let Some(oldest) = window.pop_front()
        {
            oldest.await.map_err(e)?;
        }
    }
    for confirm in window {
        confirm.await.map_err(e)?;
    }
    let seen = consuming.await.map_err(|e| e.to_string())?;
    let rate = seen as f64 / started.elapsed().as_secs_f64();
    let _ = publisher
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
    let _ = connection.close(200, "done".into()).await;
    Ok(rate)
}

/// Mails per second the SMTP sink accepts over `connections` connections, each mail
/// `size` bytes, the dialogue a sender has with it (MAIL, RCPT, DATA, the message, QUIT
/// at the end).
pub async fn smtp(sink: &SmtpSink, connections: usize, mails: usize, size: usize) -> f64 {
    let started = Instant::now();
    let per_connection = mails.div_ceil(connections);
    let port = sink.port();
    let body = format!(
        "Subject: bench\r\n\r\n{}\r\n.\r\n",
        "x".repeat(size.saturating_sub(40))
    );
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move { send_mails(port, per_connection, &body).await })
        })
        .collect();
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap_or(0);
    }
    sent as f64 / started.elapsed().as_secs_f64()
}

async fn send_mails(port: u16, n: usize, body: &str) -> usize {
    let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return 0;
    };
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    // A reply, possibly multi-line ("250-…" continues, "250 …" ends).
    async fn reply(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    ) -> bool {
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .unwrap_or(Ok(None))
        {
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.starts_with('2') || line.starts_with('3');
            }
        }
        false
    }
    if !reply(&mut lines).await {
        return 0;
    }
    let _ = write.write_all(b"EHLO bench\r\n").await;
    if !reply(&mut lines).await {
        return 0;
    }
    let mut sent = 0;
    for _ in 0..n {
        let steps = [
            "MAIL FROM:<bench@example.com>\r\n",
            "RCPT TO:<sink@example.com>\r\n",
            "DATA\r\n",
            body,
        ];
        for step in steps {
            if write.write_all(step.as_bytes()).await.is_err() || !reply(&mut lines).await {
                return sent;
            }
        }
        sent += 1;
    }
    let _ = write.write_all(b"QUIT\r\n").await;
    sent
}
