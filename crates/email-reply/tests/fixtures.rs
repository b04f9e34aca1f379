//! Our own fixtures (`tests/fixtures/<client>_<language>_<shape>/`): replies written the
//! way real clients write them, each with the exact text we must keep. Every one must
//! pass, except those listed with the reason in `tests/fixtures/pending.tsv`; a pending
//! one that passes fails the test too (take it off the list). `FIXTURE=name` runs one and
//! prints what came out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// Line endings unified, trailing spaces of lines dropped, the whole trimmed.
fn normalized(text: &str) -> String {
    text.replace("\r\n", "\n")
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// A whole raw message: its text/plain part as written, else its text/html part (as
/// inbound-mail's `mail.rs` takes them; the transfer encodings and charsets decoded by
/// mail-parser).
fn extract_raw(raw: &[u8]) -> email_reply::Extracted {
    let message = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parsable message");
    let text = message.text_bodies().find_map(|p| match &p.body {
        mail_parser::PartType::Text(t) => Some(t.to_string()),
        _ => None,
    });
    let html = message.html_bodies().find_map(|p| match &p.body {
        mail_parser::PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    email_reply::extract_body(text.as_deref(), html.as_deref())
}

#[test]
fn every_fixture_gives_exactly_its_expected_reply() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let only = std::env::var("FIXTURE").ok();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| only.as_ref().is_none_or(|o| o == name))
        .collect();
    names.sort();
    let pending: Vec<String> = std::fs::read_to_string(dir.join("pending.tsv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(str::to_owned)
        .collect();
    let mut failures = Vec::new();
    let mut fixed = Vec::new();
    let mut still_pending = 0;
    for name in &names {
        let case = dir.join(name);
        let expected = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{name}: expected.txt: {e}"));
        let got = if let Ok(raw) = std::fs::read(case.join("input.eml")) {
            extract_raw(&raw)
        } else if let Ok(html) = std::fs::read_to_string(case.join("input.html")) {
            email_reply::extract_html(&html)
        } else {
            let text = std::fs::read_to_string(case.join("input.txt"))
                .unwrap_or_else(|e| panic!("{name}: no input.eml, input.txt or input.html: {e}"));
            email_reply::extract(&text)
        };
        if only.is_some() {
            println!("{name}: rule {:?}\n{}", got.rule, got.reply_text);
        }
        let passes = normalized(&got.reply_text) == normalized(&expected);
        if pending.contains(name) {
            if passes {
                fixed.push(name.clone());
            } else {
                still_pending += 1;
            }
            continue;
        }
        if !passes {
            failures.push(format!(
                "{name}\n--- got\n{}\n--- expected\n{}\n",
                normalized(&got.reply_text),
                normalized(&expected)
            ));
        }
    }
    println!(
        "{} of {} fixtures pass ({still_pending} pending)",
        names.len() - failures.len() - still_pending,
        names.len()
    );
    assert!(
        fixed.is_empty(),
        "pending fixtures that pass now (take them off pending.tsv): {fixed:?}"
    );
    assert!(
        failures.is_empty(),
        "{} fixtures fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
