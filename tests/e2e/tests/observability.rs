//! One posted message is one trace across the split system: the services, started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP receiver inside this test, export
//! spans that share the trace id of the `traceparent` the client sent, each the child of
//! the one before it: request → transaction → publish → consume (notifier and
//! metadata-query) → SMTP send. JSON logs name the trace; the mail does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::otlp::{OtlpReceiver, ReceivedSpan};
use e2e::{Options, System, eventually};
use serde_json::json;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name && s.trace_id == TRACE_ID)
}

/// Whether `ancestor` is `span`'s parent, grandparent, … among `spans`.
fn spans_between(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &str) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..16 {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(next) => parent = next.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_message_is_one_trace_from_the_request_to_the_smtp_send() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let system = System::start(Options {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let id = system.create(1).await;
    let mails_before = system.sink.received().len();

    let posted = system
        .client
        .post(system.api_url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&system.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .json(&json!({"sender": "seller1@example.com", "text": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);

    // Every span of the chain: the SMTP send and metadata-query's consumer span are last.
    let spans = eventually(
        "the spans of the whole chain",
        Duration::from_secs(30),
        || async {
            // Each service exports in its own batches: wait for every span asserted below.
            let spans = receiver.spans();
            let in_trace = |service: &str, routing_key: Option<&str>| {
                spans.iter().any(|s| {
                    s.service == service
                        && s.trace_id == TRACE_ID
                        && routing_key.is_none_or(|key| {
                            s.attribute("messaging.rabbitmq.destination.routing_key") == Some(key)
                        })
                })
            };
            let complete = one(&spans, "notifier", "smtp send").is_some()
                && in_trace("metadata-query", None)
                && in_trace("conversation-api", Some("message_posted"))
                && in_trace("notifier", Some("message_posted"));
            complete.then_some(spans)
        },
    )
    .await;
    let all: Vec<String> = spans
        .iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .map(|s| {
            format!(
                "{} / {} ({} <- {})",
                s.service, s.name, s.span_id, s.parent_span_id
            )
        })
        .collect();
    eprintln!(
        "spans of the trace: {all:#?}\n{} spans received in all: {:#?}",
        spans.len(),
        spans
            .iter()
            .map(|s| (&s.service, &s.name, &s.trace_id))
            .collect::<Vec<_>>()
    );

    let request = one(
        &spans,
        "conversation-api",
        "POST /api/v1/conversations/{id}",
    )
    .expect("the request's server span");
    assert_eq!(
        request.parent_span_id, CLIENT_SPAN,
        "continues the caller's span"
    );
    assert_eq!(request.kind, 2, "server");
    assert_eq!(request.attribute("http.request.method"), Some("POST"));
    assert_eq!(
        request.attribute("http.route"),
        Some("/api/v1/conversations/{id}")
    );
    assert_eq!(request.attribute("http.response.status_code"), Some("201"));

    let transaction = one(&spans, "conversation-api", "command transaction").unwrap();
    assert_eq!(transaction.parent_span_id, request.span_id);
    assert_eq!(transaction.attribute("db.system.name"), Some("postgresql"));

    let publish = spans
        .iter()
        .find(|s| {
            s.service == "conversation-api"
                && s.trace_id == TRACE_ID
                && s.attribute("messaging.rabbitmq.destination.routing_key")
                    == Some("message_posted")
        })
        .expect("the relay's publish span");
    assert_eq!(publish.kind, 4, "producer");
    assert_eq!(
        publish.parent_span_id, transaction.span_id,
        "the relay continues the trace stored with the outbox row"
    );

    let consumed = spans
        .iter()
        .find(|s| {
            s.service == "notifier"
                && s.trace_id == TRACE_ID
                && s.name.starts_with("process ")
                && s.attribute("messaging.rabbitmq.destination.routing_key")
                    == Some("message_posted")
        })
        .expect("the notifier's consumer span");
    assert_eq!(consumed.kind, 5, "consumer");
    assert_eq!(consumed.parent_span_id, publish.span_id);

    let projected = spans
        .iter()
        .find(|s| s.service == "metadata-query" && s.trace_id == TRACE_ID)
        .unwrap();
    assert_eq!(projected.kind, 5, "consumer");
    assert_eq!(projected.parent_span_id, publish.span_id);

    let sent = one(&spans, "notifier", "smtp send").unwrap();
    assert_eq!(sent.kind, 3, "client");
    assert_eq!(
        sent.parent_span_id, consumed.span_id,
        "the send continues the trace stored with the delivery"
    );

    // The mail carries no trace header: the trace is ours, not the recipient's.
    let mails = eventually("the notification", Duration::from_secs(10), || async {
        let mails = system.sink.received();
        (mails.len() > mails_before).then_some(mails)
    })
    .await;
    for mail in &mails[mails_before..] {
        let text = mail.text();
        assert!(!text.to_ascii_lowercase().contains("traceparent"));
        assert!(!text.contains(TRACE_ID));
    }

    // A reply by mail is one trace too: inbound-mail's intake request, and the post it
    // makes to conversation-api as the child of it.
    let notification = mails[mails_before..]
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == "buyer1@example.com"))
        .expect("the buyer's notification");
    let reply_to = notification.header("Reply-To").unwrap();
    let answered = notification.header("Message-ID").unwrap();
    let reply = format!(
        "From: Buyer <buyer1@example.com>\r\nTo: <{reply_to}>\r\nSubject: Re: Order 1\r\n\
         Message-ID: <traced-reply@example.com>\r\nIn-Reply-To: {answered}\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Replied by mail\r\n"
    );
    const MAIL_TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4736";
    let taken = system
        .client
        .post(format!(
            "{}/inbound/mail?recipient={reply_to}",
            system.inbound.base.as_deref().unwrap()
        ))
        .header("content-type", "message/rfc822")
        .header("traceparent", format!("00-{MAIL_TRACE}-{CLIENT_SPAN}-01"))
        .body(reply)
        .send()
        .await
        .unwrap();
    assert!(taken.status().is_success(), "{}", taken.status());
    let (intake, posted) = eventually("the reply's spans", Duration::from_secs(20), || async {
        let spans = receiver.spans();
        let intake = spans
            .iter()
            .find(|s| s.service == "inbound-mail" && s.trace_id == MAIL_TRACE && s.kind == 2)?
            .clone();
        let posted = spans
            .iter()
            .find(|s| {
                s.service == "conversation-api"
                    && s.trace_id == MAIL_TRACE
                    && s.kind == 2
                    && s.name.starts_with("POST ")
            })?
            .clone();
        Some((intake, posted))
    })
    .await;
    assert_eq!(intake.parent_span_id, CLIENT_SPAN);
    assert!(
        spans_between(&receiver.spans(), &posted, &intake.span_id),
        "conversation-api's span descends from inbound-mail's intake"
    );

    // JSON log lines written while serving the request name its trace.
    let logged = system.api.log();
    let line = logged
        .lines()
        .find(|l| l.contains(TRACE_ID))
        .expect("a conversation-api log line with the trace id");
    let line: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(line["trace_id"], TRACE_ID);
    assert_eq!(line["span_id"].as_str().map(str::len), Some(16));

    system.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_traced_and_no_context_is_stored() {
    let system = System::start(Options::default()).await;
    let id = system.create(2).await;
    let posted = system
        .client
        .post(system.api_url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&system.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .json(&json!({"sender": "seller2@example.com", "text": "untraced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    assert_eq!(
        system
            .count(
                0,
                "SELECT count(*) AS n FROM outbox WHERE trace_context IS NOT NULL"
            )
            .await,
        0,
        "tracing off costs no context"
    );
    system.cleanup().await;
}

/// metadata-query's consumer reports what became of the events it took, how far behind
/// it is, and what waits in its queues: a poison event shows as dead-lettered and in the
/// dead-letter queue's depth. Metrics are served on METRICS_ADDR, as configured here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_metrics_show_processed_and_dead_lettered_events_lag_and_queues() {
    let system = System::start(Options::default()).await;
    // METRICS_ADDR is set: the metrics are there, and not on the HTTP port.
    let base = system.metadata_metrics.clone();
    let http_port = system.metadata.base.clone().unwrap();
    let on_http_port = system
        .client
        .get(format!("{http_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_http_port.status(), 404);
    let processed =
        r#"conversations_consumer_events_total{consumer="metadata-query",result="processed"}"#;
    let dead_lettered =
        r#"conversations_consumer_events_total{consumer="metadata-query",result="dead_lettered"}"#;
    let dead_letter_queue =
        r#"conversations_consumer_queue_messages{consumer="metadata-query",queue="dead_letter"}"#;
    let lag = r#"conversations_consumer_lag_seconds{consumer="metadata-query"}"#;
    assert_eq!(system.metric(&base, dead_lettered).await, Some(0.0));

    let id = system.create(3).await;
    eventually("the inbox", Duration::from_secs(20), || {
        system.buyer_unread(3, &id)
    })
    .await;
    let seen = system.metric(&base, processed).await.unwrap_or_default();
    assert!(seen >= 1.0, "processed events counted: {seen}");
    let behind = system.metric(&base, lag).await.expect("the lag gauge");
    assert!(
        (0.0..60.0).contains(&behind),
        "lag from the outbox row's time: {behind}"
    );

    system
        .publish_raw("message_posted", b"\x00\x01 not an event")
        .await;
    eventually(
        "the poison event counted",
        Duration::from_secs(20),
        || async { (system.metric(&base, dead_lettered).await? >= 1.0).then_some(()) },
    )
    .await;
    // The notifier's own metrics server counts what it consumed and sent.
    let notifier = system.notifier_metrics.clone();
    eventually(
        "the notifier's counters",
        Duration::from_secs(20),
        || async {
            let sent = system
                .metric(&notifier, r#"notifier_mails_total{outcome="sent"}"#)
                .await?;
            let consumed = system
            .metric(
                &notifier,
                r#"conversations_consumer_events_total{consumer="notifier",result="processed"}"#,
            )
            .await?;
            (sent >= 1.0 && consumed >= 1.0).then_some(())
        },
    )
    .await;
    // The queues' depth is read every 15 s.
    eventually(
        "the dead-letter queue's depth",
        Duration::from_secs(40),
        || async { (system.metric(&base, dead_letter_queue).await? >= 1.0).then_some(()) },
    )
    .await;
    system.cleanup().await;
}
