//! Pruning what was published, periodically, without taking away what an in-process
//! consumer (all-in-one) has not read yet.

use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The highest feed position that every consumer reading the outbox itself has handled
/// (events above it must stay), or `None` when there is no such consumer.
pub type PruneFloor = Arc<dyn Fn() -> Option<i64> + Send + Sync>;

/// Where the floor is set (by the all-in-one, once its consumers run); read at each
/// pruning.
#[derive(Clone, Default)]
pub struct FloorSlot(Arc<RwLock<Option<PruneFloor>>>);

impl std::fmt::Debug for FloorSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloorSlot").finish_non_exhaustive()
    }
}

impl FloorSlot {
    /// Sets the floor.
    pub fn set(&self, floor: PruneFloor) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(floor);
    }

    /// The floor now: `None` when no consumer reads the outbox itself.
    pub fn current(&self) -> Option<i64> {
        let floor = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        floor.and_then(|f| f())
    }
}

/// The moment `age` ago (the beginning of time when that is before it): what a retention
/// period keeps starts there.
pub fn ago(age: Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// One pruning: given the floor, deletes what is due; returns how many rows went.
pub type PruneStep = Arc<dyn Fn(Option<i64>) -> Result<usize, String> + Send + Sync>;

/// Runs `step` every `interval` (on a blocking thread) until the task is aborted.
pub async fn every(interval: Duration, floor: FloorSlot, what: &'static str, step: PruneStep) {
    loop {
        tokio::time::sleep(interval).await;
        let (floor, step) = (floor.clone(), step.clone());
        match tokio::task::spawn_blocking(move || step(floor.current())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(rows)) => tracing::info!(rows, what, "pruned"),
            Ok(Err(e)) => tracing::warn!(error = %e, what, "pruning failed; trying again later"),
            Err(e) => tracing::warn!(error = %e, what, "pruning task failed"),
        }
    }
}
