//! The notifier's metrics: what happened to each notification mail. Alert on a rising
//! `notifier_mails_total{outcome="failed"}` (SMTP refusing mail for good) and on
//! `outcome="retried"` outpacing `sent` (the relay is in trouble).

use std::sync::OnceLock;

use prometheus::IntCounterVec;

/// Every outcome.
const OUTCOMES: [&str; 5] = ["sent", "retried", "failed", "suppressed", "muted"];

/// Shows every series at 0 from the start, so a scrape before the first mail (and an
/// alert rule) finds them.
pub fn init() {
    for outcome in OUTCOMES {
        count(outcome, 0);
    }
}

/// Counts one mail by outcome: `sent`, `retried` (a transient failure, tried again
/// later), `failed`, `suppressed` (address on the bounce list) or `muted`.
pub fn mail(outcome: &str) {
    count(outcome, 1);
}

fn count(outcome: &str, n: u64) {
    static MAILS: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    if let Some(c) = conversations_web::metrics::counter(
        &MAILS,
        "notifier_mails_total",
        "Notification mails by outcome (sent, retried, failed, suppressed, muted).",
        &["outcome"],
    ) {
        c.with_label_values(&[outcome]).inc_by(n);
    }
}
