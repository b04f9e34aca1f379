//! A real MTA in front: Debian's Postfix (a private instance on loopback, configured as
//! deploy/postfix/ tells operators) pipes replies into `inbound-mail deliver`, which hands
//! them to the inbound-mail process of the split system. A reply sent over SMTP appears in
//! the conversation and the other participant is mailed; while inbound-mail is down the
//! mail waits in Postfix's queue (exit 75) and is posted exactly once after it is back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::postfix::Postfix;
use e2e::{Options, System, eventually};

fn header(mail: &conversations_test_support::ReceivedMail, name: &str) -> String {
    mail.header(name).unwrap()
}

fn address(value: &str) -> String {
    value
        .rsplit_once('<')
        .map_or(value, |(_, a)| a.trim_end_matches('>'))
        .to_owned()
}

async fn message_count(system: &System, id: &str) -> u64 {
    system.message_counts(&[id.to_owned()]).await[id]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_through_postfix_are_posted_once_even_when_inbound_mail_is_down() {
    if let Some(reason) = e2e::postfix::unavailable_reason() {
        println!("SKIPPED: {reason}");
        return;
    }
    let system = System::start(Options::default()).await;
    let inbound = system.inbound.base.clone().unwrap();
    let argv: Vec<String> = [
        e2e::binary("inbound-mail").display().to_string(),
        "deliver".into(),
        "--url".into(),
        inbound,
        "--timeout-secs".into(),
        "20".into(),
        "--recipient".into(),
        "${recipient}".into(),
    ]
    .to_vec();
    let postfix = tokio::task::spawn_blocking(move || Postfix::start(&argv, "reply.example.com"))
        .await
        .unwrap()
        .unwrap();

    let id = system.create(1).await;
    eventually(
        "the buyer's notification",
        Duration::from_secs(30),
        || async { (system.sink.count() == 1).then_some(()) },
    )
    .await;
    let notification = system.sink.received()[0].clone();
    let reply_to = address(&header(&notification, "Reply-To"));
    let answered = header(&notification, "Message-ID");
    let reply = |n: u32, text: &str| {
        format!(
            "From: Buyer <buyer1@example.com>\r\nTo: {reply_to}\r\nSubject: Re: Order 1\r\nMessage-ID: <buyer-{n}@example.com>\r\nIn-Reply-To: {answered}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n{text}\r\n\r\nOn Tue, 1 Dec 2026, Seller 1 wrote:\r\n> hello buyer 1\r\n"
        )
    };
    let send = |raw: String| postfix.send("buyer1@example.com", &reply_to, raw.as_bytes());

    // Over SMTP, through the pipe, into the conversation; the seller hears of it.
    send(reply(1, "Thanks, got it.")).unwrap();
    eventually(
        "the reply to be posted",
        Duration::from_secs(30),
        || async { (message_count(&system, &id).await == 2).then_some(()) },
    )
    .await;
    let to_seller = eventually(
        "the seller's notification",
        Duration::from_secs(30),
        || async {
            system
                .sink
                .received()
                .iter()
                .find(|m| m.rcpt_to == ["seller1@example.com"])
                .map(|m| m.decoded_text())
        },
    )
    .await;
    assert!(to_seller.contains("Thanks, got it."), "{to_seller}");
    assert!(
        !to_seller.contains("hello buyer 1"),
        "the quoted history was cut"
    );

    // inbound-mail down: Postfix keeps the mail (deferred on exit 75).
    system.inbound.kill().await;
    send(reply(2, "One more thing.")).unwrap();
    eventually(
        "the mail to be deferred",
        Duration::from_secs(30),
        || async { (postfix.deferred() == 1).then_some(()) },
    )
    .await;
    assert_eq!(message_count(&system, &id).await, 2);

    // Back: one flush posts it, once; flushing again finds nothing to deliver.
    system.inbound.start().await;
    postfix.flush();
    eventually(
        "the deferred reply to be posted",
        Duration::from_secs(30),
        || async { (message_count(&system, &id).await == 3).then_some(()) },
    )
    .await;
    eventually(
        "Postfix's queue to empty",
        Duration::from_secs(30),
        || async { (postfix.queued() == 0).then_some(()) },
    )
    .await;
    postfix.flush();
    // The same mail once more, as an MTA retrying after a lost answer would: still once.
    send(reply(2, "One more thing.")).unwrap();
    eventually(
        "the resent mail to be handled",
        Duration::from_secs(30),
        || async { (postfix.pipe_results("sent") >= 3).then_some(()) },
    )
    .await;
    assert_eq!(message_count(&system, &id).await, 3, "{}", postfix.log());
    drop(postfix);
    system.cleanup().await;
}
