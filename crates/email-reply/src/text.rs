//! Trimming a plain-text reply: find where the quoted history starts (our marker, an
//! attribution, a header block, a separator, `>` quotes), keep what the person wrote above
//! it (or below it, for bottom-posters), then drop the signature and client footers.

use crate::patterns::PATTERNS;
use crate::signature::{drop_signature, drop_signoff};
use crate::{Confidence, Extracted, Hints, REPLY_MARKER, Rule};

/// How far below a header block's first line its other headers may be.
const HEADER_WINDOW: usize = 6;

pub(crate) fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

pub(crate) fn quoted(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('>') || initials_quote(line)
}

/// Outlook's "quote with initials" style: `AB> text`.
fn initials_quote(line: &str) -> bool {
    let initials = line.chars().take_while(char::is_ascii_uppercase).count();
    (1..=3).contains(&initials) && line[initials..].starts_with('>')
}

/// Where the history starts, the rule that found it, and how many lines the marker itself
/// spans (an attribution wrapped over two lines is both cut).
struct Cut {
    at: usize,
    span: usize,
    rule: Rule,
}

/// A line that only continues a wrapped attribution even though it starts with `>`:
/// `>`, `>:` or `> wrote:` as some clients break "<address>\n> wrote:".
fn attribution_fragment(line: &str) -> bool {
    let rest = line.trim().trim_start_matches('>').trim();
    rest.is_empty() || rest == ":" || PATTERNS.short_attribution.is_match(&format!("x {rest}"))
}

/// Whether an attribution starts at `i` (the line alone, or joined with the next few, as
/// clients wrap it, blank lines included); returns how many lines it spans.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    if first.is_empty() || quoted(first) || first.chars().count() > 300 {
        return None;
    }
    let addressed = first.contains('<') || first.contains('@') || first.contains('(');
    let mut joined = String::new();
    for span in 1..=6 {
        let line = lines.get(i + span - 1)?.trim();
        if span > 1 {
            if line.is_empty() {
                continue;
            }
            if quoted(line) && !attribution_fragment(line) {
                return None;
            }
            joined.push(' ');
        }
        joined.push_str(line);
        if joined.chars().count() > 400 {
            return None;
        }
        // Every attribution pattern ends in a colon, a dash or an address, or starts with a
        // date: anything else cannot match, and most lines are skipped without a regex.
        let ends = line.ends_with([':', '：', '-', '>'])
            || line.ends_with("写道")
            || line.ends_with("寫道");
        if !ends && !joined.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        for (n, pattern) in PATTERNS.attribution.iter().enumerate() {
            // A wrapped sender-first attribution must show its address on its first line,
            // or a line of text above an attribution would be taken for part of it.
            if n == 1 && span > 1 && !addressed {
                continue;
            }
            if pattern.is_match(&joined) {
                return Some(span);
            }
        }
    }
    None
}

/// Whether an attribution starts at line `j` on its own (rather than continuing one
/// wrapped from the line above, like "<fred@example.com> wrote:").
fn stands_alone(lines: &[&str], j: usize) -> bool {
    let line = lines[j].trim();
    let continuation = line.starts_with(['<', '(', '"', '>'])
        || line
            .split_whitespace()
            .next()
            .is_some_and(|first| first.contains('@'));
    match attribution_at(lines, j) {
        Some(_) if PATTERNS.attribution_start.is_match(line) => true,
        Some(1) => !continuation,
        _ => false,
    }
}

/// Whether a header block ("From: … / Sent: … / To: …") starts at `i`: a "From:" line
/// with another header close below it, or two header lines in a row ("Date: … / To: …").
fn header_block_at(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let header = |l: &str| {
        let l = l.trim();
        PATTERNS.header_from.is_match(l) || PATTERNS.header_other.is_match(l)
    };
    if PATTERNS.header_from.is_match(line) {
        return lines
            .iter()
            .skip(i + 1)
            .take(HEADER_WINDOW)
            .any(|l| PATTERNS.header_other.is_match(l.trim()));
    }
    PATTERNS.header_other.is_match(line)
        && lines.get(i + 1).is_some_and(|next| header(next))
        && lines
            .get(i + 2)
            .is_none_or(|after| header(after) || blank(after))
}

/// Whether the line at `i` (alone, or with the next line that continues it) names one of
/// our addresses and introduces a quote: the client's attribution above our quoted
/// notification, in any language. Returns how many lines it spans.
fn names_us_at(lines: &[&str], i: usize, hints: &Hints<'_>) -> Option<usize> {
    if hints.our_addresses.is_empty() {
        return None;
    }
    let names_us = |line: &str| {
        let line = line.to_lowercase();
        hints
            .our_addresses
            .iter()
            .any(|address| !address.is_empty() && line.contains(&address.to_lowercase()))
    };
    let introduces = |j: usize| {
        let line = lines[j].trim();
        line.ends_with([':', '：'])
            || lines[j + 1..]
                .iter()
                .find(|l| !blank(l))
                .is_some_and(|l| quoted(l))
    };
    let line = lines[i].trim();
    if names_us(line) && introduces(i) {
        return Some(1);
    }
    // "On …, Fred via Conversations\n<notifications@…> wrote:"
    let next = lines.get(i + 1)?.trim();
    let continues = next.starts_with(['<', '(', '"'])
        || next
            .split_whitespace()
            .next()
            .is_some_and(|first| first.contains('@'));
    (!line.is_empty() && continues && names_us(next) && introduces(i + 1)).then_some(2)
}

/// The earliest line where quoted history begins, skipping `>`-quoted lines.
fn find_cut(lines: &[&str], hints: &Hints<'_>) -> Option<Cut> {
    for i in 0..lines.len() {
        let line = lines[i].trim();
        if line.contains(REPLY_MARKER) {
            return Some(Cut {
                at: i,
                span: 1,
                rule: Rule::ReplyMarker,
            });
        }
        if quoted(line) {
            continue;
        }
        if let Some(span) = names_us_at(lines, i, hints) {
            return Some(Cut {
                at: i,
                span,
                rule: Rule::Attribution,
            });
        }
        if PATTERNS.separator.is_match(line) {
            return Some(Cut {
                at: i,
                span: 1,
                rule: Rule::OriginalMessage,
            });
        }
        if let Some(span) = attribution_at(lines, i) {
            // A line of the reply joined to the attribution below it is not part of it:
            // when one starts further down within the span, cut there.
            if (i + 1..i + span).any(|j| stands_alone(lines, j)) {
                continue;
            }
            return Some(Cut {
                at: i,
                span,
                rule: Rule::Attribution,
            });
        }
        if PATTERNS.attribution_then_text.is_match(line) {
            return Some(Cut {
                at: i,
                span: 1,
                rule: Rule::Attribution,
            });
        }
        // "Fred wrote:" with the quote right below.
        if PATTERNS.short_attribution.is_match(line)
            && lines[i + 1..]
                .iter()
                .find(|l| !blank(l))
                .is_some_and(|l| quoted(l))
        {
            return Some(Cut {
                at: i,
                span: 1,
                rule: Rule::Attribution,
            });
        }
        if header_block_at(lines, i) {
            // The rule clients draw above the block goes with it.
            let mut at = i;
            while at > 0 && (blank(lines[at - 1]) || PATTERNS.rule.is_match(lines[at - 1])) {
                at -= 1;
                if PATTERNS.rule.is_match(lines[at]) {
                    break;
                }
            }
            let at = if PATTERNS.rule.is_match(lines[at]) {
                at
            } else {
                i
            };
            return Some(Cut {
                at,
                span: i - at + 1,
                rule: Rule::HeaderBlock,
            });
        }
    }
    None
}

/// Removes trailing `>` quotes (and the line introducing them) from a reply that was
/// written above them; quotes between answers stay (inline replies need them).
fn drop_trailing_quotes(lines: &mut Vec<&str>) -> bool {
    trim_end(lines);
    let mut end = lines.len();
    while end > 0 && (quoted(lines[end - 1]) || blank(lines[end - 1])) {
        end -= 1;
    }
    if end == lines.len() {
        return false;
    }
    // "Fred wrote:" or "Fred <fred@example.com>:" right above the quote.
    if end > 0 && PATTERNS.quote_intro.is_match(lines[end - 1].trim()) {
        let intro = lines[end - 1].trim();
        if attribution_at(lines, end - 1).is_some()
            || PATTERNS.short_attribution.is_match(intro)
            || intro.contains('@')
        {
            end -= 1;
        }
    }
    lines.truncate(end);
    true
}

/// Whether the person answered between quotes: a quote, then their text, then another
/// quote or more text below it (an inline reply), rather than one quote on top.
fn answers_between_quotes(lines: &[&str]) -> bool {
    let mut seen_quote = false;
    let mut answered = false;
    for line in lines {
        if blank(line) {
            continue;
        }
        if quoted(line) {
            if answered {
                return true;
            }
            seen_quote = true;
        } else if seen_quote && words(line) {
            answered = true;
        }
    }
    false
}

/// Whether a line reads as words (a broken-off link or code fragment between quote lines
/// does not make an inline answer).
fn words(line: &str) -> bool {
    line.split_whitespace()
        .filter(|token| {
            !token.contains("://") && token.chars().filter(|c| c.is_alphabetic()).count() >= 2
        })
        .count()
        >= 2
}

/// Drops quoted attribution lines ("> On …, Fred wrote:", as Apple Mail puts them inside
/// the quote) and the empty quote lines right below them, which inline replies keep.
fn drop_quoted_attributions(lines: &mut Vec<&str>) {
    let mut i = 0;
    while i < lines.len() {
        let unquoted = lines[i].trim_start().trim_start_matches('>').trim();
        if quoted(lines[i])
            && unquoted.ends_with([':', '：'])
            && PATTERNS.attribution.iter().any(|p| p.is_match(unquoted))
        {
            lines.remove(i);
            while i < lines.len()
                && quoted(lines[i])
                && lines[i]
                    .trim_start()
                    .trim_start_matches('>')
                    .trim()
                    .is_empty()
            {
                lines.remove(i);
            }
        } else {
            i += 1;
        }
    }
}

/// Drops the empty quote lines (`>` alone) at the top and bottom of each run of quote
/// lines that is kept: HTML quotes turned into text carry them, and they only add space.
fn tidy_quote_runs(lines: &mut Vec<&str>) {
    let empty_quote =
        |l: &str| quoted(l) && l.trim_start().trim_start_matches('>').trim().is_empty();
    let mut i = 0;
    while i < lines.len() {
        if !quoted(lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < lines.len() && quoted(lines[end]) {
            end += 1;
        }
        let mut first = start;
        while first < end && empty_quote(lines[first]) {
            first += 1;
        }
        let mut last = end;
        while last > first && empty_quote(lines[last - 1]) {
            last -= 1;
        }
        lines.drain(last..end);
        lines.drain(start..first);
        i = start + (last - first);
    }
}

pub(crate) fn trim_end(lines: &mut Vec<&str>) {
    while lines.last().is_some_and(|l| blank(l)) {
        lines.pop();
    }
}

fn trim_start(lines: &mut Vec<&str>) {
    let leading = lines.iter().take_while(|l| blank(l)).count();
    lines.drain(..leading);
}

fn join(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Extracts the reply from a plain-text body.
pub fn extract(text: &str, hints: &Hints<'_>) -> Extracted {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let normalized = normalized.trim_start_matches('\u{feff}');
    let mut lines: Vec<&str> = normalized.split('\n').collect();
    // "reply On Wed, … wrote:" on one line: the text before the attribution is the reply.
    for line in lines.iter_mut() {
        if !line.trim_end().ends_with([':', '：']) {
            continue;
        }
        // A line that starts as an attribution is one, whatever it contains.
        if PATTERNS.attribution[0].is_match(line.trim()) {
            continue;
        }
        if let Some(found) = PATTERNS.trailing_attribution.captures(line)
            && let Some(reply) = found.name("reply")
            && !quoted(reply.as_str())
        {
            *line = &line[..reply.end()];
            break;
        }
    }
    let cut = find_cut(&lines, hints);
    let (mut kept, mut rule, mut confidence) = match &cut {
        Some(cut) => (lines[..cut.at].to_vec(), cut.rule, Confidence::High),
        None => (lines.clone(), Rule::None, Confidence::High),
    };
    trim_start(&mut kept);
    // Inline answers below an attribution ("Hi Fred, answers inline. On …, Fred wrote:
    // > question / answer"): the answers are the reply, with the quotes they answer.
    if !kept.is_empty()
        && let Some(cut) = &cut
        && cut.rule == Rule::Attribution
    {
        let mut after: Vec<&str> = lines[cut.at + cut.span..].to_vec();
        if let Some(next) = find_cut(&after, hints) {
            after.truncate(next.at);
        }
        if answers_between_quotes(&after) {
            trim_end(&mut kept);
            kept.push("");
            kept.extend(after.into_iter().skip_while(|l| blank(l)));
            rule = Rule::Quote;
        }
    }
    // Bottom-posting: nothing above the history; the reply follows the quote.
    if kept.is_empty()
        && let Some(cut) = &cut
        && cut.rule != Rule::ReplyMarker
    {
        let forwarded =
            cut.rule == Rule::OriginalMessage && PATTERNS.forwarded.is_match(lines[cut.at]);
        let after: Vec<&str> = lines[cut.at + cut.span..].to_vec();
        let mut below: Vec<&str> = if answers_between_quotes(&after) {
            after.clone()
        } else {
            after
                .iter()
                .copied()
                .skip_while(|l| blank(l) || quoted(l))
                .collect()
        };
        if forwarded {
            // A forwarded mail with nothing above: its text is what the person sends.
            let headers = below.iter().take_while(|l| !blank(l)).count();
            below.drain(..headers);
        } else if let Some(next) = find_cut(&below, hints) {
            below.truncate(next.at);
        }
        if below.iter().any(|l| !blank(l)) {
            kept = below;
            rule = Rule::BelowQuote;
            confidence = Confidence::Medium;
        }
    }
    loop {
        let mut changed = false;
        if drop_trailing_quotes(&mut kept) {
            changed = true;
            if rule == Rule::None {
                rule = Rule::Quote;
            }
        }
        if let Some(signature) = drop_signature(&mut kept) {
            changed = true;
            if rule == Rule::None {
                rule = signature;
            }
            if signature == Rule::Signature && cut.is_none() {
                confidence = confidence.min(Confidence::Medium);
            }
        }
        if drop_signoff(&mut kept) {
            changed = true;
            if rule == Rule::None {
                rule = Rule::Signoff;
            }
            confidence = Confidence::Low;
        }
        if !changed {
            break;
        }
    }
    drop_quoted_attributions(&mut kept);
    tidy_quote_runs(&mut kept);
    trim_start(&mut kept);
    trim_end(&mut kept);
    let reply_text = join(&kept);
    let elided_text = elided(&lines, &kept);
    Extracted {
        reply_text,
        elided_text,
        rule,
        confidence,
    }
}

/// Everything of `all` that is not in `kept` (which is a run of slices of it), in order.
fn elided(all: &[&str], kept: &[&str]) -> String {
    let kept_ptrs: std::collections::HashSet<*const u8> = kept.iter().map(|l| l.as_ptr()).collect();
    let mut out: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| !kept_ptrs.contains(&l.as_ptr()))
        .collect();
    trim_start(&mut out);
    trim_end(&mut out);
    join(&out)
}

#[cfg(test)]
mod tests;
