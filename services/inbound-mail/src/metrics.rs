//! inbound-mail's metrics: every mail it takes in, by outcome (posted, duplicate, bounce,
//! auto_reply, rejected, …, as in the incoming log). Alert when `rejected` rises against
//! `posted` (replies being refused: reply addresses, senders, a broken conversation-api).

use std::sync::OnceLock;

use prometheus::IntCounterVec;

/// Shows every outcome's series at 0 from the start.
pub fn init() {
    for outcome in crate::decide::Outcome::ALL {
        count(outcome.as_str(), 0);
    }
}

/// Counts one handled mail.
pub fn handled(outcome: &str) {
    count(outcome, 1);
}

fn count(outcome: &str, n: u64) {
    static MAILS: OnceLock<Option<IntCounterVec>> = OnceLock::new();
    if let Some(c) = conversations_web::metrics::counter(
        &MAILS,
        "inbound_mails_total",
        "Inbound mails by outcome, as recorded in the incoming log.",
        &["outcome"],
    ) {
        c.with_label_values(&[outcome]).inc_by(n);
    }
}
