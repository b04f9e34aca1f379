//! The forms hosted inbound providers post, and the intake's own authentication.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::helpers::{reply_address, reply_to, world};

fn form(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "----conversations-test-boundary";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn mailgun_signature(key: &str, timestamp: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

#[tokio::test]
async fn mailgun_and_sendgrid_forms_are_accepted_when_signed_or_authorized() {
    let w = world(&[
        ("INBOUND_SECRET", "intake-secret"),
        ("MAILGUN_SIGNING_KEY", "mailgun-key"),
    ])
    .await;
    let thread = w.thread("Hello Bob").await;
    let recipient = reply_address(&thread.notification);
    let send = |content_type: String, body: String, bearer: Option<&'static str>| {
        let mut request = w
            .client
            .post(format!("{}/inbound/mail", w.inbound))
            .header("content-type", content_type)
            .body(body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };

    // Mailgun, signed: no bearer token needed.
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let good = mailgun_signature("mailgun-key", &timestamp, "tok-1");
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "mg-1@mail.example.com",
        "Via Mailgun",
    );
    let (ct, body) = form(&[
        ("recipient", &recipient),
        ("timestamp", &timestamp),
        ("token", "tok-1"),
        ("signature", &good),
        ("body-mime", &raw),
    ]);
    let (status, handled) = send(ct, body, None).await;
    assert_eq!(status, 200, "{handled}");
    assert_eq!(handled["outcome"], "posted");

    // Mailgun's forward with raw MIME goes to a URL ending in `mime`; a reply address of
    // nobody is refused with 406 there, so Mailgun does not retry it for hours.
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "mg-3@mail.example.com",
        "x",
    )
    .replace(&recipient, "nobody@elsewhere.example");
    let (ct, body) = form(&[
        ("recipient", "nobody@elsewhere.example"),
        ("timestamp", &timestamp),
        ("token", "tok-1"),
        ("signature", &good),
        ("body-mime", &raw),
    ]);
    let response = w
        .client
        .post(format!("{}/inbound/mail/mime", w.inbound))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);

    // A wrong signature is refused even with the right bearer token; nothing is posted.
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "mg-2@mail.example.com",
        "Forged",
    );
    let (ct, body) = form(&[
        ("timestamp", &timestamp),
        ("token", "tok-2"),
        ("signature", &good),
        ("body-mime", &raw),
    ]);
    let (status, _) = send(ct, body, Some("intake-secret")).await;
    assert_eq!(status, 401);

    // SendGrid (raw MIME in `email`) with the intake's bearer token.
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "sg-1@mail.example.com",
        "Via SendGrid",
    );
    let envelope = format!("{{\"to\":[\"{recipient}\"],\"from\":\"bob@example.com\"}}");
    let (ct, body) = form(&[("envelope", &envelope), ("email", &raw)]);
    let (status, _) = send(ct.clone(), body.clone(), None).await;
    assert_eq!(
        status, 401,
        "INBOUND_SECRET is set: a bearer token or a signature is required"
    );
    let (status, handled) = send(ct, body, Some("intake-secret")).await;
    assert_eq!(status, 200, "{handled}");
    assert_eq!(handled["outcome"], "posted");

    // A form without the raw mail is refused for good: 406, which providers do not retry.
    let (ct, body) = form(&[("subject", "hi")]);
    let (status, _) = send(ct, body, Some("intake-secret")).await;
    assert_eq!(status, 406);

    // Raw message/rfc822 needs the bearer token too.
    let raw = reply_to(
        &thread.notification,
        "bob@example.com",
        "raw-1@mail.example.com",
        "Raw",
    );
    let (status, _) = send("message/rfc822".into(), raw.clone(), None).await;
    assert_eq!(status, 401);
    let (status, _) = send("message/rfc822".into(), raw, Some("wrong")).await;
    assert_eq!(status, 401);

    let texts: Vec<String> = w.conversation(&thread.id).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["Hello Bob", "Via Mailgun", "Via SendGrid"]);
    w.cleanup().await;
}
