//! Fuzzing the parse-and-classify core on the stable toolchain: real mails (the development
//! corpus, `../shared/corpora` or `CORPORA_DIR`, plus a few built here) mutated the way
//! broken and hostile mail is broken (bit flips, truncation, spliced MIME, boundaries and
//! encoded words that lead nowhere, NUL bytes, enormous lines), fed to everything
//! inbound-mail runs on a mail before posting it. No input may panic.
//!
//! Runs for `FUZZ_SECONDS` (default 20) with seed `FUZZ_SEED` (default: from the clock,
//! printed, so a failure can be repeated); a panicking input is written to
//! `target/fuzz-failures/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use conversations_domain::reply_address::ReplyAddressCodec;
use inbound_mail::{decide, mail};

/// A small, fast, seedable generator (xorshift64*): enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap()
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"--",
    b"--b\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"=?utf-8?B?",
    b"=?iso-2022-jp?Q?=1B",
    b"?=",
    b"=\r\n",
    b"=FF=FE",
    b"<blockquote type=\"cite\">",
    b"<div class=\"gmail_quote\"><div><div><div>",
    b"On Tue, 1 Dec 2026, Ann <ann@example.com> wrote:\r\n> ",
    b"-----Original Message-----\r\nFrom: a\r\nSent: b\r\n",
    b"From: \"\\\"\" <@>\r\n",
    b"To: r@reply.example.com, <<>>\r\n",
    b"Status: 5.1.1\r\nFinal-Recipient: rfc822;\r\n",
    b"Auto-Submitted: auto-replied\r\n",
    b"\xff\xfe\xfd",
    b"\xe2\x80\x8b",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => data.truncate(rng.below(len)),
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, token.iter().copied());
            }
            3 if len > 1 => {
                let a = rng.below(len);
                let b = (a + rng.below(len - a)).min(len);
                data.drain(a..b);
            }
            4 if len > 1 => {
                let a = rng.below(len);
                let b = (a + rng.below(256)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.below(len + 1);
                for _ in 0..rng.below(16) {
                    data.splice(at..at, chunk.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 => {
                let at = rng.below(len + 1);
                let byte = [b'a', b'>', b' ', b'=', b'\t'][rng.below(5)];
                data.splice(at..at, std::iter::repeat_n(byte, rng.below(100_000)));
            }
            7 if len > 0 => {
                let i = rng.below(len);
                data[i] = u8::try_from(rng.below(256)).unwrap();
            }
            _ => {
                let depth = rng.below(64);
                let mut nested = Vec::new();
                for d in 0..depth {
                    nested.extend_from_slice(
                        format!("Content-Type: multipart/mixed; boundary=b{d}\r\n\r\n--b{d}\r\n")
                            .as_bytes(),
                    );
                }
                let at = rng.below(len + 1);
                data.splice(at..at, nested);
            }
        }
    }
    data
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        b"From: Bob <bob@example.com>\r\nTo: r1@reply.example.com\r\nMessage-ID: <a@b>\r\nIn-Reply-To: <c.1.p@reply.example.com>\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nThanks =E2=9C=93\r\n\r\nOn Tue, Ann wrote:\r\n> hi\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>Thanks</p><div class=3D\"gmail_quote\">hi</div>\r\n--x--\r\n".to_vec(),
        b"From: MAILER-DAEMON@x\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\nFinal-Recipient: rfc822; a@b\r\n--r--\r\n".to_vec(),
    ];
    let dir = std::env::var_os("CORPORA_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            [
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
                PathBuf::from("/work/shared/corpora"),
            ]
            .into_iter()
            .find(|p| p.is_dir())
        });
    let mut stack: Vec<PathBuf> = dir.into_iter().collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if path.file_name().is_some_and(|n| n == "input")
            && let Ok(bytes) = std::fs::read(&path)
        {
            seeds.push(bytes);
        }
    }
    seeds.sort();
    seeds
}

/// Everything inbound-mail does to a mail before it asks conversation-api anything.
fn run_core(codec: &ReplyAddressCodec, raw: &[u8]) {
    let Ok(read) = mail::read(raw) else {
        return;
    };
    let _ = decide::find_address(codec, Some("r1@reply.example.com"), &read);
    let _ = decide::is_own_mail("reply.example.com", &read);
    let _ = decide::dmarc_failed("mx.example.com", &read);
    let _ = decide::answered_seq(
        "reply.example.com",
        conversations_domain::ConversationId::new(),
        &read,
    );
    let facts = conversations_events::internal::ReplyTarget {
        app_id: String::new(),
        conversation_id: String::new(),
        participant_id: String::new(),
        email: "bob@example.com".into(),
        active: true,
        message_count: 1,
        people: vec![conversations_events::internal::KnownPerson {
            email: "ann@example.com".into(),
            display_name: Some("Ann".into()),
        }],
        mask_phone_numbers: true,
    };
    let _ = decide::masked(decide::extract("reply.example.com", &read), &facts);
}

#[test]
fn no_mutated_mail_makes_the_core_panic() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("FUZZ_SEED={seed} FUZZ_SECONDS={seconds}");
    let seeds = seeds();
    let codec = ReplyAddressCodec::new(
        b"0123456789abcdef0123456789abcdef".to_vec(),
        "reply.example.com",
    );
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    // Every seed as it is, first.
    for raw in &seeds {
        run_core(&codec, raw);
    }
    while Instant::now() < deadline {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, a, b);
        let outcome = std::panic::catch_unwind(|| run_core(&codec, &input));
        if outcome.is_err() {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("crash-{seed}-{runs}.eml"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "input {} panicked (seed {seed}, run {runs})",
                path.display()
            );
        }
        runs += 1;
    }
    println!("{runs} mutated mails from {} seeds, no panic", seeds.len());
    assert!(runs > 0);
}
