//! What inbound mail decides about a raw email before anything is posted, without I/O:
//! whether it is a person's reply, an auto-reply (out-of-office and the like, RFC 3834), a
//! bounce (a delivery status notification, RFC 3464, or one of the many non-standard
//! non-delivery reports) with its status and failed recipient, or an abuse/feedback report
//! (RFC 5965). Only a [`Kind::Reply`] is ever posted.
//!
//! The rules look at what mail systems actually send (checked against ~630 real bounces
//! and auto-replies from ~75 systems: `tests/corpus.rs`): report MIME types, the headers
//! RFC 3834 asks auto-responders to set, null senders, daemon senders, and the subjects
//! in the common languages, in that order of trust.

mod patterns;

use mail_parser::{HeaderValue, MessageParser};

use patterns::PATTERNS;

/// What a mail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Written by a person: to be posted (after its reply text is extracted).
    Reply,
    /// Written by a machine on a person's behalf (out of office, "thanks for your mail"):
    /// dropped and recorded.
    AutoReply {
        /// Which signal said so.
        reason: &'static str,
    },
    /// A notification that a mail could not be delivered.
    Bounce(Bounce),
    /// An abuse or feedback report about a mail we sent.
    FeedbackReport,
}

/// What a bounce says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`, when one is given.
    pub status: Option<String>,
    /// True for a permanent failure (5.x.x, or a 5xx reply): the address should not be
    /// mailed again.
    pub permanent: bool,
    /// The address that failed, when the report names it.
    pub recipient: Option<String>,
    /// Which signal said it is a bounce.
    pub reason: &'static str,
}

impl Bounce {
    /// A report that a mail *was* delivered (status 2.x.x: an RFC 3464 report with
    /// `Action: delivered`, an Amazon SES delivery event): a delivery status notification,
    /// but no failure; nothing is counted against the address.
    pub fn delivered(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s.starts_with('2'))
    }
}

/// The raw value of a header, if present and not empty.
fn header<'a>(message: &'a mail_parser::Message<'_>, name: &'a str) -> Option<&'a str> {
    message
        .header_raw(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether the envelope sender is null (`Return-Path: <>`), the mark of bounces and of
/// well-behaved auto-responders.
fn null_sender(message: &mail_parser::Message<'_>) -> bool {
    match message.return_path() {
        HeaderValue::Text(path) => path.trim().trim_matches(['<', '>']).trim().is_empty(),
        HeaderValue::TextList(paths) => paths
            .iter()
            .any(|p| p.trim().trim_matches(['<', '>']).trim().is_empty()),
        _ => header(message, "Return-Path")
            .is_some_and(|p| p.trim_matches(['<', '>']).trim().is_empty()),
    }
}

/// The sender's address, lower-case.
fn from_address(message: &mail_parser::Message<'_>) -> String {
    message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn from_name(message: &mail_parser::Message<'_>) -> String {
    message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .unwrap_or_default()
        .to_owned()
}

/// Reads the status and the failed recipient out of the report (wherever the mail system
/// put them: a `message/delivery-status` part or plain text).
fn bounce(raw: &str, message: &mail_parser::Message<'_>, reason: &'static str) -> Bounce {
    let status = PATTERNS
        .status_field
        .captures(raw)
        .or_else(|| PATTERNS.enhanced_status.captures(raw))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned());
    let reply_code = PATTERNS
        .smtp_reply
        .captures(raw)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_owned());
    let permanent = match (&status, &reply_code) {
        (Some(s), _) => s.starts_with('5'),
        (None, Some(code)) => code.starts_with('5'),
        // A report that says nothing more is, in practice, a failure for good.
        (None, None) => !PATTERNS.delayed.is_match(raw),
    };
    let recipient = header(message, "X-Failed-Recipients")
        .map(|r| r.split(',').next().unwrap_or_default().trim().to_owned())
        .or_else(|| {
            PATTERNS
                .final_recipient
                .captures(raw)
                .and_then(|c| c.get(1))
                .map(|m| m.as_str().trim_matches(['<', '>']).to_ascii_lowercase())
        });
    Bounce {
        status,
        permanent,
        recipient,
        reason,
    }
}

/// Classifies a raw RFC 5322 message. `None` when it cannot be parsed at all.
pub fn classify(raw: &[u8]) -> Option<Kind> {
    let message = MessageParser::default().parse(raw)?;
    Some(classify_parsed(&message, raw))
}

/// Classifies a message already parsed from `raw` (callers that parse it anyway save
/// parsing it twice).
pub fn classify_parsed(message: &mail_parser::Message<'_>, raw: &[u8]) -> Kind {
    let text = String::from_utf8_lossy(raw);
    let content_type = header(message, "Content-Type").unwrap_or_default();
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let from = from_address(message);
    let from_name = from_name(message);

    // Structured reports first: they say exactly what they are.
    if PATTERNS.feedback_report.is_match(content_type) || PATTERNS.feedback_type.is_match(&text) {
        return Kind::FeedbackReport;
    }
    if PATTERNS.delivery_report.is_match(content_type) {
        return Kind::Bounce(bounce(&text, message, "delivery_status_report"));
    }
    if header(message, "X-Failed-Recipients").is_some() {
        return Kind::Bounce(bounce(&text, message, "x_failed_recipients"));
    }
    // Amazon SES event notifications delivered by SNS over email (JSON, often escaped
    // inside an SNS envelope): a bounce event is a bounce; a delivery event is a delivery
    // report that says the mail arrived (status 2.0.0, counted against nobody); anything
    // else is machine mail, dropped like an auto-reply. (Complaint events are feedback
    // reports, above.)
    if from.ends_with("@sns.amazonaws.com") && text.contains("notificationType") {
        if PATTERNS.ses_bounce.is_match(&text) {
            return Kind::Bounce(bounce(&text, message, "ses_notification"));
        }
        if PATTERNS.ses_delivery.is_match(&text) {
            return Kind::Bounce(Bounce {
                status: Some("2.0.0".to_owned()),
                permanent: false,
                recipient: None,
                reason: "ses_delivery",
            });
        }
        return Kind::AutoReply {
            reason: "ses_notification",
        };
    }

    // RFC 3834 and the headers auto-responders add.
    let auto_submitted =
        header(message, "Auto-Submitted").is_some_and(|v| !v.eq_ignore_ascii_case("no"));
    let auto_subject = PATTERNS.auto_reply_subject.is_match(&subject);
    let daemon =
        PATTERNS.daemon_sender.is_match(&from) || PATTERNS.daemon_name.is_match(&from_name);
    let bounce_subject = PATTERNS.bounce_subject.is_match(&subject);
    if (daemon || bounce_subject) && !auto_subject {
        return Kind::Bounce(bounce(&text, message, "daemon_or_subject"));
    }
    if auto_submitted {
        return Kind::AutoReply {
            reason: "auto_submitted",
        };
    }
    for name in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponder",
        "X-AutoReply-From",
    ] {
        if header(message, name).is_some() {
            return Kind::AutoReply {
                reason: "autoreply_header",
            };
        }
    }
    if header(message, "Precedence").is_some_and(|p| PATTERNS.bulk_precedence.is_match(p)) {
        return Kind::AutoReply {
            reason: "precedence",
        };
    }
    if auto_subject {
        return Kind::AutoReply {
            reason: "auto_reply_subject",
        };
    }
    // A null sender with no other sign is a machine's mail too: a report we could not
    // read is safest taken as a bounce.
    if null_sender(message) {
        return Kind::Bounce(bounce(&text, message, "null_sender"));
    }
    if PATTERNS.bounce_body.is_match(&text) && message.in_reply_to().is_empty() {
        return Kind::Bounce(bounce(&text, message, "report_text"));
    }
    Kind::Reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amazon_ses_events_by_sns_are_machine_mail() {
        let sns = |body: &str| {
            format!(
                "From: SES <no-reply@sns.amazonaws.com>\r\nSubject: AWS Notification Message\r\n\r\n{body}\r\n"
            )
        };
        let escaped = sns(
            r#"{"Type" : "Notification", "Message" : "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bouncedRecipients\":[{\"emailAddress\":\"a@b.example\",\"status\":\"5.1.1\"}]}}"}"#,
        );
        assert!(matches!(
            classify(escaped.as_bytes()),
            Some(Kind::Bounce(_))
        ));
        let delivery = sns(r#"{"notificationType":"Delivery","mail":{}}"#);
        assert!(matches!(
            classify(delivery.as_bytes()),
            Some(Kind::Bounce(b)) if b.delivered() && !b.permanent
        ));
        let other = sns(r#"{"notificationType":"Received","mail":{}}"#);
        assert!(matches!(
            classify(other.as_bytes()),
            Some(Kind::AutoReply { .. })
        ));
        let complaint = sns(r#"{"notificationType":"Complaint","complaint":{}}"#);
        assert_eq!(classify(complaint.as_bytes()), Some(Kind::FeedbackReport));
    }

    #[test]
    fn a_report_that_the_mail_was_delivered_is_no_failure() {
        let raw = b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Successful Mail Delivery Report\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n--b--\r\n";
        let Some(Kind::Bounce(report)) = classify(raw) else {
            panic!("not a delivery report");
        };
        assert!(report.delivered());
        assert!(!report.permanent);
        assert_eq!(report.recipient.as_deref(), Some("bob@example.org"));
    }

    #[test]
    fn one_click_unsubscribes_and_list_loop_alerts_are_recognised() {
        let unsubscribe = b"From: someone@icloud.com\r\nSubject: unsubscribe\r\nAuto-Submitted: auto-replied\r\n\r\nApple Mail sent this email to unsubscribe from the message.\r\n";
        assert_eq!(classify(unsubscribe), Some(Kind::FeedbackReport));
        let alert = b"From: list-admin@example.org\r\nSubject: Loop Alert: Duplicated Message-ID\r\n\r\nDuplicated Message-ID.\r\n";
        assert!(matches!(classify(alert), Some(Kind::Bounce(_))));
        let reply = b"From: fred@example.com\r\nSubject: Re: Loop Alert\r\nIn-Reply-To: <a@b>\r\n\r\nSeen it.\r\n";
        assert_eq!(classify(reply), Some(Kind::Reply));
    }

    #[test]
    fn a_person_replying_is_a_reply() {
        let raw = b"From: Fred <fred@example.com>\r\nTo: r1@reply.example.com\r\nSubject: Re: Order 7\r\nIn-Reply-To: <c.1@reply.example.com>\r\n\r\nSee you at ten.\r\n";
        assert_eq!(classify(raw), Some(Kind::Reply));
    }

    #[test]
    fn a_delivery_status_report_is_a_permanent_bounce_for_its_recipient() {
        let raw = b"From: MAILER-DAEMON@mx.example.net\r\nTo: b1@reply.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n";
        let Some(Kind::Bounce(b)) = classify(raw) else {
            panic!("not a bounce");
        };
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert!(b.permanent);
        assert_eq!(b.recipient.as_deref(), Some("gone@example.org"));
    }

    #[test]
    fn out_of_office_is_an_auto_reply() {
        let raw = b"From: Tina <tina@example.com>\r\nSubject: Automatic reply: Order 7\r\nAuto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n";
        assert!(matches!(classify(raw), Some(Kind::AutoReply { .. })));
        let raw = b"From: Tina <tina@example.com>\r\nSubject: Abwesenheitsnotiz: Bestellung\r\n\r\nIch bin nicht da.\r\n";
        assert!(matches!(classify(raw), Some(Kind::AutoReply { .. })));
    }

    #[test]
    fn a_transient_failure_is_not_permanent() {
        let raw = b"From: Mail Delivery System <mailer-daemon@mx.example.net>\r\nSubject: Delivery Status Notification (Delay)\r\n\r\nDelivery to gone@example.org has been delayed.\r\nStatus: 4.4.1\r\n";
        let Some(Kind::Bounce(b)) = classify(raw) else {
            panic!("not a bounce");
        };
        assert!(!b.permanent);
    }

    #[test]
    fn a_reply_that_mentions_delivery_is_still_a_reply() {
        let raw = b"From: Fred <fred@example.com>\r\nSubject: Re: delivery failed?\r\nIn-Reply-To: <c.1@reply.example.com>\r\n\r\nThe delivery failed yesterday, the parcel comes today.\r\n";
        assert_eq!(classify(raw), Some(Kind::Reply));
    }
}
