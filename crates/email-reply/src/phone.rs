//! Phone numbers in a reply: found to tell a signature's contact block from text, and
//! masked when the application asks for it (marketplaces that keep their users from
//! taking a deal elsewhere).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// What a masked phone number becomes.
pub const PHONE_MASK: &str = "[phone number hidden]";

/// A run of digits with the separators people write numbers with; checked further by
/// [`phone_numbers`].
static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern covered by the tests below: a failure is a programming error.
    #[allow(clippy::expect_used)]
    Regex::new(r"(?:\+|\b00|\(|\b)\d[\d \t().\-/]{4,24}\d").expect("valid built-in pattern")
});

/// A date or a time, which a run of digits with dots, dashes or slashes often is.
static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(?:[ \t]+\d{1,2}[.:]\d{2})?|\d{1,2}[.:]\d{2}(?:[.:]\d{2})?)$")
        .expect("valid built-in pattern")
});

/// Where phone numbers are in `text`: 7 to 15 digits (as E.164 allows), written with
/// `+`, `00`, brackets, spaces, dots, dashes or slashes; not a date or a time, and not a
/// part of a longer word or number. A bare run of digits counts from 8 digits on (order
/// and invoice numbers are often 7).
pub(crate) fn phone_numbers(text: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for candidate in CANDIDATE.find_iter(text) {
        let range = candidate.range();
        let number = candidate
            .as_str()
            .trim_end_matches([' ', '\t', '(', '-', '.', '/']);
        let range = range.start..range.start + number.len();
        let digits = number.chars().filter(char::is_ascii_digit).count();
        let bare = number.chars().all(|c| c.is_ascii_digit());
        let before = text[..range.start].chars().next_back();
        let after = text[range.end..].chars().next();
        let glued =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '@');
        // "10:00", "1,299.00": the digits go on after a colon, comma or point.
        let mut rest = text[range.end..].chars();
        let goes_on = matches!(rest.next(), Some(':' | ',' | '.'))
            && rest.next().is_some_and(|c| c.is_ascii_digit());
        if !(7..=15).contains(&digits)
            || (bare && digits < 8)
            || DATE_OR_TIME.is_match(number)
            || glued(before)
            || glued(after)
            || after == Some('%')
            || goes_on
        {
            continue;
        }
        found.push(range);
    }
    found
}

/// `text` with every phone number replaced by [`PHONE_MASK`].
pub fn mask_phone_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for range in phone_numbers(text) {
        out.push_str(&text[from..range.start]);
        out.push_str(PHONE_MASK);
        from = range.end;
    }
    out.push_str(&text[from..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_as_people_write_them_are_masked() {
        for (text, masked) in [
            (
                "Call me on +44 20 7946 0000.",
                "Call me on [phone number hidden].",
            ),
            ("Tel: (020) 7946-0001", "Tel: [phone number hidden]"),
            ("mobile 0049 30 90182099", "mobile [phone number hidden]"),
            ("ring 555-0100-22 or", "ring [phone number hidden] or"),
            ("+1 (555) 010-0123", "[phone number hidden]"),
            ("Handy: 0176/12345678", "Handy: [phone number hidden]"),
            ("0612345678", "[phone number hidden]"),
        ] {
            assert_eq!(mask_phone_numbers(text), masked, "{text}");
        }
    }

    #[test]
    fn dates_times_amounts_and_ids_stay() {
        for text in [
            "See you on 27.01.2016 at 10:00.",
            "2016-01-27 10:00",
            "Order 1234567 costs 1,299.00 EUR",
            "The build abc1234567890 failed",
            "Growth was 12345678%",
            "Version 1.2.3.4 is out",
            "write to tina12345678@example.com",
        ] {
            assert_eq!(mask_phone_numbers(text), text);
        }
    }
}
