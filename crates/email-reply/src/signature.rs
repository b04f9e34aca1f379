//! Where the person's text ends at the bottom: a `-- ` signature, a client footer ("Sent
//! from my iPhone"), a dash sign-off, or a sign-off followed by a name and contact lines.

use crate::Rule;
use crate::patterns::PATTERNS;
use crate::text::{blank, quoted, trim_end};

/// A signature below `-- ` is this many lines at most; longer, it is probably not one.
const SIGNATURE_LINES: usize = 12;

/// Drops a `-- ` signature and client footers from the end; returns whether it did.
pub(crate) fn drop_signature(lines: &mut Vec<&str>) -> Option<Rule> {
    trim_end(lines);
    let mut rule = None;
    if let Some(delimiter) = lines
        .iter()
        .rposition(|l| l.trim_end() == "--" || *l == "-- " || PATTERNS.rule.is_match(l))
        && delimiter > 0
        && lines.len() - delimiter <= SIGNATURE_LINES
    {
        lines.truncate(delimiter);
        rule = Some(Rule::Signature);
    }
    trim_end(lines);
    if lines.len() > 1
        && lines
            .last()
            .is_some_and(|l| PATTERNS.dash_signoff.is_match(l.trim()))
    {
        lines.pop();
        rule = rule.or(Some(Rule::Signature));
    }
    loop {
        trim_end(lines);
        match lines.last() {
            Some(last) if PATTERNS.footer.is_match(last.trim()) && lines.len() > 1 => {
                lines.pop();
                rule = rule.or(Some(Rule::ClientFooter));
            }
            // Decoration left at the end ("***", "====", a tracking character).
            Some(last) if decoration(last) && lines.len() > 1 => {
                lines.pop();
            }
            _ => break,
        }
    }
    rule
}

/// Drops a sign-off that is followed by a name and a contact block at the end ("Best
/// regards, / Tina Example / Example Ltd / +44 20 7946 0000"): a signature written without
/// the `-- ` delimiter. A sign-off with only a name below it ("Thanks, / Tina") is what
/// the person wrote and stays; so does anything that reads as text (a question, a P.S.).
pub(crate) fn drop_signoff(lines: &mut Vec<&str>) -> bool {
    trim_end(lines);
    let tail = lines.len().saturating_sub(SIGNATURE_LINES + 1);
    let Some(at) = (tail..lines.len())
        .rev()
        .find(|&i| PATTERNS.signoff.is_match(lines[i].trim()))
    else {
        return false;
    };
    if lines[..at].iter().all(|l| blank(l)) {
        return false;
    }
    let block: Vec<&str> = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let signoff = lines[at].trim();
    let named_on_signoff = signoff
        .split_whitespace()
        .last()
        .is_some_and(|last| !last.ends_with([',', '.', '!', '。', '、']))
        && signoff.split_whitespace().count() > 1
        && !PATTERNS.signoff.is_match(&signoff.to_lowercase());
    let contacts = match block.split_first() {
        _ if named_on_signoff => &block[..],
        Some((name, rest)) if name_line(name) => rest,
        _ => return false,
    };
    let contact_block = !contacts.is_empty()
        && contacts.iter().all(|l| contact_block_line(l))
        && contacts
            .iter()
            .any(|l| PATTERNS.contact.is_match(l) || !crate::phone::phone_numbers(l).is_empty());
    if !contact_block {
        return false;
    }
    lines.truncate(at);
    true
}

/// A person's name on a line of its own: a few capitalised words, no digits or address.
fn name_line(line: &str) -> bool {
    let words = line.split_whitespace().count();
    line.chars().count() <= 40
        && (1..=4).contains(&words)
        && !line.chars().any(|c| c.is_ascii_digit() || c == '@')
        && !line.ends_with(['.', '?', '!', ':', ','])
        && line
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
}

/// A line of a signature's contact block (title, company, phone, address, web): short,
/// and not a sentence, a question or a postscript.
fn contact_block_line(line: &str) -> bool {
    let upper = line.to_uppercase();
    line.chars().count() <= 60
        && !line.ends_with(['?', '!', ':'])
        && !upper.starts_with("P.S")
        && !upper.starts_with("PS:")
        && !upper.starts_with("PS ")
        && !quoted(line)
}

/// A line of rule characters only ("***", "====", "~~~", Gmail's tracking "ᐧ"), never
/// text or an emoticon.
fn decoration(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty()
        && line.chars().all(|c| {
            matches!(
                c,
                '-' | '_' | '=' | '*' | '#' | '~' | '+' | '.' | '•' | '·' | 'ᐧ'
            ) || c.is_whitespace()
        })
}

#[cfg(test)]
mod tests {
    use crate::{Confidence, Rule};

    fn reply_extract(text: &str) -> crate::Extracted {
        crate::extract(text)
    }

    fn reply(text: &str) -> String {
        crate::extract(text).reply_text
    }

    #[test]
    fn a_signoff_with_a_contact_block_is_a_signature_but_a_name_alone_stays() {
        let out = reply_extract(
            "See you Thursday.\n\nBest regards,\nTina Example\nProject Manager | Example Ltd\nwww.example.com\n",
        );
        assert_eq!(out.reply_text, "See you Thursday.");
        assert_eq!(out.rule, Rule::Signoff);
        assert_eq!(out.confidence, Confidence::Low);
        assert!(out.elided_text.starts_with("Best regards,"));
        assert_eq!(
            reply("Mit freundlichen Grüßen, Tina Example\nTel. 030 90182099\n"),
            "Mit freundlichen Grüßen, Tina Example\nTel. 030 90182099",
            "nothing above the sign-off: it is all the person wrote"
        );
        assert_eq!(
            reply("Danke!\n\nMit freundlichen Grüßen\nTina Example\nTel. 030 90182099\n"),
            "Danke!"
        );
        for kept in [
            "See you Thursday.\n\nThanks,\nTina",
            "See you Thursday.\n\nCheers,\nTina\n\nP.S. call me on +44 20 7946 0000",
            "See you Thursday.\n\nThanks,\nTina\nCan you call +44 20 7946 0000?",
            "Thanks, see you on Thursday at +44 20 7946 0000.",
        ] {
            assert_eq!(reply(kept), kept);
        }
    }
}
