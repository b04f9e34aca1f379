//! Reply extraction: keep exactly what the person wrote.
//!
//! A reply by email carries the history below (or above) the new words, an attribution
//! line ("On Tue, Fred wrote:"), a signature and a client footer ("Sent from my iPhone").
//! [`extract`] returns the text to post ([`Extracted::reply_text`]), what was cut
//! ([`Extracted::elided_text`]), the [`Rule`] that cut it and a [`Confidence`]; [`mask`]
//! then replaces participants' real addresses the reply may carry back in.
//!
//! Pure: no I/O, patterns compiled once per process. Plain-text bodies are trimmed line by
//! line; HTML bodies are parsed into a tree, turned into text with the clients' quote
//! markup as `>` quotes, then trimmed the same way.

mod html;
mod mask;
mod patterns;
mod phone;
mod signature;
mod text;

pub use conversations_domain::REPLY_MARKER;
pub use mask::{Person, mask};
pub use phone::{PHONE_MASK, mask_phone_numbers};

/// Which rule found where the person's text ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Nothing to cut: the whole text is the reply.
    None,
    /// Our own "reply above this line" marker.
    ReplyMarker,
    /// An attribution line ("On …, Fred wrote:") and what follows.
    Attribution,
    /// A header block ("From: / Sent: / To: / Subject:") and what follows.
    HeaderBlock,
    /// "-----Original Message-----", a forwarded-message marker and what follows.
    OriginalMessage,
    /// Trailing `>` quotes.
    Quote,
    /// The reply was written below the quoted history (bottom-posting).
    BelowQuote,
    /// A `-- ` signature.
    Signature,
    /// A client footer ("Sent from my iPhone", "Get Outlook for iOS" …).
    ClientFooter,
    /// A sign-off followed by a name and contact lines, without a `-- ` delimiter: a
    /// guess, so the confidence is low.
    Signoff,
}

impl Rule {
    /// Its name in logs and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ReplyMarker => "reply_marker",
            Self::Attribution => "attribution",
            Self::HeaderBlock => "header_block",
            Self::OriginalMessage => "original_message",
            Self::Quote => "quote",
            Self::BelowQuote => "below_quote",
            Self::Signature => "signature",
            Self::ClientFooter => "client_footer",
            Self::Signoff => "signoff",
        }
    }
}

/// How sure the cut is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// A guess (e.g. cut at a signature with no other marker).
    Low,
    /// Found by structure rather than an explicit marker (quotes, bottom-posting).
    Medium,
    /// An explicit marker: ours, an attribution, a header block, a separator.
    High,
}

/// The result of [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the person wrote for the others to read now; empty when there is nothing
    /// (such a mail is not posted).
    pub reply_text: String,
    /// What was cut, for "show trimmed content".
    pub elided_text: String,
    /// The first rule that cut something.
    pub rule: Rule,
    /// How sure the cut is.
    pub confidence: Confidence,
}

/// What the message tells beyond its bodies about where the quoted history starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// Our own addresses the person's client may name in the line above the quoted
    /// notification: the reply address the mail was sent to, the notifications sender.
    /// An unquoted line naming one of them that ends in a colon (or has the quote right
    /// below it) starts the history, whatever language the client writes it in; a client
    /// or locale no pattern knows is then still cut with high confidence.
    pub our_addresses: &'a [&'a str],
}

/// Extracts the reply from a plain-text body.
pub fn extract(text: &str) -> Extracted {
    text::extract(text, &Hints::default())
}

/// Extracts the reply from an HTML body (an HTML-only reply).
pub fn extract_html(html: &str) -> Extracted {
    text::extract(&html::to_text(html), &Hints::default())
}

/// Extracts the reply from a message's bodies: the plain-text one when there is one with
/// text in it, else the HTML one.
pub fn extract_body(text: Option<&str>, html: Option<&str>) -> Extracted {
    extract_body_with(text, html, &Hints::default())
}

/// [`extract_body`] helped by what else the message tells ([`Hints`]).
pub fn extract_body_with(text: Option<&str>, html: Option<&str>, hints: &Hints<'_>) -> Extracted {
    match (text, html) {
        (Some(text), _) if !text.trim().is_empty() => text::extract(text, hints),
        (_, Some(html)) => text::extract(&html::to_text(html), hints),
        (text, None) => text::extract(text.unwrap_or_default(), hints),
    }
}
