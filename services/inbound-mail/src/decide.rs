//! What happens to a mail, decided without I/O: which of our addresses it was sent to,
//! whether it is our own mail coming back (a loop), whether the reply address verifies and
//! the sender is that participant, and what text would be posted. The pipeline fetches
//! the facts (the participant, recent mail counts, earlier deliveries) and records the
//! result; the rules live here.

use conversations_domain::reply_address::{CodeKind, ReplyAddressCodec, ReplyTarget};
use conversations_domain::{AppId, ConversationId, ParticipantId};
use conversations_events::internal::ReplyTarget as TargetFacts;
use conversations_inbound::Kind;
use email_reply::{Confidence, Extracted, Person, Rule};
use serde::Serialize;

use crate::mail::ReadMail;

/// What became of a mail: the `outcome` of the incoming log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Posted to the conversation.
    Posted,
    /// The same mail (Message-ID) was handled before: nothing done again.
    Duplicate,
    /// An automatic reply (out of office and the like): dropped.
    AutoReply,
    /// A delivery failure report (or a complaint): the address may be suppressed.
    Bounce,
    /// Refused: unknown or forged address, wrong sender, participant left, unreadable
    /// mail, our own mail looping back, nothing written.
    Rejected,
    /// Kept back, not posted: failed DMARC at our own authentication server.
    Held,
    /// Could not be handled now (a dependency was down); the sender's MTA retries.
    Error,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Self; 7] = [
        Self::Posted,
        Self::Duplicate,
        Self::AutoReply,
        Self::Bounce,
        Self::Rejected,
        Self::Held,
        Self::Error,
    ];

    /// Its name in the log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Duplicate => "duplicate",
            Self::AutoReply => "auto_reply",
            Self::Bounce => "bounce",
            Self::Rejected => "rejected",
            Self::Held => "held",
            Self::Error => "error",
        }
    }

    /// Parses a stored or queried outcome.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Posted,
            Self::Duplicate,
            Self::AutoReply,
            Self::Bounce,
            Self::Rejected,
            Self::Held,
            Self::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

/// Which of our addresses a mail was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressed {
    /// The address as found.
    pub address: String,
    /// A reply address (`r…`) or the VERP bounce address (`b…`) of a notification.
    pub kind: CodeKind,
    /// Whom it names (not yet verified: that needs the conversation's application).
    pub target: ReplyTarget,
}

/// Finds our reply or bounce address among the envelope recipient and the mail's
/// recipients, in that order of trust.
pub fn find_address(
    codec: &ReplyAddressCodec,
    envelope_recipient: Option<&str>,
    mail: &ReadMail,
) -> Option<Addressed> {
    let candidates = envelope_recipient
        .map(|r| r.trim().trim_matches(['<', '>']).to_ascii_lowercase())
        .into_iter()
        .chain(mail.recipients.iter().cloned());
    for address in candidates {
        let Some((local, domain)) = address.rsplit_once('@') else {
            continue;
        };
        if !domain.eq_ignore_ascii_case(codec.domain()) {
            continue;
        }
        for kind in [CodeKind::Reply, CodeKind::Bounce] {
            if let Ok(target) = codec.decode_code(kind, local) {
                return Some(Addressed {
                    address: address.clone(),
                    kind,
                    target,
                });
            }
        }
    }
    None
}

/// Whether the mail is our own coming back: sent from our notification address, or
/// carrying a Message-ID of our domain (notifications' ids are `<…@REPLY_DOMAIN>`).
pub fn is_own_mail(reply_domain: &str, mail: &ReadMail) -> bool {
    let ours = |address: &str| {
        address
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(reply_domain))
    };
    mail.from == format!("notifications@{}", reply_domain.to_ascii_lowercase())
        || mail.message_id.as_deref().is_some_and(ours)
}

/// The message a reply answers: our notification Message-IDs are
/// `<{conversation}.{seq}.{participant}@REPLY_DOMAIN>`.
pub fn answered_seq(
    reply_domain: &str,
    conversation: ConversationId,
    mail: &ReadMail,
) -> Option<u64> {
    let prefix = format!("{conversation}.");
    mail.in_reply_to.iter().find_map(|id| {
        let (local, domain) = id.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(reply_domain) {
            return None;
        }
        let rest = local.strip_prefix(&prefix)?;
        rest.split('.').next()?.parse().ok()
    })
}

/// Whether `Authentication-Results` from our own server (`authserv_id`) says DMARC failed.
pub fn dmarc_failed(authserv_id: &str, mail: &ReadMail) -> bool {
    mail.authentication_results.iter().any(|header| {
        let mut parts = header.split(';');
        let server = parts.next().unwrap_or_default().trim();
        let server = server.split_whitespace().next().unwrap_or_default();
        server.eq_ignore_ascii_case(authserv_id)
            && parts.any(|p| p.trim().to_ascii_lowercase().starts_with("dmarc=fail"))
    })
}

/// A decision that needs no more facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What happens.
    pub outcome: Outcome,
    /// Why, in words an operator understands.
    pub reason: String,
    /// Whether the sender is told (a person's reply refused for a reason they can act
    /// on; never automatic mail, loops or unknown addresses, which the MTA answers).
    pub notify_sender: bool,
}

impl Verdict {
    fn new(outcome: Outcome, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            reason: reason.into(),
            notify_sender: false,
        }
    }

    /// A refusal the sender is told of.
    fn told(outcome: Outcome, reason: impl Into<String>) -> Self {
        Self {
            notify_sender: true,
            ..Self::new(outcome, reason)
        }
    }
}

/// A verified target: the application and participant a mail is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The application.
    pub app: AppId,
    /// The conversation.
    pub conversation: ConversationId,
    /// The participant.
    pub participant: ParticipantId,
}

/// Checks the address's HMAC against the conversation's application and returns who it
/// names; a forged or altered address is refused.
pub fn verify(
    codec: &ReplyAddressCodec,
    addressed: &Addressed,
    facts: &TargetFacts,
) -> Result<Verified, Verdict> {
    let forged = || Verdict::new(Outcome::Rejected, "the reply address does not verify");
    let app: AppId = facts.app_id.parse().map_err(|_| forged())?;
    let local = addressed.address.rsplit_once('@').map_or("", |(l, _)| l);
    codec
        .verify_code(addressed.kind, local, app)
        .map_err(|_| forged())?;
    Ok(Verified {
        app,
        conversation: addressed.target.conversation_id,
        participant: addressed.target.participant_id,
    })
}

/// The checks a verified reply passes before its text is extracted: it is a person's
/// reply (not an auto-reply or a report), from the participant, who is still in the
/// conversation, and not held by DMARC. `None` means: go on.
pub fn check_reply(
    mail: &ReadMail,
    facts: &TargetFacts,
    authserv_id: Option<&str>,
) -> Option<Verdict> {
    match &mail.kind {
        Kind::Reply => {}
        Kind::AutoReply { reason } => {
            return Some(Verdict::new(
                Outcome::AutoReply,
                format!("automatic reply ({reason})"),
            ));
        }
        // Bounces reach the reply address too (a bounce of the person's own mail to us is
        // rare; a report from their server is what it usually is): recorded, never posted.
        Kind::Bounce(b) => {
            return Some(Verdict::new(
                Outcome::Bounce,
                format!("delivery report ({})", b.reason),
            ));
        }
        Kind::FeedbackReport => {
            return Some(Verdict::new(Outcome::Bounce, "feedback (abuse) report"));
        }
    }
    if !mail.from.eq_ignore_ascii_case(facts.email.trim()) {
        return Some(Verdict::told(
            Outcome::Rejected,
            "the sender is not the participant this reply address was given to",
        ));
    }
    if !facts.active {
        return Some(Verdict::told(
            Outcome::Rejected,
            "the participant has left the conversation",
        ));
    }
    if let Some(id) = authserv_id
        && dmarc_failed(id, mail)
    {
        return Some(Verdict::new(Outcome::Held, format!("DMARC failed at {id}")));
    }
    None
}

/// The reply extracted from the bodies (before the leak guard: [`masked`]). The client's
/// attribution line above our quoted notification names one of our addresses (the reply
/// address the mail was sent to, or the notifications sender): that finds the history in
/// any language.
pub fn extract(reply_domain: &str, mail: &ReadMail) -> Extracted {
    let notifications = format!("notifications@{reply_domain}");
    let domain = format!("@{}", reply_domain.to_ascii_lowercase());
    let mut ours: Vec<&str> = mail
        .recipients
        .iter()
        .filter(|r| r.to_ascii_lowercase().ends_with(&domain))
        .map(String::as_str)
        .collect();
    ours.push(&notifications);
    let hints = email_reply::Hints {
        our_addresses: &ours,
    };
    email_reply::extract_body_with(mail.text.as_deref(), mail.html.as_deref(), &hints)
}

/// What the leak guard shows instead of the address of a participant without a name.
pub const HIDDEN_ADDRESS: &str = "(address hidden)";

/// `extracted` after the leak guard: every real address of anyone in the conversation
/// (the replier's own signature, a quoted attribution kept, a pasted mail) replaced by
/// their display name, and phone numbers too when the application asks for it.
pub fn masked(extracted: Extracted, facts: &TargetFacts) -> Extracted {
    let mut people: Vec<Person<'_>> = facts
        .people
        .iter()
        .map(|p| Person {
            email: &p.email,
            shown_as: p
                .display_name
                .as_deref()
                .filter(|name| !name.trim().is_empty())
                .unwrap_or(HIDDEN_ADDRESS),
        })
        .collect();
    if !facts
        .people
        .iter()
        .any(|p| p.email.eq_ignore_ascii_case(&facts.email))
    {
        people.push(Person {
            email: &facts.email,
            shown_as: HIDDEN_ADDRESS,
        });
    }
    // Longer addresses first, so that one which contains another is replaced whole.
    people.sort_by_key(|p| std::cmp::Reverse(p.email.len()));
    // The cut part too: it is shown beside the message on request.
    let mut reply_text = email_reply::mask(&extracted.reply_text, &people);
    let mut elided_text = email_reply::mask(&extracted.elided_text, &people);
    if facts.mask_phone_numbers {
        reply_text = email_reply::mask_phone_numbers(&reply_text);
        elided_text = email_reply::mask_phone_numbers(&elided_text);
    }
    Extracted {
        reply_text,
        elided_text,
        ..extracted
    }
}

/// `rule` of the log.
pub fn rule_name(rule: Rule) -> &'static str {
    rule.as_str()
}

/// `confidence` of the log.
pub fn confidence_name(confidence: Confidence) -> &'static str {
    match confidence {
        Confidence::Low => "low",
        Confidence::Medium => "medium",
        Confidence::High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> ReplyAddressCodec {
        ReplyAddressCodec::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            "reply.example",
        )
    }

    fn mail(raw: &str) -> ReadMail {
        crate::mail::read(raw.as_bytes()).unwrap()
    }

    fn facts(app: AppId, email: &str, active: bool) -> TargetFacts {
        TargetFacts {
            app_id: app.to_string(),
            conversation_id: String::new(),
            participant_id: String::new(),
            email: email.into(),
            active,
            message_count: 3,
            people: Vec::new(),
            mask_phone_numbers: false,
        }
    }

    #[test]
    fn the_reply_address_is_found_verified_and_the_sender_checked() {
        let (app, conv, part) = (AppId::new(), ConversationId::new(), ParticipantId::new());
        let address = codec().encode(app, conv, part);
        let raw = format!(
            "From: Bob <BOB@example.com>\r\nTo: Someone <{}>\r\nMessage-ID: <x@example.com>\r\nIn-Reply-To: <{conv}.2.{part}@reply.example>\r\n\r\nThanks\r\n",
            address.to_uppercase()
        );
        let m = mail(&raw);
        let found = find_address(&codec(), None, &m).unwrap();
        assert_eq!(found.kind, CodeKind::Reply);
        assert_eq!(found.target.conversation_id, conv);
        let verified = verify(&codec(), &found, &facts(app, "bob@example.com", true)).unwrap();
        assert_eq!(verified.participant, part);
        assert_eq!(
            check_reply(&m, &facts(app, "bob@example.com", true), None),
            None
        );
        assert_eq!(answered_seq("reply.example", conv, &m), Some(2));

        let other_app = verify(
            &codec(),
            &found,
            &facts(AppId::new(), "bob@example.com", true),
        );
        assert_eq!(other_app.unwrap_err().outcome, Outcome::Rejected);
        let wrong_sender = check_reply(&m, &facts(app, "carol@example.com", true), None).unwrap();
        assert!(wrong_sender.reason.contains("sender"));
        let left = check_reply(&m, &facts(app, "bob@example.com", false), None).unwrap();
        assert!(left.reason.contains("left"));
    }

    #[test]
    fn mail_to_other_addresses_names_nobody_and_our_own_mail_is_a_loop() {
        let m = mail(
            "From: notifications@reply.example\r\nTo: hello@reply.example, x@elsewhere.example\r\nMessage-ID: <a@b>\r\n\r\nhi\r\n",
        );
        assert_eq!(
            find_address(&codec(), Some("rjunk@reply.example"), &m),
            None
        );
        assert!(is_own_mail("reply.example", &m));
        let ours = mail("From: a@b.example\r\nMessage-ID: <c.1.p@REPLY.example>\r\n\r\nhi\r\n");
        assert!(is_own_mail("reply.example", &ours));
    }

    #[test]
    fn dmarc_failures_count_only_from_our_own_server() {
        let m = mail(
            "From: a@b.example\r\nAuthentication-Results: mx.ours.example; spf=pass; dmarc=fail (p=reject) header.from=b.example\r\nAuthentication-Results: evil.example; dmarc=pass\r\n\r\nhi\r\n",
        );
        assert!(dmarc_failed("mx.ours.example", &m));
        assert!(!dmarc_failed("evil.example", &m));
        assert!(!dmarc_failed("other.example", &m));
    }
}
