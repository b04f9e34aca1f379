//! The gateway tested for real: Debian's nginx with `deploy/nginx/gateway.conf` (only the
//! upstream addresses and the listen port changed) in front of the running services. Each
//! path reaches the service that owns it; what must stay inside (`/internal/`, `/metrics`)
//! answers 404 from outside; the body-size limit answers 413; `traceparent` reaches the
//! service; the pages are served as files under the strict policy. Skipped when nginx is not installed (scripts/test installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::gateway::Gateway;
use e2e::otlp::OtlpReceiver;
use e2e::{Options, System, eventually};
use serde_json::{Value, json};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "b7ad6b7169203331";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_routes_each_path_to_its_service_and_keeps_internal_ones_inside() {
    if !Gateway::available() {
        eprintln!("skipped: nginx is not installed (scripts/test installs it)");
        return;
    }
    // Traces go to a receiver here, to see that the gateway passes `traceparent` on.
    let traces = OtlpReceiver::start().await.unwrap();
    let system = System::start(Options {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", traces.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
        ..Options::default()
    })
    .await;
    let gw = Gateway::start(&system, e2e::gateway::free_port()).await;
    let gateway = gw.base.clone();
    let client = &system.client;
    let key = &system.key;
    let get = |path: &str| {
        let url = format!("{gateway}{path}");
        async move { client.get(url).bearer_auth(key).send().await.unwrap() }
    };

    // conversation-api: create a conversation through the gateway, as part of a trace the
    // client started.
    let created = client
        .post(format!("{gateway}/api/v1/conversations"))
        .bearer_auth(key)
        .header("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))
        .json(
            &json!({"sender": "seller@example.com", "to": ["buyer@example.com"],
                      "subject": "Via the gateway", "text": "hello"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(get("/api/v1/application").await.status(), 200);
    // metadata-query: its prefixes and the deliveries pattern (once it has the message).
    assert_eq!(get("/api/v1/settings/unread-sources").await.status(), 200);
    let deliveries = format!("/api/v1/conversations/{id}/1/deliveries");
    eventually(
        "the deliveries via the gateway",
        Duration::from_secs(30),
        || async {
            let r = get(&deliveries).await;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    let participants = get(&format!("/api/v1/participants?conversation_ids={id}")).await;
    assert_eq!(participants.status(), 200);
    let openapi = get("/api/v1/openapi/metadata-query.json").await;
    assert_eq!(openapi.status(), 200);
    // inbound-mail: the incoming log and the suppression list.
    assert_eq!(get("/api/v1/suppressions").await.status(), 200);
    assert_eq!(get("/api/v1/inbound").await.status(), 200);
    // The conversation's own routes still reach conversation-api (not the regex).
    assert_eq!(
        get(&format!("/api/v1/conversations/{id}/1")).await.status(),
        200
    );

    // The pages are the gateway's own files, under the strict policy; sign-in reaches
    // conversation-api.
    for (path, kind) in [
        ("/".to_owned(), "text/html"),
        ("/inbox".to_owned(), "text/html"),
        (format!("/conversations/{id}"), "text/html"),
        ("/assets/conversation.js".to_owned(), "text/javascript"),
        ("/assets/app.css".to_owned(), "text/css"),
    ] {
        let page = client.get(format!("{gateway}{path}")).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let header = |name: &str| page.headers()[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with(kind), "{path}");
        assert!(
            header("content-security-policy").starts_with("default-src 'none'; script-src 'self';"),
            "{path}"
        );
        assert_eq!(header("referrer-policy"), "no-referrer");
    }
    let sign_in = client
        .post(format!("{gateway}/api/v1/sign-in"))
        .json(&json!({"code": "not.ours"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), 401);
    assert_eq!(
        sign_in.json::<Value>().await.unwrap()["type"],
        "/problems/link-invalid"
    );

    // What stays inside answers 404 from outside, whatever the credential.
    for path in [
        "/internal/v1/events?after=0",
        "/internal/v1/keys/verify",
        "/metrics",
    ] {
        assert_eq!(
            get(path).await.status(),
            404,
            "{path} reachable from outside"
        );
    }
    // The body-size limit (256 KiB) is the gateway's, before any service reads it.
    let big = client
        .post(format!("{gateway}/api/v1/conversations/{id}"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // nginx's own page, not the service's problem document: the gateway refused it.
    assert!(
        big.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // The gateway passed the client's trace context on: conversation-api's server span
    // is the child of the client's span.
    let span = eventually("the request's span", Duration::from_secs(20), || async {
        traces.spans().into_iter().find(|s| {
            s.service == "conversation-api"
                && s.trace_id == TRACE_ID
                && s.name == "POST /api/v1/conversations"
        })
    })
    .await;
    assert_eq!(span.parent_span_id, CLIENT_SPAN);

    gw.stop().await;
    system.cleanup().await;
}
