//! The outbox relay: one loop per process that moves committed events to the sink.
//!
//! Ordering: rows are published in outbox order (= commit order), and only the holder of
//! the store's relay lease publishes, so each conversation's events leave in order even
//! with several replicas. Failure: anything unconfirmed stays in the outbox and is
//! published again after a reconnect, with capped exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use conversations_store::Store;
use tokio::sync::Notify;

use crate::{BusError, PublishedEvent, Sink, SinkHealth};

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
    store: Store,
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
        store: Store,
        sink: Sink,
        wake: Arc<Notify>,
        health: Arc<SinkHealth>,
        config: RelayConfig,
    ) -> Self {
        Self {
            store,
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
        if let Sink::Amqp(sink) = &self.sink {
            sink.ensure_connected().await?;
            self.health.set(true);
        }
        let store = self.store.clone();
        let holder = self.holder.clone();
        let ttl = chrono::Duration::from_std(self.config.lease_ttl)
            .unwrap_or_else(|_| chrono::Duration::seconds(15));
        let batch = self.config.batch_size;
        let rows = blocking(move || {
            if !store.acquire_relay_lease(&holder, chrono::Utc::now(), ttl)? {
                return Ok(None);
            }
            store.unpublished(batch).map(Some)
        })
        .await?;
        let Some(rows) = rows.filter(|r| !r.is_empty()) else {
            return Ok(Round::Idle);
        };
        let (confirmed, error) = match &self.sink {
            Sink::Amqp(sink) => sink.publish(&rows).await,
            Sink::InProcess(bus) => {
                for row in &rows {
                    bus.publish(PublishedEvent {
                        event_id: row.event_id.clone(),
                        event_type: row.event_type.clone(),
                        payload: row.payload.clone(),
                    });
                }
                (rows.iter().map(|r| r.id).collect(), None)
            }
        };
        let published = confirmed.len();
        let store = self.store.clone();
        blocking(move || store.mark_published(&confirmed, chrono::Utc::now())).await?;
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
    f: impl FnOnce() -> Result<T, conversations_store::StoreError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BusError::Unavailable(format!("outbox task failed: {e}")))?
        .map_err(BusError::from)
}
