//! metadata-query's own metrics (beside the HTTP ones every service has): how much the
//! projection applies and how long it takes. Alert when `metadata_query_batches_total
//! {result="failed"}` keeps rising (the database refuses batches; events are redelivered
//! and then dead-lettered).

use std::sync::OnceLock;
use std::time::Duration;

use conversations_web::metrics::{DURATION_BUCKETS, counter, histogram};
use prometheus::{HistogramVec, IntCounterVec};

/// Shows the counters at 0 from the start.
pub fn init() {
    for committed in [true, false] {
        record(0, None, committed);
    }
}

/// Records one batch: its size, how long it took, whether it committed.
pub fn batch_applied(events: usize, took: Duration, committed: bool) {
    record(events, Some(took), committed);
}

fn record(events: usize, took: Option<Duration>, committed: bool) {
    static BATCHES: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    static EVENTS: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    static SIZE: OnceLock<Option<HistogramVec>> = OnceLock::new();
    static SECONDS: OnceLock<Option<HistogramVec>> = OnceLock::new();
    let result = if committed { "applied" } else { "failed" };
    if let Some(c) = counter(
        &BATCHES,
        "metadata_query_batches_total",
        "Projection batches, by result (applied, failed).",
        &["result"],
    ) {
        c.with_label_values(&[result])
            .inc_by(u64::from(took.is_some()));
    }
    if let Some(c) = counter(
        &EVENTS,
        "metadata_query_events_total",
        "Events in projection batches, by result (applied, failed).",
        &["result"],
    ) {
        c.with_label_values(&[result])
            .inc_by(u64::try_from(events).unwrap_or(u64::MAX));
    }
    let Some(took) = took else {
        return;
    };
    if let Some(h) = histogram(
        &SIZE,
        "metadata_query_batch_size",
        "Events per projection batch.",
        &[],
        &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0],
    ) {
        h.with_label_values::<&str>(&[]).observe(events as f64);
    }
    if let Some(h) = histogram(
        &SECONDS,
        "metadata_query_batch_apply_seconds",
        "Time to apply one projection batch (one transaction).",
        &[],
        DURATION_BUCKETS,
    ) {
        h.with_label_values::<&str>(&[]).observe(took.as_secs_f64());
    }
}
