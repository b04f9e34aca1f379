//! Rate limits per key, per token and per client address: 429 with `Retry-After` and the
//! IETF `RateLimit` headers, in-process and, with Redis, across replicas.

use serde_json::Value;

use crate::helpers::{Db, Options, TestApp, assert_problem, spawn_app_with};

fn limits(per_key: &str, per_address: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RATE_LIMIT_PER_KEY", per_key.to_owned()),
        ("RATE_LIMIT_PER_ADDRESS", per_address.to_owned()),
    ]
}

async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_quota_gets_429_with_the_headers_that_say_when_to_return() {
    let app = spawn_app_with(
        Db::Sqlite,
        Options {
            env: limits("3/min", "2/min"),
            ..Options::default()
        },
    )
    .await;
    for remaining in [2, 1, 0] {
        let ok = get(&app, &app.key, "/api/v1/application").await;
        assert_eq!(ok.status(), 200);
        assert_eq!(header(&ok, "ratelimit-policy"), "\"key\";q=3;w=60");
        let limit = header(&ok, "ratelimit");
        assert!(
            limit.starts_with(&format!("\"key\";r={remaining};t=")),
            "{limit}"
        );
    }
    let refused = get(&app, &app.key, "/api/v1/application").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!(
        (19..=20).contains(&retry),
        "one request every 20 s: {retry}"
    );
    assert!(header(&refused, "ratelimit").starts_with("\"key\";r=0;t="));
    let problem: Value = assert_problem(refused, 429).await;
    assert_eq!(problem["type"], "/problems/rate-limited");

    // Another key has its own quota; health checks are never limited.
    let other = app.second_application_key().await;
    assert_eq!(get(&app, &other, "/api/v1/application").await.status(), 200);
    for _ in 0..5 {
        assert_eq!(get(&app, "", "/livez").await.status(), 200);
    }

    // Requests with no key count against the client's address (here: unsubscribe links).
    let unsubscribe = |n: u32| {
        let url = app.url(&format!("/api/v1/unsubscribe/not-a-token-{n}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(unsubscribe(1).await.status(), 200);
    let second = unsubscribe(2).await;
    assert_eq!(header(&second, "ratelimit-policy"), "\"address\";q=2;w=60");
    assert_eq!(unsubscribe(3).await.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_off_when_configured_so() {
    let app = spawn_app_with(
        Db::Sqlite,
        Options {
            env: limits("off", "off"),
            ..Options::default()
        },
    )
    .await;
    for _ in 0..20 {
        let ok = get(&app, &app.key, "/api/v1/application").await;
        assert_eq!(ok.status(), 200);
        assert!(ok.headers().get("ratelimit").is_none());
    }
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Two replicas of the service sharing one PostgreSQL database and one Redis: the key's
/// quota is one quota, whichever replica a request reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_quota_holds_across_replicas() {
    let env = || {
        let mut env = limits("4/min", "off");
        env.push(("REDIS_URL", redis_url()));
        env
    };
    let first = spawn_app_with(
        Db::Postgres,
        Options {
            env: env(),
            ..Options::default()
        },
    )
    .await;
    let second = first
        .replica(Options {
            env: env(),
            ..Options::default()
        })
        .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let replica = if i % 2 == 0 { &first } else { &second };
        statuses.push(
            get(replica, &first.key, "/api/v1/application")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    let refused = get(&second, &first.key, "/api/v1/application").await;
    assert!(header(&refused, "retry-after").parse::<u64>().unwrap() >= 14);
}

/// Redis down: requests pass (a limiter must not take the API down with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_is_unreachable_requests_pass() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let app = spawn_app_with(
        Db::Sqlite,
        Options {
            env: {
                let mut env = limits("1/min", "off");
                env.push(("REDIS_URL", format!("redis://127.0.0.1:{port}")));
                env
            },
            ..Options::default()
        },
    )
    .await;
    for _ in 0..5 {
        let ok = get(&app, &app.key, "/api/v1/application").await;
        assert_eq!(ok.status(), 200);
        assert!(ok.headers().get("ratelimit").is_none());
    }
}
