//! Scores reply extraction against the development corpus (`tests/corpus`: cases with
//! expected output from three public suites, copied with their licences from
//! `../shared/corpora`). Prints the exact-match rate per source and fails when a source
//! falls below its floor in `tests/corpus/floors.tsv`, so quality only goes up: raise a
//! floor whenever the code gets better (to the printed rate rounded down: 67/71 is
//! 94.37 %, so 94.3). Cases where the source's expectation contradicts
//! our rule are listed with the reason in `tests/corpus/differences.tsv` and reported apart.
//!
//! `CORPUS_MISSES=1 cargo test -p email-reply --test corpus -- --nocapture` prints every
//! miss with what we produced and what was expected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

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

/// Without any whitespace (HTML cases: line breaking is the renderer's business).
fn no_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The bodies of a raw message (the parts inbound-mail hands to the trimmer).
fn reply_of_raw(raw: &[u8]) -> String {
    let Some(message) = mail_parser::MessageParser::default().parse(raw) else {
        return String::new();
    };
    // The parts as written (as inbound-mail's mail.rs takes them), not mail-parser's
    // conversions of one into the other.
    let text = message.text_bodies().find_map(|p| match &p.body {
        mail_parser::PartType::Text(t) => Some(t.to_string()),
        _ => None,
    });
    let html = message.html_bodies().find_map(|p| match &p.body {
        mail_parser::PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    email_reply::extract_body(text.as_deref(), html.as_deref()).reply_text
}

fn tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            names
                .iter()
                .zip(l.split('\t'))
                .map(|(n, v)| ((*n).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[derive(Default)]
struct Score {
    cases: usize,
    exact: usize,
    by_design: usize,
}

#[test]
fn the_corpus_scores_at_or_above_its_floors() {
    let dir = corpus();
    let differences: HashMap<String, String> = tsv(&dir.join("differences.tsv"))
        .into_iter()
        .map(|r| (r["case_id"].clone(), r["reason"].clone()))
        .collect();
    let floors: HashMap<String, f64> = tsv(&dir.join("floors.tsv"))
        .into_iter()
        .map(|r| (r["source"].clone(), r["floor_percent"].parse().unwrap()))
        .collect();
    let verbose = std::env::var_os("CORPUS_MISSES").is_some();
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    for case in tsv(&dir.join("manifest.tsv")) {
        if case["has_expected"] != "yes" {
            continue;
        }
        let id = &case["case_id"];
        let case_dir = dir.join("cases").join(id);
        let input = std::fs::read(case_dir.join("input")).unwrap();
        let expected = String::from_utf8_lossy(&std::fs::read(case_dir.join("expected")).unwrap())
            .into_owned();
        let source = case["source_repo"].clone();
        let score = scores.entry(source).or_default();
        if let Some(reason) = differences.get(id) {
            score.by_design += 1;
            if verbose {
                println!("by design: {id}: {reason}");
            }
            continue;
        }
        score.cases += 1;
        let got = match case["kind"].as_str() {
            "raw_eml" => reply_of_raw(&input),
            "body_html" => email_reply::extract_html(&String::from_utf8_lossy(&input)).reply_text,
            _ => email_reply::extract(&String::from_utf8_lossy(&input)).reply_text,
        };
        let same = if case["compare"] == "nows" {
            no_whitespace(&got) == no_whitespace(&expected)
        } else {
            normalized(&got) == normalized(&expected)
        };
        if same {
            score.exact += 1;
        } else if verbose {
            println!(
                "MISS {id} ({})\n--- got\n{}\n--- expected\n{}\n",
                case["kind"],
                normalized(&got),
                normalized(&expected)
            );
        }
    }
    let mut below = Vec::new();
    let (mut all_cases, mut all_exact) = (0, 0);
    for (source, score) in &scores {
        let rate = 100.0 * score.exact as f64 / score.cases.max(1) as f64;
        println!(
            "{source}: {}/{} exact ({rate:.1} %), {} documented differences",
            score.exact, score.cases, score.by_design
        );
        all_cases += score.cases;
        all_exact += score.exact;
        let floor = floors.get(source).copied().unwrap_or(100.0);
        if rate + 1e-9 < floor {
            below.push(format!("{source}: {rate:.1} % < floor {floor} %"));
        }
    }
    println!(
        "overall: {all_exact}/{all_cases} exact ({:.1} %)",
        100.0 * all_exact as f64 / all_cases.max(1) as f64
    );
    assert!(below.is_empty(), "below the floor: {below:?}");
}
