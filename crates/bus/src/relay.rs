//! The outbox relay: one loop per process that sequences committed events and moves them
//! to the sink.
//!
//! Ordering: only the holder of the outbox's relay lease sequences and publishes, in
//! position order (= commit order), so each conversation's events leave in order even with
//! several replicas. Failure: anything unconfirmed stays in the outbox and is published
//! again after a reconnect, with capped exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use conversations_db::Outbox;
use conversations_db::outbox::Sequenced;
use tokio::sync::Notify;

use crate::{BusError, Sink, SinkHealth};

/// Tuning of the relay loop.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events published per round trip to the outbox.
    pub batch_size: usize,
    /// How often to look at the outbox when nobody signals new events (other replicas).
    pub poll_interval: Duration,
    /// First wait after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
    /// How long a relay keeps the lease without renewing it.
    pub lease_ttl: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            poll_interval: Duration::from_millis(500),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(15),
        }
    }
}

/// Moves outbox rows to the sink.
pub struct Relay {
    outbox: Outbox,
    sink: Sink,
    wake: Arc<Notify>,
    health: Arc<SinkHealth>,
    config: RelayConfig,
    holder: String,
}

/// What one round achieved.
enum Round {
    /// Published this many events; there may be more.
    Published(usize),
    /// Nothing to do (or another replica holds the lease).
    Idle,
}

impl Relay {
    /// A relay; `wake` is notified by the API after each commit so events leave at once.
    pub fn new(
        outbox: Outbox,
        sink: Sink,
        wake: Arc<Notify>,
        health: Arc<SinkHealth>,
        config: RelayConfig,
    ) -> Self {
        Self {
            outbox,
            sink,
            wake,
            health,
            config,
            holder: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Runs until the task is dropped or aborted.
    pub async fn run(self) {
        if matches!(self.sink, Sink::InProcess(_)) {
            self.health.set(true);
        }
        let mut backoff = self.config.min_backoff;
        loop {
            match self.round().await {
                Ok(Round::Published(_)) => {
                    backoff = self.config.min_backoff;
                }
                Ok(Round::Idle) => {
                    backoff = self.config.min_backoff;
                    let _ =
                        tokio::time::timeout(self.config.poll_interval, self.wake.notified()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed; retrying");
                    if let Sink::Amqp(sink) = &self.sink
                        && matches!(e, BusError::Unavailable(_))
                    {
                        self.health.set(false);
                        sink.disconnect().await;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// Publishes everything currently in the outbox; for tests and graceful shutdown.
    pub async fn drain(&self) -> Result<usize, BusError> {
        let mut total = 0;
        while let Round::Published(n) = self.round().await? {
            total += n;
        }
        Ok(total)
    }

    async fn round(&self) -> Result<Round, BusError> {
        // Sequencing needs only the database: the feed keeps serving new events (to
        // catching-up replicas) while the broker is away.
        let outbox = self.outbox.clone();
        let holder = self.holder.clone();
        let ttl = chrono::Duration::from_std(self.config.lease_ttl)
            .unwrap_or_else(|_| chrono::Duration::seconds(15));
        let batch = self.config.batch_size;
        let in_process = matches!(self.sink, Sink::InProcess(_));
        let sequenced =
            blocking(move || outbox.sequence(&holder, chrono::Utc::now(), ttl, batch, in_process))
                .await?;
        let Sequenced::Positions { count, head } = sequenced else {
            return Ok(Round::Idle);
        };
        let bus = match &self.sink {
            Sink::InProcess(bus) => bus,
            Sink::Amqp(sink) => {
                sink.ensure_connected().await?;
                self.health.set(true);
                return self.publish(sink, count).await;
            }
        };
        // In process: sequenced is published; the consumers read the outbox themselves.
        bus.announce(head);
        Ok(if count > 0 {
            Round::Published(count)
        } else {
            Round::Idle
        })
    }

    /// Publishes sequenced, unpublished rows to RabbitMQ and marks what was confirmed.
    async fn publish(&self, sink: &crate::AmqpSink, sequenced: usize) -> Result<Round, BusError> {
        let outbox = self.outbox.clone();
        let batch = self.config.batch_size;
        let rows = blocking(move || outbox.unpublished(batch)).await?;
        if rows.is_empty() {
            return Ok(if sequenced > 0 {
                Round::Published(0)
            } else {
                Round::Idle
            });
        }
        let (confirmed, error) = sink.publish(self.outbox.table(), &rows).await;
        let published = confirmed.len();
        // Confirms are a prefix of the rows, in position order.
        if let Some(&up_to) = confirmed.last() {
            let outbox = self.outbox.clone();
            blocking(move || outbox.mark_published(up_to)).await?;
        }
        if published > 0 {
            tracing::debug!(published, "outbox events published");
        }
        match error {
            Some(e) => Err(e),
            None => Ok(Round::Published(published)),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, conversations_db::DbError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BusError::Unavailable(format!("outbox task failed: {e}")))?
        .map_err(BusError::from)
}
