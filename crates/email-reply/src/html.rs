//! HTML replies: the body is parsed into a tree (html5ever, through scraper), turned into
//! plain text in which what clients mark up as quoted history (Gmail's `gmail_quote`,
//! `blockquote type="cite"`, Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`,
//! ProtonMail's `protonmail_quote`, Outlook's `divRplyFwdMsg` …) comes out as `>` quoted
//! lines, and then trimmed like any plain-text reply. Paragraphs, line breaks and list
//! items become lines; links keep their text and, when it differs, their address.

use scraper::{ElementRef, Html, Node};

/// Elements whose content never shows.
const HIDDEN: &[&str] = &["head", "script", "style", "title", "template", "noscript"];

/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Blocks with a blank line around them.
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "ul",
    "ol",
    "pre",
    "hr",
];

/// Classes and ids of the containers clients put quoted history in.
const QUOTE_MARKS: &[&str] = &[
    "gmail_quote",
    "yahoo_quoted_text",
    "gmail_extra",
    "yahoo_quoted",
    "protonmail_quote",
    "moz-cite-prefix",
    "zmail_extra",
    "divRplyFwdMsg",
    "appendonsend",
    "OutlookMessageHeader",
    "x_divRplyFwdMsg",
    "mail_android_quote",
    "ms-outlook-mobile-reference-message",
];

/// Whether `element` holds quoted history.
fn is_quote(element: &ElementRef<'_>) -> bool {
    let value = element.value();
    if value.name() == "blockquote" {
        return true;
    }
    let marked = |s: &str| QUOTE_MARKS.iter().any(|m| s.eq_ignore_ascii_case(m));
    value.classes().any(marked) || value.id().is_some_and(marked)
}

/// Text lines being built, each with its quote depth.
struct Writer {
    lines: Vec<(usize, String)>,
    current: String,
    depth: usize,
    /// Inside `<pre>`: whitespace and line breaks are the text's own.
    pre: usize,
}

/// Outlook (desktop and web) marks only the start of the history: the header block is in
/// `divRplyFwdMsg` (after an empty `appendonsend`), and the original message follows as
/// siblings, so everything from there on is quoted.
const HISTORY_STARTS: &[&str] = &["divRplyFwdMsg", "appendonsend", "x_divRplyFwdMsg"];

impl Writer {
    /// Ends the current line (a `<br>` ends it even when empty).
    fn break_line(&mut self, forced: bool) {
        let text = std::mem::take(&mut self.current);
        let text = text.trim().to_owned();
        if !text.is_empty() || forced {
            self.lines.push((self.depth, text));
        }
    }

    /// Ends the current line and leaves a blank one below (paragraphs, headings).
    fn paragraph(&mut self) {
        self.break_line(false);
        if self.lines.last().is_some_and(|(_, l)| !l.is_empty()) {
            self.lines.push((self.depth, String::new()));
        }
    }

    fn pre_text(&mut self, text: &str) {
        let mut parts = text.split('\n');
        if let Some(first) = parts.next() {
            self.current.push_str(first);
        }
        for part in parts {
            self.break_line(true);
            self.current.push_str(part);
        }
    }

    fn text(&mut self, text: &str) {
        // Whitespace in HTML text is a single space, whatever it is in the source.
        for (i, word) in text.split_whitespace().enumerate() {
            let starts_with_space = i > 0 || text.starts_with(char::is_whitespace);
            if starts_with_space && !self.current.is_empty() && !self.current.ends_with(' ') {
                self.current.push(' ');
            }
            self.current.push_str(word);
        }
        if text.ends_with(char::is_whitespace) && !self.current.is_empty() {
            self.current.push(' ');
        }
    }

    fn walk(&mut self, element: ElementRef<'_>) {
        let name = element.value().name();
        if HIDDEN.contains(&name) {
            return;
        }
        let history = element
            .value()
            .id()
            .is_some_and(|id| HISTORY_STARTS.iter().any(|h| id.eq_ignore_ascii_case(h)));
        if history {
            // Never undone: the rest of the document is the quoted history.
            self.break_line(false);
            self.depth += 1;
        }
        let quote = is_quote(&element) && !history;
        let block = BLOCKS.contains(&name) || quote;
        let spaced = PARAGRAPHS.contains(&name) || quote;
        if spaced {
            self.paragraph();
        } else if block {
            self.break_line(false);
        }
        if quote {
            self.depth += 1;
        }
        if name == "li" {
            self.current.push_str("- ");
        }
        if name == "pre" {
            self.pre += 1;
        }
        for child in element.children() {
            match child.value() {
                Node::Text(text) if self.pre > 0 => self.pre_text(text),
                Node::Text(text) => self.text(text),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        match child.value().name() {
                            "br" => self.break_line(true),
                            "img" => {}
                            _ => self.walk(child),
                        }
                    }
                }
                _ => {}
            }
        }
        if name == "a"
            && let Some(href) = element.value().attr("href")
            && (href.starts_with("http://") || href.starts_with("https://"))
        {
            let shown: String = element.text().collect::<String>();
            if shown.trim() != href.trim() {
                self.current.push_str(&format!(" ({href})"));
            }
        }
        if name == "pre" {
            self.pre -= 1;
        }
        if spaced {
            self.paragraph();
        } else if block {
            self.break_line(false);
        }
        if quote {
            self.depth -= 1;
        }
    }
}

/// The text of an HTML body, quoted history as `>` lines.
pub fn to_text(html: &str) -> String {
    let document = Html::parse_document(html);
    let mut writer = Writer {
        lines: Vec::new(),
        current: String::new(),
        depth: 0,
        pre: 0,
    };
    writer.walk(document.root_element());
    writer.break_line(false);
    while writer.lines.last().is_some_and(|(_, l)| l.is_empty()) {
        writer.lines.pop();
    }
    writer
        .lines
        .into_iter()
        .map(|(depth, line)| {
            if depth == 0 {
                line
            } else {
                format!("{} {line}", ">".repeat(depth))
                    .trim_end()
                    .to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_lists_become_lines() {
        let text =
            to_text("<p>Hello <b>there</b>,</p><p>one<br>two</p><ul><li>a</li><li>b</li></ul>");
        assert_eq!(text, "Hello there,\n\none\ntwo\n\n- a\n- b");
    }

    #[test]
    fn client_quote_markup_becomes_quoted_lines() {
        let text = to_text(
            "<div>Fine.</div><div class=\"gmail_quote\">On Mon, Fred wrote:<blockquote>Hi?</blockquote></div>",
        );
        assert!(text.starts_with("Fine."), "{text}");
        assert!(text.contains("> On Mon, Fred wrote:"), "{text}");
        assert!(text.contains(">> Hi?"), "{text}");
    }

    #[test]
    fn links_keep_their_address_and_scripts_vanish() {
        let text = to_text(
            "<p>See <a href=\"https://example.com/x\">the page</a></p><script>alert(1)</script>",
        );
        assert_eq!(text, "See the page (https://example.com/x)");
    }
}
