//! Checked input values. Raw strings become these at the edge ("parse, don't validate"),
//! so the rules never see a value that could break a mail header or a storage limit.

use std::fmt;

use serde::Serialize;

use crate::error::DomainError;
use crate::limits::{
    MAX_DISPLAY_NAME_CHARS, MAX_EXTERNAL_ID_CHARS, MAX_SOURCE_CHARS, MAX_SUBJECT_CHARS,
    MAX_TEXT_CHARS,
};

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidValue {
        field,
        reason: reason.into(),
    }
}

/// Refuses control characters, CR and LF above all: these values end up in mail headers
/// where a line break would let a client inject headers of its own.
fn check_single_line(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must not contain line breaks or other control characters",
        ));
    }
    Ok(())
}

/// A participant's email address, lower-cased so that one person is one participant
/// however their mail client capitalises the address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts a plain `local@domain` address (no display name, no comments): the
    /// subset every MTA handles, with the lengths of RFC 5321.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        let value = raw.trim();
        check_single_line(field, value)?;
        // The untrimmed length too: the API documents the limit on what is sent.
        if value.len() > 254 || raw.chars().count() > 254 {
            return Err(invalid(
                field,
                "an email address has at most 254 characters",
            ));
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(invalid(field, format!("`{value}` is not an email address")));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain_ok = domain.contains('.')
            && domain.len() <= 253
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(invalid(field, format!("`{value}` is not an email address")));
        }
        Ok(Self(value.to_lowercase()))
    }

    /// Wraps an address read back from our own storage, where it was parsed on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! single_line_text {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Trims the value and checks its length and characters.
            pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
                let value = raw.trim();
                check_single_line(field, value)?;
                if value.is_empty() {
                    return Err(invalid(field, concat!("a ", $what, " must not be empty")));
                }
                // The untrimmed length: the API documents the limit on what is sent.
                if raw.chars().count() > $max {
                    return Err(invalid(
                        field,
                        format!(concat!("a ", $what, " has at most {} characters"), $max),
                    ));
                }
                Ok(Self(value.to_owned()))
            }

            /// Wraps a value read back from our own storage.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

single_line_text!(
    /// A conversation's subject; it becomes the notification mail's `Subject:` header.
    Subject,
    MAX_SUBJECT_CHARS,
    "subject"
);
single_line_text!(
    /// A participant's display name; it becomes part of a `From:` header.
    DisplayName,
    MAX_DISPLAY_NAME_CHARS,
    "display name"
);
single_line_text!(
    /// The integrator's own identifier for a participant.
    ExternalId,
    MAX_EXTERNAL_ID_CHARS,
    "external id"
);

impl Subject {
    /// The subject a conversation gets from its first message when none was given: the
    /// first non-empty line of the text, shortened.
    pub fn derive_from(text: &MessageText) -> Option<Self> {
        let line = text
            .as_str()
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())?;
        let cleaned: String = line
            .chars()
            .filter(|c| !c.is_control())
            .take(crate::limits::DERIVED_SUBJECT_CHARS)
            .collect();
        Self::parse("subject", &cleaned).ok()
    }
}

/// The body of a message: any text (line breaks allowed), bounded in size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MessageText(String);

impl MessageText {
    /// Text kept as well as possible rather than refused, for what accompanies a message
    /// (the part of an email reply that extraction cut): control characters other than
    /// tab and line breaks dropped, cut to [`MAX_TEXT_CHARS`]; `None` when nothing is left.
    pub fn lossy(raw: &str) -> Option<Self> {
        let kept: String = raw
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
            .take(MAX_TEXT_CHARS)
            .collect();
        (!kept.trim().is_empty()).then_some(Self(kept))
    }

    /// Accepts non-blank text up to [`MAX_TEXT_CHARS`]; NUL and other control characters
    /// except tab and line breaks are refused.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        if raw.trim().is_empty() {
            return Err(invalid(field, "the text must not be empty"));
        }
        if raw.len() > MAX_TEXT_CHARS && raw.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid(
                field,
                format!("the text has at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid(
                field,
                "the text must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a text read back from our own storage.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a message came from: `api`, `email`, or an integrator-defined name such as
/// `salesforce_history`, so messages from other systems can be told apart and filtered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Source(String);

impl Source {
    /// Messages posted through the HTTP API without an explicit source.
    pub fn api() -> Self {
        Self("api".to_owned())
    }

    /// Messages that arrived as email replies.
    pub fn email() -> Self {
        Self("email".to_owned())
    }

    /// Accepts lower-case ASCII letters, digits, `_`, `-` and `.` (surrounding white space
    /// ignored, as in every other field).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        // The untrimmed length: the API documents the limit on what is sent.
        let untrimmed_ok = raw.chars().count() <= MAX_SOURCE_CHARS;
        let raw = raw.trim();
        let ok = untrimmed_ok
            && !raw.is_empty()
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c));
        if !ok {
            return Err(invalid(
                field,
                format!(
                    "a source is 1 to {MAX_SOURCE_CHARS} characters of a-z, 0-9, `_`, `-` and `.`"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Wraps a source read back from our own storage.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The source name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_lower_cased_and_trimmed() {
        let email = EmailAddress::parse("sender", "  Hugo@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "hugo@example.com");
    }

    #[test]
    fn malformed_email_addresses_are_refused() {
        for bad in [
            "",
            "hugo",
            "hugo@",
            "@example.com",
            "hugo@localhost",
            "a..b@example.com",
            "hugo@exa mple.com",
            "\"Hugo\" <hugo@example.com>",
            "hugo@example.com\r\nBcc: victim@example.com",
        ] {
            assert!(
                EmailAddress::parse("sender", bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn header_values_refuse_line_breaks() {
        assert!(Subject::parse("subject", "Hi\r\nBcc: x@example.com").is_err());
        assert!(DisplayName::parse("name", "Fred\nX-Evil: 1").is_err());
        assert!(Subject::parse("subject", "Hello there").is_ok());
    }

    #[test]
    fn text_is_bounded_but_may_span_lines() {
        assert!(MessageText::parse("text", "line one\r\nline two").is_ok());
        assert!(MessageText::parse("text", "   ").is_err());
        assert!(MessageText::parse("text", &"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(MessageText::parse("text", "nul\0byte").is_err());
    }

    #[test]
    fn subject_is_derived_from_the_first_non_empty_line() {
        let text = MessageText::parse("text", "\n\n  Can we meet?  \nThanks").unwrap();
        assert_eq!(
            Subject::derive_from(&text).unwrap().as_str(),
            "Can we meet?"
        );
    }

    #[test]
    fn sources_are_simple_names() {
        assert!(Source::parse("source", "salesforce_history").is_ok());
        assert!(Source::parse("source", "Sales Force").is_err());
        assert!(Source::parse("source", "").is_err());
    }
}
