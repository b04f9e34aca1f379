//! The pipe program as an MTA runs it: the real `inbound-mail deliver` binary, one mail on
//! stdin, judged by its exit code.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{DOMAIN, reply_to, world};

/// Runs `inbound-mail deliver` with `args`, `raw` on stdin; returns the exit code and
/// what it printed for the MTA's log.
fn deliver(url: &str, args: &[&str], raw: &[u8]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inbound-mail"))
        .arg("deliver")
        .args(["--url", url, "--timeout-secs", "10"])
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refusal may close stdin early; that is the program's business.
    let _ = stdin.write_all(raw);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn deliver_async(url: String, args: Vec<String>, raw: Vec<u8>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        deliver(&url, &args, &raw)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_pipe_program_answers_the_mta_with_sysexits_and_loses_nothing_while_the_api_is_down() {
    let mut w = world(&[]).await;
    let thread = w.thread("Hello Bob").await;
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "pipe-1@mail.example.com",
        "By pipe",
    );
    let recipient = crate::helpers::reply_address(&thread.notification);
    let args = vec!["--recipient".to_owned(), recipient.clone()];

    // conversation-api unreachable: 75, the MTA keeps the mail.
    w.cut_api();
    let (code, log) =
        deliver_async(w.inbound.clone(), args.clone(), raw.clone().into_bytes()).await;
    assert_eq!(code, 75, "{log}");
    w.restore_api().await;
    let (_, entries) = w.get_json("/api/v1/inbound").await;
    assert_eq!(
        entries["inbound"].as_array().map(Vec::len),
        Some(0),
        "a deferred mail belongs to no application yet: {entries}"
    );

    // Back: posted exactly once, however often the MTA retries.
    let (code, log) =
        deliver_async(w.inbound.clone(), args.clone(), raw.clone().into_bytes()).await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("posted"), "{log}");
    let (code, log) = deliver_async(w.inbound.clone(), args.clone(), raw.into_bytes()).await;
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("duplicate"), "{log}");
    assert_eq!(w.conversation(&thread.id).await["message_count"], 2);

    // No such reply address: 67, the MTA bounces with "unknown user".
    let stranger = format!(
        "From: a@b.example\r\nTo: r{}@{DOMAIN}\r\nMessage-ID: <s@b.example>\r\n\r\nhi\r\n",
        "a".repeat(62)
    );
    let (code, log) = deliver_async(
        w.inbound.clone(),
        vec![
            "--recipient".into(),
            format!("r{}@{DOMAIN}", "a".repeat(62)),
        ],
        stranger.into_bytes(),
    )
    .await;
    assert_eq!(code, 67, "{log}");

    // Larger than allowed: 65, refused while reading.
    let (code, log) = deliver_async(
        w.inbound.clone(),
        vec!["--max-bytes".into(), "100".into()],
        vec![b'x'; 1000],
    )
    .await;
    assert_eq!(code, 65, "{log}");

    // Nothing listening, a bad option, a missing secret file: never anything but 75.
    let (code, _) = deliver_async(
        "http://127.0.0.1:9".into(),
        vec![],
        b"From: a@b\r\n\r\nx".to_vec(),
    )
    .await;
    assert_eq!(code, 75);
    let (code, _) = deliver_async(w.inbound.clone(), vec!["--bogus".into()], b"x".to_vec()).await;
    assert_eq!(code, 75);
    let (code, _) = deliver_async(
        w.inbound.clone(),
        vec!["--secret-file".into(), "/nonexistent/secret".into()],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(code, 75);
    w.cleanup().await;
}
