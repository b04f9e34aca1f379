//! Retention: published outbox events and stored idempotent responses are deleted once
//! they are older than `FEED_RETENTION_DAYS` / `IDEMPOTENCY_RETENTION_HOURS`. A
//! metadata-query replica further behind than the feed reaches rebuilds from the snapshot
//! (`GET /internal/v1/snapshot`); in-process consumers (all-in-one) set a floor below which
//! nothing they have not handled is pruned.

use std::time::Duration;

use conversations_store::{Store, StoreError};

/// How long things are kept, and how often they are pruned.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Published outbox events.
    pub feed: Duration,
    /// Stored idempotent responses.
    pub idempotency: Duration,
    /// Time between two prunings.
    pub interval: Duration,
}

pub use conversations_bus::retention::ago;

/// Prunes once: returns (events, responses) deleted. `floor`: see
/// [`conversations_bus::retention::PruneFloor`].
pub fn prune_once(
    store: &Store,
    retention: Retention,
    floor: Option<i64>,
) -> Result<(usize, usize), StoreError> {
    let events = store
        .outbox()
        .prune(ago(retention.feed), floor.unwrap_or(i64::MAX))?;
    let responses = store.prune_idempotent_responses(ago(retention.idempotency))?;
    Ok((events, responses))
}
