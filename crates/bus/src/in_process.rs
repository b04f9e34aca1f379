//! The all-in-one bus: no copy of the events travels anywhere. The outbox itself is the
//! log; the relay sequences committed rows and announces the new head position here, and
//! each in-process consumer reads the outbox from the position it recorded after handling
//! its last event. A slow or crashed consumer therefore loses nothing: it catches up from
//! its own position, however far behind it is.

use tokio::sync::watch;

/// The head position of one outbox, announced to in-process consumers.
#[derive(Clone, Debug)]
pub struct InProcessBus {
    head: watch::Sender<i64>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    /// A bus whose head is unknown (0) until the relay's first step.
    pub fn new() -> Self {
        let (head, _) = watch::channel(0);
        Self { head }
    }

    /// Wakes whenever new events have been sequenced. Only the newest head is kept: a
    /// consumer reads everything after its own position anyway.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Announces that events up to `head` can be read.
    pub fn announce(&self, head: i64) {
        self.head.send_if_modified(|current| {
            let newer = head > *current;
            if newer {
                *current = head;
            }
            newer
        });
    }
}

/// How an in-process consumer follows an outbox: `page` handles one page of it and says
/// whether there may be more. Called again at once while there is more; when caught up,
/// on `head`'s next announcement (or after a second regardless); after a failure, after
/// a capped, jittered exponential backoff (the page was not recorded, so it is read
/// again). Runs until the task is aborted.
pub async fn follow<F, Fut, E>(what: &'static str, mut head: watch::Receiver<i64>, mut page: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
    E: std::fmt::Display,
{
    use backon::BackoffBuilder;
    let backoff = backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let mut delays = backoff.build();
    loop {
        match page().await {
            Ok(true) => delays = backoff.build(),
            Ok(false) => {
                delays = backoff.build();
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(1), head.changed()).await;
            }
            Err(error) => {
                let retry_in = delays.next().unwrap_or(std::time::Duration::from_secs(5));
                tracing::warn!(%error, what, retry_in_ms = retry_in.as_millis() as u64, "could not follow the outbox; retrying");
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}
