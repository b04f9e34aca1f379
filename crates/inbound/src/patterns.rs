//! The patterns classification looks for, compiled once per process.

use std::sync::LazyLock;

use regex::Regex;

/// The compiled patterns.
pub(crate) struct Patterns {
    /// `multipart/report; report-type=delivery-status` (RFC 3464).
    pub delivery_report: Regex,
    /// `multipart/report; report-type=feedback-report` (RFC 5965).
    pub feedback_report: Regex,
    /// `Feedback-Type:` anywhere (an ARF part some systems do not wrap properly).
    pub feedback_type: Regex,
    /// `Status: 5.1.1` of a delivery-status part.
    pub status_field: Regex,
    /// An enhanced status code anywhere in the report (`5.1.1`, `4.4.7`).
    pub enhanced_status: Regex,
    /// An SMTP reply code in the report text (`550 …`, `452-…`).
    pub smtp_reply: Regex,
    /// `Final-Recipient: rfc822; x@y` / `Original-Recipient:`.
    pub final_recipient: Regex,
    /// Wording of a delay (a transient report).
    pub delayed: Regex,
    /// Daemon senders: mailer-daemon, postmaster …
    pub daemon_sender: Regex,
    /// Daemon display names: "Mail Delivery System" …
    pub daemon_name: Regex,
    /// Subjects of non-delivery reports, in the common languages.
    pub bounce_subject: Regex,
    /// Report wording in the body of a non-standard bounce.
    pub bounce_body: Regex,
    /// Subjects of auto-replies, in the common languages.
    pub auto_reply_subject: Regex,
    /// An Amazon SES bounce event, plain or escaped inside an SNS envelope.
    pub ses_bounce: Regex,
    /// The same for a delivery event (`"notificationType": "Delivery"`).
    pub ses_delivery: Regex,
    /// `Precedence: bulk | junk | list | auto_reply`.
    pub bulk_precedence: Regex,
}

fn compile(pattern: &str) -> Regex {
    // Constants of this file, covered by its tests.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("valid built-in pattern")
}

pub(crate) static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| Patterns {
    delivery_report: compile(r#"(?is)multipart/report\s*;.*report-type\s*=\s*"?delivery-status"#),
    feedback_report: compile(r#"(?is)multipart/report\s*;.*report-type\s*=\s*"?feedback-report"#),
    feedback_type: compile(
        r#"(?im)^feedback-type:\s*(?:abuse|fraud|virus|other|not-spam|opt-out|dkim)|"notificationtype"\s*:\s*"complaint"|^subject:\s*complaint about message from|sent this email to unsubscribe from the message"#,
    ),
    status_field: compile(r"(?im)^\s*status:\s*([245]\.\d{1,3}\.\d{1,3})"),
    enhanced_status: compile(r"(?m)(?:^|[\s(\[#])([45]\.\d{1,3}\.\d{1,3})\b"),
    smtp_reply: compile(r"(?m)(?:^|[\s(:])([45][0-5]\d)[\s-][A-Za-z#<(]"),
    final_recipient: compile(
        r"(?im)^\s*(?:final|original)-recipient:\s*(?:rfc822|x400|utf-8)?\s*;?\s*<?([^\s<>;]+@[^\s<>;]+)>?",
    ),
    delayed: compile(
        r"(?i)\b(?:delayed|delay|has not yet been delivered|will (?:continue|retry)|temporar(?:y|ily)|retrying|still trying)\b",
    ),
    daemon_sender: compile(
        r"(?i)^(?:mailer-daemon|mailer_daemon|post_master|maildaemon|postmaster|mail-daemon|mdaemon|mailerdaemon|bounce|bounces|double-bounce|nobody|smtp|mail\.delivery|delivery|noreply-dsn|mailerd|dsn|returns?)(?:[+.@-]|$)",
    ),
    daemon_name: compile(
        r"(?i)^(?:mail delivery (?:system|subsystem|service)|mailer[- ]daemon|postmaster|microsoft outlook|mail administrator|internet mail delivery|mail system|delivery subsystem|e-?mail delivery)",
    ),
    bounce_subject: compile(
        r"(?i)^(?:\[[^\]]*\]\s*)?(?:undeliver|undelivered mail|delivery status notification|delivery (?:status|failure|report|notification|has failed|failed)|failure notice|returned mail|return(?:ed)? to sender|mail delivery fail|message (?:delivery|not delivered|could not be delivered|undeliverable)|non[- ]?deliver|nondeliver|could not send message|warning: could not send|mail system error|delivery (?:problem|error)|permanent (?:error|failure)|notice: mail|mail not delivered|bounce|failed delivery|rejected:|returned:|unzustellbar|nicht zustellbar|unzustellbare|fehler beim zustellen|non remis|non distribuable|échec de (?:la )?remise|no se puede entregar|notificación de estado de entrega|mancata consegna|impossibile recapitare|onbestelbaar|kan niet worden bezorgd|olevererbart|kunne ikke leveres|ikke leveret|niedostarczon|не доставлено|недоставленное|配信不能|未送達|退信|系统退信|delivery final|mail could not be delivered|your message (?:was|has been) (?:rejected|blocked|not delivered)|message blocked|sending failed|mail failure|メールエラー通知|mail error|error mail|returned mail notification|you [^ ]+ are not member|loop alert)",
    ),
    bounce_body: compile(
        r#"(?i)(?:this is (?:the|a) (?:mail system|delivery status notification|message from the qmail-send program|automatically generated delivery)|delivery to the following recipients? (?:failed|has failed)|i'm sorry to (?:have to )?inform you that your message could not|could not be delivered to (?:one or more|the following) recipients?|your message (?:did not reach|could not be delivered|wasn't delivered)|the following addresses? (?:had|have) permanent fatal errors|message (?:could not be|was not) delivered|delivery has failed to these recipients|unable to deliver (?:your )?message|permanent error\. the following address|"notificationtype"\s*:\s*"bounce"|\bnotificationtype["\s:=]+bounce)"#,
    ),
    auto_reply_subject: compile(
        r"(?i)^(?:(?:re|aw|sv|antw|fw|fwd)\s*:\s*)?(?:auto(?:matic|matische|matisk|matique)?[- ]?(?:reply|respon\w*|antwort|svar|réponse|risposta|respuesta|resposta|antwoord|odpowiedź)|out of (?:the )?office|away from (?:the )?office|on vacation|vacation reply|abwesenheit|abwesend|absence|absent|réponse automatique|respuesta automática|fuera de la oficina|fuori (?:sede|ufficio)|risposta automatica|resposta automática|ausente|afwezig|automatisch antwoord|frånvaro|fraværende|ikke til stede|ferie|poza biurem|nieobecność|автоответ|автоматический ответ|отсутств|不在|自動応答|自动回复|自動回覆|i am (?:currently )?(?:out|away)|thank you for (?:your (?:e-?mail|message)|contacting))",
    ),
    bulk_precedence: compile(r"(?i)^\s*(?:bulk|junk|list|auto_reply|auto-reply)\b"),
    ses_bounce: compile(r#"notificationType\\?"\s*:\s*\\?"Bounce"#),
    ses_delivery: compile(r#"(?:notificationType|eventType)\\?"\s*:\s*\\?"Delivery"#),
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_are_not_bounce_subjects() {
        for subject in ["Re: delivery failed?", "AW: Lieferung", "Order 7"] {
            assert!(!PATTERNS.bounce_subject.is_match(subject), "{subject}");
        }
        for subject in [
            "Undelivered Mail Returned to Sender",
            "Delivery Status Notification (Failure)",
            "failure notice",
            "Unzustellbar: Bestellung",
        ] {
            assert!(PATTERNS.bounce_subject.is_match(subject), "{subject}");
        }
    }
}
