//! Browsers: an integrator's page on an allowed origin may call the API (preflight and the
//! real request), a page on any other origin gets no CORS headers (its browser refuses the
//! answer), and every response carries the security headers.

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::helpers::{Db, Options, spawn_app, spawn_app_with};
use crate::on_both_backends;

const SHOP: &str = "https://shop.example";

fn has_security_headers(headers: &HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
}

async fn browsers_on_allowed_origins_may_call_the_api(db: Db) {
    let app = spawn_app_with(
        db,
        Options {
            cors_allowed_origins: Some(format!("{SHOP}, http://localhost:3000")),
            ..Options::default()
        },
    )
    .await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let path = app.url(&format!("/api/v1/conversations/{id}"));

    // The preflight of a post with a token: allowed, cached, no credentials mode.
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, &path)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight(SHOP).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], SHOP);
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    assert!(
        !methods.contains("PUT") && !methods.contains("TRACE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for needed in ["authorization", "content-type", "idempotency-key"] {
        assert!(headers.contains(needed), "{headers}");
    }
    assert_eq!(h["access-control-max-age"], "600");
    assert!(h.get("access-control-allow-credentials").is_none());

    // The real request from that page: answered, readable by it, never cached.
    let real = app
        .client
        .get(&path)
        .bearer_auth(&app.key)
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), 200);
    assert_eq!(real.headers()["access-control-allow-origin"], SHOP);
    has_security_headers(real.headers());

    // Another origin: no CORS headers, so its browser keeps the answer from the page.
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let other = app
        .client
        .get(&path)
        .bearer_auth(&app.key)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // Errors carry the security headers too.
    let missing = app
        .client
        .get(app.url("/api/v1/conversations/nope"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    has_security_headers(missing.headers());
}
on_both_backends!(browsers_on_allowed_origins_may_call_the_api);

async fn without_allowed_origins_no_page_elsewhere_may_read_answers(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&app.key)
        .header("Origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "servers and same-origin callers are unaffected"
    );
    assert!(r.headers().get("access-control-allow-origin").is_none());
    has_security_headers(r.headers());
}
on_both_backends!(without_allowed_origins_no_page_elsewhere_may_read_answers);
