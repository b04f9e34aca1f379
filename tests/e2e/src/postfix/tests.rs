//! The harness itself, and its SMTP framing.

use super::smtp::data_payload;
use super::*;

#[test]
fn data_is_crlf_terminated_and_dot_stuffed() {
    assert_eq!(data_payload(b""), b".\r\n");
    assert_eq!(
        data_payload(b"Subject: x\n\n.hidden\r\n..two\nlast"),
        b"Subject: x\r\n\r\n..hidden\r\n...two\r\nlast\r\n.\r\n"
    );
    assert_eq!(data_payload(b"a\r\n.\r\n"), b"a\r\n..\r\n.\r\n");
    assert_eq!(data_payload(b"lone\rcr\n"), b"lone\rcr\r\n.\r\n");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The harness itself, with a shell script as the pipe program: delivered once per
/// recipient with `${recipient}` expanded, 75 deferred until a flush, 67 bounced,
/// other domains refused. Skipped where Postfix cannot run (not root, not installed).
#[test]
fn a_private_postfix_pipes_defers_flushes_and_bounces() {
    if let Some(reason) = unavailable_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let work = std::env::temp_dir().join(format!(
        "conversations-postfix-pipe-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).unwrap();
    // The script runs as nobody: it must be able to write here.
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = work.join("pipe.sh");
    let dir = work.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$2\" >> {dir}/recipients\ncat >> {dir}/mails\n\
             code=$(cat {dir}/code)\necho \"exiting $code\" >&2\nexit \"$code\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let code = |c: &str| std::fs::write(work.join("code"), c).unwrap();
    let recipients = || {
        std::fs::read_to_string(work.join("recipients"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    code("75");

    let argv = [
        script.display().to_string(),
        "--recipient".to_owned(),
        "${recipient}".to_owned(),
    ];
    let postfix = Postfix::start(&argv, "reply.localhost").unwrap();
    let mail = b"From: a@example.com\nTo: rxyz@reply.localhost\nSubject: hi\n\nhello\n.dot\n";

    postfix
        .send("a@example.com", "rxyz@reply.localhost", mail)
        .unwrap();
    wait_until("the deferral", || postfix.deferred() == 1);
    assert_eq!(recipients(), ["rxyz@reply.localhost"], "{}", postfix.log());

    code("0");
    postfix.flush();
    wait_until("the delivery", || {
        postfix.pipe_results("sent") == 1 && postfix.queued() == 0
    });
    assert_eq!(postfix.pipe_results("sent"), 1, "{}", postfix.log());
    assert_eq!(postfix.pipe_results("deferred"), 1, "{}", postfix.log());
    let mails = std::fs::read_to_string(work.join("mails")).unwrap();
    assert!(
        mails.starts_with("Return-Path: <a@example.com>\n"),
        "{mails}"
    );
    assert!(mails.contains("\n.dot\n"), "{mails}");

    code("67");
    postfix
        .send("a@example.com", "rabc@reply.localhost", mail)
        .unwrap();
    wait_until("the bounce", || postfix.pipe_results("bounced") == 1);
    wait_until("an empty queue", || postfix.queued() == 0);
    assert_eq!(recipients().len(), 3, "{}", postfix.log());

    let refused = postfix
        .send("a@example.com", "someone@elsewhere.example", mail)
        .unwrap_err();
    assert!(refused.contains("554"), "{refused}");

    drop(postfix);
    std::fs::remove_dir_all(&work).unwrap();
}
