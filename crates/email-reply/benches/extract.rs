//! Replies extracted per second on one core, over the development corpus's plain-text and
//! HTML cases (patterns compiled once, before timing). `cargo bench -p email-reply`;
//! figures in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

fn main() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/cases");
    let mut inputs: Vec<(bool, String)> = Vec::new();
    for entry in std::fs::read_dir(&cases).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(bytes) = std::fs::read(dir.join("input")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let html = name.contains("html");
        if !text.starts_with("Return-Path") && !text.contains("\nMIME-Version") {
            inputs.push((html, text));
        }
    }
    // Warm up: compiles the patterns.
    email_reply::extract("warm up");
    // `cargo test --benches` runs this too: one round is enough there.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        1
    };
    let bytes: usize = inputs.iter().map(|(_, t)| t.len()).sum();
    let started = Instant::now();
    let mut kept = 0usize;
    for _ in 0..rounds {
        for (html, text) in &inputs {
            let out = if *html {
                email_reply::extract_html(text)
            } else {
                email_reply::extract(text)
            };
            kept += out.reply_text.len();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let replies = (rounds * inputs.len()) as f64;
    println!(
        "{} cases ({} KiB) x {rounds}: {:.0} replies/s on one core ({:.1} µs each; {kept} bytes kept)",
        inputs.len(),
        bytes / 1024,
        replies / elapsed,
        elapsed / replies * 1e6
    );
}
