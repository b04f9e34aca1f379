//! The notice a person gets when their reply by email was refused (inbound-mail decides,
//! at most once a day per address; the notifier only renders and sends it). Sent with a
//! null envelope sender and `Auto-Submitted: auto-replied` (RFC 3834), so no mail system
//! answers it and no loop can start.

use conversations_events::v1::RejectionNotice;
use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use crate::compose::{ComposeError, Rendered};
use crate::headers::{AutoSubmitted, XAutoResponseSuppress};

/// The `conversation_id` of a notice's delivery row: notices are not messages of a
/// conversation, and no `notification_*` event is published about them.
pub fn delivery_key(inbound_id: &str) -> String {
    format!("notice:{inbound_id}")
}

/// Whether a delivery row is a rejection notice.
pub fn is_notice(conversation_id: &str) -> bool {
    conversation_id.starts_with("notice:")
}

/// Renders the notice.
pub fn render(
    reply_domain: &str,
    app_name: &str,
    notice: &RejectionNotice,
) -> Result<Rendered, ComposeError> {
    let bad = |what: &dyn std::fmt::Display| ComposeError(what.to_string());
    let from: lettre::Address = format!("notifications@{reply_domain}")
        .parse()
        .map_err(|e| bad(&e))?;
    let to: lettre::Address = notice.email.parse().map_err(|e| bad(&e))?;
    let subject = if notice.subject.trim().is_empty() {
        "Your reply could not be delivered".to_owned()
    } else {
        format!(
            "Your reply could not be delivered: {}",
            notice.subject.trim()
        )
    };
    let sender = if app_name.trim().is_empty() {
        "Conversations".to_owned()
    } else {
        app_name.trim().to_owned()
    };
    let text = format!(
        "Your email reply was not posted to the conversation.\r\n\r\nReason: {}\r\n\r\n\
         If you meant to answer, reply from the address the notification was sent to, or \
         answer in the application itself. This notice is sent at most once a day; it \
         needs no reply.\r\n\r\nReference: {}\r\n",
        notice.reason, notice.inbound_id
    );
    let email = Message::builder()
        .from(Mailbox::new(Some(sender), from))
        .to(Mailbox::new(None, to))
        .subject(subject)
        .message_id(Some(format!(
            "<notice.{}@{reply_domain}>",
            notice.inbound_id
        )))
        .header(AutoSubmitted("auto-replied".into()))
        .header(XAutoResponseSuppress("All".into()))
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| bad(&e))?;
    Ok(Rendered {
        envelope_from: String::new(),
        raw: email.formatted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_says_why_and_starts_no_loop() {
        let notice = RejectionNotice {
            email: "mallory@example.com".into(),
            reason: "the sender is not the participant this reply address was given to".into(),
            subject: "Re: Your order".into(),
            inbound_id: "01a2".into(),
        };
        let rendered = render("reply.example.com", "Shop", &notice).unwrap();
        let text = String::from_utf8(rendered.raw).unwrap();
        assert!(rendered.envelope_from.is_empty(), "null sender");
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.contains("Subject: Your reply could not be delivered: Re: Your order"));
        assert!(text.contains("the sender is not the participant"));
        assert!(text.contains("To: mallory@example.com"));
        assert!(is_notice(&delivery_key("01a2")));
        assert!(!is_notice("01a2"));
    }
}
