//! What was decided about one mail ([`Evaluation`]), what `inspect` prints, and how it
//! becomes an entry of the incoming log.

use conversations_inbound::Kind;
use serde::Serialize;

use crate::decide::{Outcome, Verdict};
use crate::pipeline::Unavailable;
use crate::store::{Details, LogEntry};

/// Everything decided about a mail: what `inspect` prints and what the log records.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// What happens (or would happen).
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// True when the mail names no reply address of ours that verifies: the MTA should
    /// answer "no such user" (exit 67, HTTP 404).
    pub unknown_address: bool,
    /// reply, auto_reply, bounce, feedback_report; absent for unreadable mail.
    pub classification: Option<String>,
    /// `From`.
    pub sender: String,
    /// `Message-ID`, or the digest used in its place.
    pub message_id: String,
    /// `Subject`.
    pub subject: String,
    /// Our address it was sent to.
    pub reply_address: Option<String>,
    /// `reply` or `bounce` (the VERP address of a notification).
    pub address_kind: Option<&'static str>,
    /// Whether the address's signature verified.
    pub signature_valid: Option<bool>,
    /// Whether `From` is the participant the address was given to.
    pub sender_matches: Option<bool>,
    /// The application.
    pub app_id: Option<String>,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// The participant.
    pub participant_id: Option<String>,
    /// The message the mail answered (`In-Reply-To`).
    pub answers_seq: Option<u64>,
    /// The text that is (or would be) posted.
    pub reply_text: Option<String>,
    /// What extraction cut.
    pub elided_text: Option<String>,
    /// The rule that cut it.
    pub rule: Option<&'static str>,
    /// How sure the cut is.
    pub confidence: Option<&'static str>,
    /// Attachment names (not stored yet).
    pub attachments: Vec<String>,
    /// The message posted (`posted`, and `duplicate` of a posted mail).
    pub message_seq: Option<u64>,
    /// For a bounce: the address, whether permanent, the status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce: Option<BounceFacts>,
    /// Whether the sender is to be told of a refusal (at most once a day).
    pub notify_sender: bool,
    #[serde(skip)]
    pub(crate) dedupe_key: String,
}

/// What a bounce said about a participant's address.
#[derive(Debug, Clone, Serialize)]
pub struct BounceFacts {
    /// The participant's address.
    pub email: String,
    /// A permanent failure.
    pub permanent: bool,
    /// The enhanced status code.
    pub status: Option<String>,
}

/// What became of a received mail.
#[derive(Debug, Clone, Serialize)]
pub struct Handled {
    /// The inbound id (in the log).
    pub id: String,
    /// For a refusal the sender is told of: `queued` (the notifier sends it), or
    /// `already_sent_today` (one notice per address and day).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<&'static str>,
    /// The evaluation acted on.
    #[serde(flatten)]
    pub evaluation: Evaluation,
}

pub(crate) fn offline_evaluation(error: &Unavailable) -> Evaluation {
    blank(
        Outcome::Error,
        format!("deferred, the sender's server retries: {error}"),
        "-".into(),
    )
}

pub(crate) fn blank(outcome: Outcome, reason: String, dedupe_key: String) -> Evaluation {
    Evaluation {
        outcome,
        reason,
        unknown_address: false,
        classification: None,
        sender: String::new(),
        message_id: String::new(),
        subject: String::new(),
        reply_address: None,
        address_kind: None,
        signature_valid: None,
        sender_matches: None,
        app_id: None,
        conversation_id: None,
        participant_id: None,
        answers_seq: None,
        reply_text: None,
        elided_text: None,
        rule: None,
        confidence: None,
        attachments: Vec::new(),
        message_seq: None,
        bounce: None,
        notify_sender: false,
        dedupe_key,
    }
}

pub(crate) fn apply(mut e: Evaluation, verdict: Verdict) -> Evaluation {
    e.outcome = verdict.outcome;
    e.reason = verdict.reason;
    e.notify_sender = verdict.notify_sender;
    e
}

pub(crate) fn classification(kind: &Kind) -> &'static str {
    match kind {
        Kind::Reply => "reply",
        Kind::AutoReply { .. } => "auto_reply",
        Kind::Bounce(_) => "bounce",
        Kind::FeedbackReport => "feedback_report",
    }
}

pub(crate) fn log_entry(
    id: &str,
    received_at: chrono::DateTime<chrono::Utc>,
    raw: &[u8],
    envelope_recipient: Option<String>,
    e: &Evaluation,
) -> LogEntry {
    LogEntry {
        id: id.to_owned(),
        app_id: e.app_id.clone(),
        received_at: received_at.naive_utc(),
        sender: e.sender.clone(),
        reply_address: e.reply_address.clone(),
        message_id: e.message_id.clone(),
        dedupe_key: e.dedupe_key.clone(),
        subject: e.subject.clone(),
        size_bytes: i64::try_from(raw.len()).unwrap_or(i64::MAX),
        outcome: e.outcome.as_str().to_owned(),
        reason: e.reason.clone(),
        conversation_id: e.conversation_id.clone(),
        participant_id: e.participant_id.clone(),
        message_seq: e.message_seq.and_then(|n| i64::try_from(n).ok()),
        details: Details {
            envelope_recipient,
            reply_text: e.reply_text.clone(),
            elided_text: e.elided_text.clone(),
            rule: e.rule.map(str::to_owned),
            confidence: e.confidence.map(str::to_owned),
            attachments: e.attachments.clone(),
        },
        raw_message: Some(raw.to_vec()),
    }
}
