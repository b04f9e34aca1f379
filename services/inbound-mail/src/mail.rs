//! Reading a raw mail into what the rest of inbound-mail needs, within bounds: a mail that
//! cannot be read (empty, NUL bytes, no header section, too many headers or MIME parts) is
//! refused with a reason, never a panic. Pure: no I/O.

use conversations_inbound::Kind;
use data_encoding::HEXLOWER;
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// Most header fields a mail may have (real mail has tens; a relay chain a hundred or so).
pub const MAX_HEADERS: usize = 1000;
/// Most MIME parts a mail may have.
pub const MAX_PARTS: usize = 500;

/// Why a mail could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// Nothing was received.
    #[error("the message is empty")]
    Empty,
    /// NUL bytes have no place in a mail (RFC 5322) and are a sign of corruption.
    #[error("the message contains NUL bytes")]
    NulBytes,
    /// No header section, or no blank line after it.
    #[error("the message has no header section (truncated or not a mail)")]
    NoHeaders,
    /// Over [`MAX_HEADERS`].
    #[error("the message has more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// Over [`MAX_PARTS`].
    #[error("the message has more than {MAX_PARTS} MIME parts")]
    TooManyParts,
    /// mail-parser could not make a message of it.
    #[error("the message could not be parsed")]
    Unparseable,
}

/// What inbound-mail uses of a mail.
#[derive(Debug, Clone)]
pub struct ReadMail {
    /// `Message-ID` without brackets, when present.
    pub message_id: Option<String>,
    /// The Message-ID, or a digest of the raw mail when there is none: what
    /// de-duplication and the idempotency key use.
    pub dedupe_id: String,
    /// The `From` address, lower-case.
    pub from: String,
    /// Addresses the mail was sent to, in the order they are trusted: `Delivered-To`,
    /// `X-Original-To`, `To`, `Cc`.
    pub recipients: Vec<String>,
    /// `Subject`.
    pub subject: String,
    /// The Message-IDs the mail answers (`In-Reply-To`, then `References`, newest first).
    pub in_reply_to: Vec<String>,
    /// The first plain-text body.
    pub text: Option<String>,
    /// The first HTML body.
    pub html: Option<String>,
    /// Names of the attachments (not stored yet, only counted and named).
    pub attachments: Vec<String>,
    /// `Authentication-Results` header values.
    pub authentication_results: Vec<String>,
    /// What the mail is: a person's reply, an auto-reply, a bounce, a feedback report.
    pub kind: Kind,
}

/// The first text/plain and the first text/html body as the client wrote them. Not
/// mail-parser's `body_text`/`body_html`: those convert one into the other when a part is
/// missing, and an HTML-only reply turned into text by them has lost the quote markup
/// (`gmail_quote`, `blockquote type="cite"` …) the trimmer cuts by.
fn bodies(message: &Message<'_>) -> (Option<String>, Option<String>) {
    let text = message.text_bodies().find_map(|part| match &part.body {
        PartType::Text(text) => Some(text.to_string()),
        _ => None,
    });
    let html = message.html_bodies().find_map(|part| match &part.body {
        PartType::Html(html) => Some(html.to_string()),
        _ => None,
    });
    (text, html)
}

/// Checks the bounds before parsing.
fn check_bounds(raw: &[u8]) -> Result<(), Unreadable> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Unreadable::Empty);
    }
    if raw.contains(&0) {
        return Err(Unreadable::NulBytes);
    }
    let header_end = find(raw, b"\r\n\r\n")
        .or_else(|| find(raw, b"\n\n"))
        .unwrap_or(raw.len());
    let head = &raw[..header_end];
    // A header section is lines of `name: value` (and continuations); the first line must
    // be a field (or the mbox `From ` line some MTAs prepend).
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let is_field = |line: &[u8]| {
        line.iter()
            .position(|b| *b == b':')
            .is_some_and(|colon| colon > 0 && line[..colon].iter().all(|b| b.is_ascii_graphic()))
    };
    if !(is_field(first) || first.starts_with(b"From ")) {
        return Err(Unreadable::NoHeaders);
    }
    let fields = head
        .split(|b| *b == b'\n')
        .filter(|line| !line.first().is_some_and(|b| *b == b' ' || *b == b'\t'))
        .count();
    if fields > MAX_HEADERS {
        return Err(Unreadable::TooManyHeaders);
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn addresses<'a>(address: Option<&'a Address<'_>>) -> impl Iterator<Item = String> + 'a {
    address
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Reads a raw mail.
pub fn read(raw: &[u8]) -> Result<ReadMail, Unreadable> {
    check_bounds(raw)?;
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Unreadable::Unparseable)?;
    if message.parts.len() > MAX_PARTS {
        return Err(Unreadable::TooManyParts);
    }
    let kind = conversations_inbound::classify_parsed(&message, raw);
    let mut recipients = Vec::new();
    for name in ["Delivered-To", "X-Original-To"] {
        for value in message.header_values(name) {
            if let HeaderValue::Text(v) = value {
                recipients.push(v.trim().trim_matches(['<', '>']).to_ascii_lowercase());
            }
        }
    }
    recipients.extend(addresses(message.to()));
    recipients.extend(addresses(message.cc()));
    let mut in_reply_to = ids(message.in_reply_to());
    let mut references = ids(message.references());
    references.reverse();
    in_reply_to.extend(references);
    let message_id = message
        .message_id()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    let dedupe_id = message_id
        .clone()
        .unwrap_or_else(|| format!("sha256:{}", HEXLOWER.encode(&Sha256::digest(raw))));
    let authentication_results = message
        .header_values("Authentication-Results")
        .filter_map(|v| match v {
            HeaderValue::Text(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    let (text, html) = bodies(&message);
    Ok(ReadMail {
        from: addresses(message.from()).next().unwrap_or_default(),
        recipients,
        subject: message.subject().unwrap_or_default().trim().to_owned(),
        in_reply_to,
        text,
        html,
        attachments: message
            .attachments()
            .map(|a| a.attachment_name().unwrap_or("(unnamed)").to_owned())
            .collect(),
        authentication_results,
        kind,
        message_id,
        dedupe_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &[u8] = b"From: Alice <Alice@Example.com>\r\nTo: r123@reply.example\r\nDelivered-To: R123@reply.example\r\nSubject: Re: hi\r\nMessage-ID: <m1@example.com>\r\nIn-Reply-To: <c.2.p@reply.example>\r\nReferences: <c@reply.example> <c.1.p@reply.example> <c.2.p@reply.example>\r\n\r\nYes!\r\n";

    #[test]
    fn a_reply_is_read_with_its_threading_and_recipients() {
        let mail = read(REPLY).unwrap();
        assert_eq!(mail.from, "alice@example.com");
        assert_eq!(
            mail.recipients,
            ["r123@reply.example", "r123@reply.example"]
        );
        assert_eq!(mail.message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(mail.dedupe_id, "m1@example.com");
        assert_eq!(mail.in_reply_to[0], "c.2.p@reply.example");
        assert_eq!(mail.in_reply_to[1], "c.2.p@reply.example");
        assert_eq!(mail.text.as_deref().map(str::trim), Some("Yes!"));
        assert_eq!(mail.kind, Kind::Reply);
    }

    #[test]
    fn unreadable_input_is_refused_with_a_reason() {
        assert_eq!(read(b"").unwrap_err(), Unreadable::Empty);
        assert_eq!(read(b" \r\n").unwrap_err(), Unreadable::Empty);
        assert_eq!(
            read(b"From: a@b.c\r\n\r\nhello\0world").unwrap_err(),
            Unreadable::NulBytes
        );
        assert_eq!(
            read(b"just some text\r\nwithout headers\r\n").unwrap_err(),
            Unreadable::NoHeaders
        );
        let many: Vec<u8> = (0..MAX_HEADERS + 1)
            .flat_map(|i| format!("X-H{i}: v\r\n").into_bytes())
            .chain(b"\r\nbody".iter().copied())
            .collect();
        assert_eq!(read(&many).unwrap_err(), Unreadable::TooManyHeaders);
    }

    #[test]
    fn a_mail_without_message_id_is_identified_by_its_digest() {
        let mail = read(b"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n").unwrap();
        assert!(mail.message_id.is_none());
        assert!(mail.dedupe_id.starts_with("sha256:"));
        let again = read(b"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n").unwrap();
        assert_eq!(mail.dedupe_id, again.dedupe_id);
    }

    #[test]
    fn an_html_only_reply_keeps_its_markup_for_the_trimmer() {
        let raw = b"From: Bob <bob@example.com>\r\nTo: r1@reply.example\r\nMessage-ID: <h@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Yes, Thursday works.</div><div class=\"gmail_quote\"><div>On Tue, Ann wrote:</div><blockquote>Thursday?</blockquote></div>\r\n";
        let mail = read(raw).unwrap();
        assert_eq!(mail.text, None, "no plain part made up from the HTML");
        assert!(mail.html.as_deref().unwrap().contains("gmail_quote"));
        let extracted = crate::decide::extract("reply.example", &mail);
        assert_eq!(extracted.reply_text, "Yes, Thursday works.");
        let both = read(b"From: b@example.com\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nplain\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--x--\r\n").unwrap();
        assert_eq!(both.text.as_deref().map(str::trim), Some("plain"));
        assert_eq!(both.html.as_deref().map(str::trim), Some("<p>html</p>"));
    }
}
