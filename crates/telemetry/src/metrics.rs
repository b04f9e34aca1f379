//! Prometheus metrics: one process-wide registry (the all-in-one serves its components'
//! metrics together, and a metric is defined once however many servers a process or a
//! test starts). Each metric is made on first use; should that ever fail it is simply not
//! exported, never a panic. Served at `/metrics` by `conversations_web::metrics`.

use std::sync::OnceLock;

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

/// Seconds buckets for request and apply durations: 1 ms to 10 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn register<T: prometheus::core::Collector + Clone + 'static>(metric: T) -> Option<T> {
    prometheus::default_registry()
        .register(Box::new(metric.clone()))
        .ok()
        .map(|()| metric)
}

/// A counter family, registered once per process (`slot` is the caller's static).
pub fn counter(
    slot: &'static OnceLock<Option<IntCounterVec>>,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<&'static IntCounterVec> {
    slot.get_or_init(|| register(IntCounterVec::new(Opts::new(name, help), labels).ok()?))
        .as_ref()
}

/// A gauge family of whole numbers, registered once per process.
pub fn gauge(
    slot: &'static OnceLock<Option<IntGaugeVec>>,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<&'static IntGaugeVec> {
    slot.get_or_init(|| register(IntGaugeVec::new(Opts::new(name, help), labels).ok()?))
        .as_ref()
}

/// A histogram family, registered once per process.
pub fn histogram(
    slot: &'static OnceLock<Option<HistogramVec>>,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Option<&'static HistogramVec> {
    slot.get_or_init(|| {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        register(HistogramVec::new(opts, labels).ok()?)
    })
    .as_ref()
}

/// A gauge family of fractional values (seconds, say), registered once per process.
pub fn float_gauge(
    slot: &'static OnceLock<Option<GaugeVec>>,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<&'static GaugeVec> {
    slot.get_or_init(|| register(GaugeVec::new(Opts::new(name, help), labels).ok()?))
        .as_ref()
}
