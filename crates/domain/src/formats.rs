//! The input formats of [`crate::values`] as regular expressions, for API descriptions
//! (the OpenAPI documents give them as `pattern`s so that clients and contract fuzzers know
//! exactly what is accepted). They are written in the common subset of ECMA-262 and Python
//! regex syntax that JSON Schema tools understand. The tests below hold them to the parsers:
//! every string a pattern matches parses, and every probe the parser accepts matches, except
//! where a comment says the pattern is deliberately narrower (non-ASCII addresses).

/// Characters Rust's `str::trim` removes (Unicode `White_Space`).
const WS: &str = r"[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// `White_Space` characters that are not control characters, plus tab and line breaks:
/// what may surround a message text (which refuses other control characters anywhere).
const TEXT_WS: &str = r"[\t\n\r \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// A character that is neither a control character nor white space.
const VISIBLE: &str = r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// A character that is not a control character.
const NOT_CONTROL: &str = r"[^\x00-\x1F\x7F-\x9F]";

/// A character of an address's local part (RFC 5321 atext, ASCII).
const ATOM_CHAR: &str = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
/// One label of a domain name.
const LABEL: &str = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

/// An email address as [`crate::EmailAddress::parse`] takes it: `local@domain.tld`,
/// surrounding white space ignored, at most 254 characters (give it as `maxLength`).
/// Narrower than the parser in two ways, because a regular expression without look-ahead
/// cannot bound a dotted local part at 64 characters: a local part here is one atom of up
/// to 64 characters or up to three dot-separated atoms of up to 20; and ASCII only, where
/// the parser also takes letters and digits of other scripts.
pub fn email_pattern() -> String {
    format!(
        r"^{WS}*({ATOM_CHAR}{{1,64}}|{ATOM_CHAR}{{1,20}}(\.{ATOM_CHAR}{{1,20}}){{1,2}})@{LABEL}(\.{LABEL})+{WS}*$"
    )
}

/// A one-line text (subject, display name, external id): something visible, no line break
/// or other control character inside, surrounding white space ignored; the length limit is
/// the type's (`maxLength`).
pub fn single_line_pattern() -> String {
    format!(r"^{WS}*{VISIBLE}({NOT_CONTROL}*{VISIBLE})?{WS}*$")
}

/// A message text: something visible; tabs and line breaks, but no other control character.
pub fn text_pattern() -> String {
    format!(r"^{TEXT_WS}*{VISIBLE}[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
}

/// A message source: 1 to 64 of `a-z`, `0-9`, `_`, `-`, `.`, surrounding white space
/// ignored.
pub fn source_pattern() -> String {
    format!(
        r"^{WS}*[a-z0-9_.-]{{1,{}}}{WS}*$",
        crate::limits::MAX_SOURCE_CHARS
    )
}

/// A character of a conversation URL: visible, and no brace (only the placeholder has
/// braces).
const URL_CHAR: &str = r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000{}]";
/// A character of its host (and port): a URL character that does not end the host.
const HOST_CHAR: &str =
    r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000{}/?#]";

/// An application's conversation URL as [`crate::ConversationUrl::parse`] takes it, or
/// the empty string (which removes it); surrounding white space ignored; at most 2000
/// characters (give it as `maxLength`).
pub fn conversation_url_pattern() -> String {
    format!(r"^{WS}*(https?://{HOST_CHAR}+[/?#]{URL_CHAR}*\{{conversation_id\}}{URL_CHAR}*)?{WS}*$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConversationUrl, DisplayName, EmailAddress, MessageText, Source};
    use regex::Regex;

    fn re(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap()
    }

    const PROBES: &[&str] = &[
        "fred@example.com",
        " fred@example.com\n",
        "Fred.Bloggs+tag@mail.example.co.uk",
        "a@b",
        "a@b.",
        ".a@b.cd",
        "a..b@c.de",
        "a@-b.cd",
        "a b@c.de",
        "",
        " ",
        "\n\t",
        "hello",
        "  hello world  ",
        "line\nbreak",
        "tab\there",
        "nul\0",
        "bell\x07",
        "\u{2003}",
        "\u{2003}x",
        "x\u{85}",
        "\u{85}x",
        "salesforce_history",
        "Api",
        "api\n",
        "été",
        "ok.source-1",
    ];

    #[test]
    fn the_email_pattern_accepts_only_what_the_parser_accepts() {
        let pattern = re(&email_pattern());
        for probe in PROBES {
            let parsed = EmailAddress::parse("e", probe).is_ok();
            if pattern.is_match(probe) {
                assert!(parsed, "{probe:?} matches but does not parse");
            } else if probe.is_ascii() {
                assert!(!parsed, "{probe:?} parses but does not match");
            }
        }
    }

    #[test]
    fn the_one_line_pattern_agrees_with_the_parser() {
        let pattern = re(&single_line_pattern());
        for probe in PROBES {
            assert_eq!(
                pattern.is_match(probe),
                DisplayName::parse("n", probe).is_ok(),
                "{probe:?}"
            );
        }
    }

    #[test]
    fn the_text_pattern_agrees_with_the_parser() {
        let pattern = re(&text_pattern());
        for probe in PROBES {
            assert_eq!(
                pattern.is_match(probe),
                MessageText::parse("t", probe).is_ok(),
                "{probe:?}"
            );
        }
    }

    #[test]
    fn the_conversation_url_pattern_agrees_with_the_parser() {
        let pattern = re(&conversation_url_pattern());
        let urls = [
            "https://shop.example/messages/{conversation_id}",
            " http://localhost:3000/c?id={conversation_id}&x=1 ",
            "https://shop.example#{conversation_id}",
            "https://shop.example{conversation_id}",
            "https://{conversation_id}/x",
            "https:///{conversation_id}",
            "https://shop.example/{conversation_id}/{conversation_id}",
            "https://shop.example/{x}/{conversation_id}",
            "https://shop.example/a b/{conversation_id}",
            "https://shop.example/\u{2003}/{conversation_id}",
            "ftp://shop.example/{conversation_id}",
            "https://shop.example/messages",
            "{conversation_id}",
        ];
        for probe in PROBES.iter().copied().chain(urls) {
            // The empty value (after trimming) is the API's "remove it", not a URL.
            let parsed = probe.trim().is_empty() || ConversationUrl::parse("u", probe).is_ok();
            assert_eq!(pattern.is_match(probe), parsed, "{probe:?}");
        }
    }

    #[test]
    fn the_source_pattern_agrees_with_the_parser() {
        let pattern = re(&source_pattern());
        for probe in PROBES {
            assert_eq!(
                pattern.is_match(probe),
                Source::parse("s", probe).is_ok(),
                "{probe:?}"
            );
        }
    }
}
