//! The pages behind the link in every notification, in a real browser: the split
//! deployment (conversation-api, notifier, metadata-query and inbound-mail as processes on
//! PostgreSQL and RabbitMQ) behind the nginx gateway, which serves the pages as files, and
//! two headless Chromium sessions, one per person. Each opens the link from the mail the
//! notifier really sent them; a reply typed in one page appears in the other without a
//! reload (Server-Sent Events); nobody's address reaches the other's DOM; markup in a
//! message runs nothing; expired, altered and left-behind links show what happened and
//! nothing of the conversation; axe-core finds no serious or critical accessibility
//! violation; pin, archive and the inbox filters work from the keyboard; and screenshots
//! of both pages at phone and desktop width are saved to target/screenshots (README shows
//! copies from docs/screenshots).
//! Skipped when Chromium, chromedriver or nginx is missing (scripts/test installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use conversations_domain::sign_in_link::{LinkClaims, LinkCodec};
use e2e::browser::{Driver, axe_core};
use e2e::gateway::{Gateway, free_port};
use e2e::{Options, System, eventually};
use fantoccini::Locator;
use serde_json::{Value, json};

/// WebDriver's keys: Control (held until [`RELEASE`]), Enter, release all.
const CTRL: &str = "\u{E009}";
const ENTER: &str = "\u{E007}";
const RELEASE: &str = "\u{E000}";

const HOSTILE: &str =
    "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"> bold?";

/// The "View the conversation" link of the newest notification to `to` about `subject`.
async fn link_for(system: &System, to: &str, needle: &str) -> String {
    eventually(
        &format!("the notification to {to}"),
        Duration::from_secs(30),
        || async {
            system
                .sink
                .received()
                .into_iter()
                .rev()
                .filter(|m| m.rcpt_to.iter().any(|r| r == to))
                .map(|m| m.decoded_text())
                .find(|text| text.contains(needle))
                .and_then(|text| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("View the conversation: "))
                        .map(|l| l.trim().to_owned())
                })
        },
    )
    .await
}

async fn post(system: &System, gateway: &Gateway, path: &str, body: Value) -> Value {
    let res = system
        .client
        .post(gateway.url(path))
        .bearer_auth(&system.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// `who` answers the notification about `needle` by mail, through the gateway's intake,
/// with a signature that reply extraction cuts.
async fn reply_by_mail(system: &System, gateway: &Gateway, who: &str, needle: &str) {
    let notification = system
        .sink
        .received()
        .into_iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == who) && m.decoded_text().contains(needle))
        .expect("the notification answered");
    let reply_to = notification.header("Reply-To").unwrap();
    let answered = notification.header("Message-ID").unwrap();
    let mail = format!(
        "From: Bob <{who}>\r\nTo: <{reply_to}>\r\nSubject: Re: Order 7\r\n\
         Message-ID: <browser-reply@example.com>\r\nIn-Reply-To: {answered}\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hi Ann, thanks!\r\n\r\n-- \r\nBob Builder\r\n{who}\r\n"
    );
    let taken = system
        .client
        .post(gateway.url(&format!("/inbound/mail?recipient={reply_to}")))
        .header("content-type", "message/rfc822")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert!(taken.status().is_success(), "{}", taken.status());
}

/// Activates the element `selector` names with the Enter key, as a keyboard user would
/// (no pointer, so no coordinates that a re-render could move).
async fn press(browser: &e2e::browser::Browser, selector: &str) {
    browser
        .client
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .send_keys(ENTER)
        .await
        .unwrap();
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// A copy of `link` whose code is `code`.
fn with_code(link: &str, code: &str) -> String {
    format!("{}#code={code}", link.split('#').next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_open_their_link_read_and_answer_live_and_see_nothing_of_others() {
    let Some(axe) = axe_core() else {
        eprintln!("skipped: axe-core is not installed (scripts/test installs it)");
        return;
    };
    if !Driver::available() || !Gateway::available() {
        eprintln!(
            "skipped: chromium, chromedriver or nginx is missing (scripts/test installs them)"
        );
        return;
    }
    let port = free_port();
    let system = System::start(Options {
        env: vec![("PUBLIC_URL", format!("http://127.0.0.1:{port}"))],
        ..Options::default()
    })
    .await;
    let gateway = Gateway::start(&system, port).await;

    // Ann writes to Bob; one of her messages carries markup; Bob answers by mail, so that
    // Ann has a notification (and a link) too, and his signature is trimmed.
    let created = post(
        &system,
        &gateway,
        "/api/v1/conversations",
        json!({"sender": {"email": "ann@example.com", "name": "Ann"},
               "to": [{"email": "bob@example.com", "name": "Bob"}],
               "subject": "Order 7", "text": "Hello Bob, your order has shipped."}),
    )
    .await;
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    let bob_id = created["conversation"]["participant_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "bob@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/conversations/{id}");
    post(
        &system,
        &gateway,
        &path,
        json!({"sender": "ann@example.com", "text": HOSTILE}),
    )
    .await;
    let bob_link = link_for(&system, "bob@example.com", "your order has shipped").await;
    reply_by_mail(
        &system,
        &gateway,
        "bob@example.com",
        "your order has shipped",
    )
    .await;
    let ann_link = link_for(&system, "ann@example.com", "thanks!").await;
    assert!(
        bob_link.starts_with(&gateway.url(&format!("/conversations/{id}#code="))),
        "{bob_link}"
    );

    let driver = Driver::start().await;
    let bob = driver.open(1280, 900).await;
    bob.goto(&bob_link).await;
    bob.shown("conversation").await;
    bob.until(
        "Bob's messages",
        "return document.querySelectorAll('#messages li').length >= 3;",
    )
    .await;
    // The code left the address bar before anything else happened.
    assert_eq!(
        bob.url().await,
        gateway.url(&format!("/conversations/{id}"))
    );
    let page = bob.text().await;
    assert!(
        page.contains("Order 7") && page.contains("your order has shipped"),
        "{page}"
    );
    // The markup shows as text and ran nothing.
    assert!(page.contains(HOSTILE), "{page}");
    assert_eq!(
        bob.js(
            "return [typeof window.__pwned, document.querySelectorAll('#messages img, #messages script').length];",
            vec![]
        )
        .await,
        json!(["undefined", 0])
    );
    assert!(
        !bob.dom().await.contains("ann@example.com"),
        "Ann's address in Bob's page"
    );

    let ann = driver.open(1280, 900).await;
    ann.goto(&ann_link).await;
    ann.shown("conversation").await;
    // Bob's mail, its signature cut and shown on request, his address masked in it.
    ann.client
        .find(Locator::Css(".trimmed summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let trimmed = ann
        .until(
            "the trimmed text shown",
            "const t = document.querySelector('.trimmed-text'); \
             return t && t.offsetParent !== null && t.innerText;",
        )
        .await;
    assert!(
        trimmed.as_str().unwrap().contains("Bob Builder"),
        "{trimmed}"
    );
    ann.js("window.__same_page = true; return true;", vec![])
        .await;
    assert!(
        !ann.dom().await.contains("bob@example.com"),
        "Bob's address in Ann's page"
    );

    // Bob answers in the page; Ann sees it arrive without reloading.
    let reply = "See you tomorrow at the shop";
    bob.client
        .find(Locator::Css("#reply-text"))
        .await
        .unwrap()
        // Ctrl+Enter in the box sends, as the page says.
        .send_keys(&format!("{reply}{CTRL}{ENTER}{RELEASE}"))
        .await
        .unwrap();

    ann.until(
        "Bob's reply in Ann's open page",
        &format!(
            "return window.__same_page === true && \
             document.getElementById('messages').innerText.includes('{reply}');"
        ),
    )
    .await;
    // It was really posted as Bob, and notified Ann by mail as well.
    link_for(&system, "ann@example.com", reply).await;

    // Ann's inbox: the conversation, and a new message counted as it comes.
    ann.goto(&gateway.url("/inbox")).await;
    ann.shown("inbox").await;
    ann.until(
        "the inbox lists Order 7",
        "return document.getElementById('inbox').innerText.includes('Order 7');",
    )
    .await;
    ann.js("window.__same_page = true; return true;", vec![])
        .await;
    bob.client
        .find(Locator::Css("#reply-text"))
        .await
        .unwrap()
        .send_keys("One more thing")
        .await
        .unwrap();
    // Keyboard only: Enter on the Send button (no pointer, no coordinates).
    bob.client
        .find(Locator::Css("#send"))
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    ann.until(
        "the unread count in Ann's open inbox",
        "return window.__same_page === true && \
         document.getElementById('inbox').innerText.includes('1 unread');",
    )
    .await;
    assert!(
        !ann.dom().await.contains("bob@example.com"),
        "Bob's address in Ann's inbox"
    );

    // Accessibility, on both pages as people see them.
    for (who, page) in [(&bob, "conversation"), (&ann, "inbox")] {
        let violations = who.accessibility_violations(&axe).await;
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }
    // Screenshots at desktop and phone width.
    for (who, page) in [(&bob, "conversation"), (&ann, "inbox")] {
        who.screenshot(&screenshots().join(format!("{page}-desktop.png")))
            .await;
        who.resize(390, 844).await;
        who.js(
            "window.scrollTo(0, document.body.scrollHeight); return true;",
            vec![],
        )
        .await;
        who.screenshot(&screenshots().join(format!("{page}-phone.png")))
            .await;
        let violations = who.accessibility_violations(&axe).await;
        assert!(violations.is_empty(), "{page} on a phone: {violations:#?}");
    }

    // Ann pins the conversation, then archives it, with the keyboard: her inbox says so
    // at once, and the filters find it where it now belongs.
    let item = format!("li.conversation[data-id='{id}']");
    let has = |what: &str| format!("const li = document.querySelector(\"{item}\"); return {what};");
    press(&ann, &format!("{item} button[data-action='pin']")).await;
    ann.until("pinned", &has("!!li && li.classList.contains('pinned')"))
        .await;
    press(&ann, "button.filter[data-filter='pinned']").await;
    ann.until(
        "the Pinned filter lists it",
        &has("document.querySelector(\"button.filter[data-filter='pinned']\").getAttribute('aria-pressed') === 'true' && !!li"),
    )
    .await;
    press(&ann, "button.filter[data-filter='all']").await;
    ann.until("back to all", &has("!!li")).await;
    press(&ann, &format!("{item} button[data-action='archive']")).await;
    ann.until("archived: gone from All", &has("li === null"))
        .await;
    press(&ann, "button.filter[data-filter='archived']").await;
    ann.until("the Archived filter lists it", &has("!!li"))
        .await;

    // An expired link, an altered one, and Bob's own after he left: each says what
    // happened, and shows nothing of the conversation.
    let application: Value = system
        .client
        .get(gateway.url("/api/v1/application"))
        .bearer_auth(&system.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expired = LinkCodec::new(e2e::REPLY_SECRET.as_bytes()).mint(&LinkClaims {
        app_id: application["id"].as_str().unwrap().parse().unwrap(),
        conversation_id: id.parse().unwrap(),
        participant_id: bob_id.parse().unwrap(),
        expires_at: chrono::DateTime::from_timestamp(Utc::now().timestamp() - 60, 0).unwrap(),
    });
    let code = bob_link.split("#code=").nth(1).unwrap();
    let mut altered = code.to_owned().into_bytes();
    altered[20] = if altered[20] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let stranger = driver.open(1280, 900).await;
    for (link, heading) in [
        (with_code(&bob_link, &expired), "This link has expired"),
        (with_code(&bob_link, &altered), "This link is not valid"),
    ] {
        stranger.goto(&gateway.url("/inbox")).await;
        stranger.goto(&link).await;
        stranger.shown("link-error").await;
        let text = stranger.text().await;
        assert!(text.contains(heading), "{text}");
        assert!(
            !text.contains("Order 7") && !text.contains("shipped"),
            "{text}"
        );
    }
    let left = system
        .client
        .delete(gateway.url(&format!("{path}/participants/bob@example.com")))
        .bearer_auth(&system.key)
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 204);
    stranger.goto(&gateway.url("/inbox")).await;
    stranger.goto(&bob_link).await;
    stranger.shown("link-error").await;
    let text = stranger.text().await;
    assert!(text.contains("no longer in this conversation"), "{text}");
    assert!(!stranger.dom().await.contains("shipped"), "{text}");

    for browser in [bob, ann, stranger] {
        browser.close().await;
    }
    drop(driver);
    gateway.stop().await;
    system.cleanup().await;
}
