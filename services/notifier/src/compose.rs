//! Rendering one notification email for one recipient.
//!
//! Privacy: the mail goes to the recipient alone; `From` is our notifications address with
//! the sender's display name; `Reply-To` is the recipient's own signed reply address; the
//! body names the sender by display name (or the part of the address before the `@`), so
//! no participant's address reaches anyone else.

use chrono::{DateTime, Utc};
use conversations_domain::reply_address::{CodeKind, ReplyAddressCodec};
use conversations_domain::sign_in_link::{LinkClaims, LinkCodec};
use conversations_domain::{AppId, ConversationId, ParticipantId};
use conversations_events::v1::{Envelope, MessagePosted, Participant};
use data_encoding::BASE64;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use crate::headers::{
    AutoSubmitted, ListUnsubscribe, ListUnsubscribePost, ThreadIndex, ThreadTopic,
    XAutoResponseSuppress,
};

/// The marker above which a reply's new text is expected; inbound mail cuts there.
pub use conversations_domain::REPLY_MARKER;

/// What every notification needs besides the event.
pub struct ComposeContext<'a> {
    /// Signs bounce addresses and unsubscribe tokens.
    pub codec: &'a ReplyAddressCodec,
    /// `REPLY_DOMAIN`.
    pub reply_domain: &'a str,
    /// `PUBLIC_URL`.
    pub public_url: &'a str,
    /// Signs the sign-in code of each recipient's link to our conversation page.
    pub links: &'a LinkCodec,
    /// When links written now stop working (`SIGN_IN_LINK_TTL_DAYS` from now).
    pub links_expire_at: DateTime<Utc>,
}

/// A rendered notification.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// SMTP `MAIL FROM`: the recipient's VERP bounce address.
    pub envelope_from: String,
    /// The complete message.
    pub raw: Vec<u8>,
}

/// Why an event could not be rendered (it is then dead-lettered).
#[derive(Debug, thiserror::Error)]
#[error("cannot render notification: {0}")]
pub struct ComposeError(pub String);

fn bad(what: impl std::fmt::Display) -> ComposeError {
    ComposeError(what.to_string())
}

/// How the sender is named to others.
pub fn sender_name(sender: &Participant) -> String {
    if !sender.display_name.is_empty() {
        return sender.display_name.clone();
    }
    sender
        .email
        .split('@')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("Someone")
        .to_owned()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>\n"),
            '\r' => {}
            other => out.push(other),
        }
    }
    out
}

/// Outlook's Thread-Index: 6 bytes of the conversation's creation time (FILETIME) and its
/// 16-byte id, identical for every mail of the conversation, plus 5 bytes per later message.
fn thread_index(conversation: &ConversationId, created_unix: i64, seq: u64) -> String {
    let filetime = (created_unix.max(0) as u64 + 11_644_473_600) * 10_000_000;
    let mut bytes = filetime.to_be_bytes()[..6].to_vec();
    bytes.extend_from_slice(conversation.as_uuid().as_bytes());
    if seq > 1 {
        let s = u32::try_from(seq).unwrap_or(u32::MAX).to_be_bytes();
        bytes.extend_from_slice(&[s[0], s[1], s[2], s[3], 0]);
    }
    BASE64.encode(&bytes)
}

/// Renders the notification of `message` for `recipient`.
pub fn render(
    ctx: &ComposeContext<'_>,
    envelope: &Envelope,
    message: &MessagePosted,
    recipient: &Participant,
) -> Result<Rendered, ComposeError> {
    let app: AppId = envelope.app_id.parse().map_err(bad)?;
    let conversation: ConversationId = envelope.conversation_id.parse().map_err(bad)?;
    let participant: ParticipantId = recipient.participant_id.parse().map_err(bad)?;
    let sender = message.sender.clone().unwrap_or_default();
    let info = message.conversation.clone().unwrap_or_default();
    let subject = if info.subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        info.subject.clone()
    };
    let app_name = if message.application_name.is_empty() {
        "Conversations"
    } else {
        message.application_name.as_str()
    };
    let from_name = format!("{} via {app_name}", sender_name(&sender));
    let notifications: Address = format!("notifications@{}", ctx.reply_domain)
        .parse()
        .map_err(bad)?;
    let to: Address = recipient.email.parse().map_err(bad)?;
    let reply_to: Address = recipient.reply_address.parse().map_err(bad)?;
    let to_name = (!recipient.display_name.is_empty()).then(|| recipient.display_name.clone());
    let root = format!("<{conversation}@{}>", ctx.reply_domain);
    let message_id = format!(
        "<{conversation}.{}.{participant}@{}>",
        message.message_seq, ctx.reply_domain
    );
    let token = ctx
        .codec
        .code(CodeKind::Unsubscribe, app, conversation, participant);
    let unsubscribe = format!("{}/api/v1/unsubscribe/{token}", ctx.public_url);
    // The application's own page for the conversation when it set one (it signs its users
    // in itself), ours otherwise, with this recipient's sign-in code in the fragment: a
    // fragment never reaches a server's access log, and the page removes it from the
    // address bar before it exchanges it.
    let link = if message.conversation_url.is_empty() {
        let code = ctx.links.mint(&LinkClaims {
            app_id: app,
            conversation_id: conversation,
            participant_id: participant,
            expires_at: ctx.links_expire_at,
        });
        format!(
            "{}/conversations/{conversation}#code={code}",
            ctx.public_url
        )
    } else {
        message.conversation_url.clone()
    };
    let who = sender_name(&sender);
    let created = info.created_at.map_or(0, |t| t.seconds);

    let text = format!(
        "{REPLY_MARKER}\r\n\r\n{who} wrote:\r\n\r\n{}\r\n\r\n-- \r\nView the conversation: {link}\r\nReply to this email to answer {who}. Stop these emails: {unsubscribe}\r\n",
        message.text.replace("\r\n", "\n").replace('\n', "\r\n")
    );
    let html = format!(
        "<!doctype html><html><body>\
         <p style=\"color:#999999;font-size:12px\">{REPLY_MARKER}</p>\
         <p><strong>{}</strong> wrote:</p>\
         <div style=\"border-left:3px solid #dddddd;padding-left:12px\">{}</div>\
         <p style=\"color:#666666;font-size:12px\"><a href=\"{}\">View the conversation</a> · \
         Reply to this email to answer. <a href=\"{}\">Stop these emails</a></p>\
         </body></html>",
        escape_html(&who),
        escape_html(&message.text),
        escape_html(&link),
        escape_html(&unsubscribe),
    );
    let subject_line = if message.message_seq > 1 {
        format!("Re: {subject}")
    } else {
        subject.clone()
    };
    let email = Message::builder()
        .from(Mailbox::new(Some(from_name), notifications))
        .to(Mailbox::new(to_name, to))
        .reply_to(Mailbox::new(None, reply_to))
        .subject(subject_line)
        .message_id(Some(message_id))
        .in_reply_to(root.clone())
        .references(root)
        .header(ThreadTopic(subject))
        .header(ThreadIndex(thread_index(
            &conversation,
            created,
            message.message_seq,
        )))
        .header(AutoSubmitted("auto-generated".into()))
        .header(XAutoResponseSuppress("All".into()))
        .header(ListUnsubscribe(format!("<{unsubscribe}>")))
        .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(bad)?;
    Ok(Rendered {
        envelope_from: ctx.codec.bounce_address(app, conversation, participant),
        raw: email.formatted(),
    })
}
