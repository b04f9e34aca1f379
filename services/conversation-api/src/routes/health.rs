//! Liveness and readiness for orchestrators.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// `GET /livez`: the process is up.
#[utoipa::path(get, path = "/livez", responses((status = 200, description = "alive")))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /metrics`: every metric of the process (in the all-in-one, of every component),
/// with the outbox gauges read at scrape time ([`refresh_gauges`]).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    refresh_gauges(state.store.clone(), state.sink_health.clone()).await;
    conversations_web::metrics::render()
}

/// Reads the outbox backlog into `conversations_outbox_unpublished` (events) and
/// `conversations_outbox_oldest_unpublished_age_seconds` (alert when it grows: events are
/// not reaching the broker), and the relay's broker link into
/// `conversations_broker_connected` (0 or 1).
pub async fn refresh_gauges(
    store: conversations_store::Store,
    broker: std::sync::Arc<conversations_bus::SinkHealth>,
) {
    use conversations_web::metrics::gauge;
    use prometheus::IntGaugeVec;
    use std::sync::OnceLock;
    static WAITING: OnceLock<Option<IntGaugeVec>> = OnceLock::new();
    static AGE: OnceLock<Option<IntGaugeVec>> = OnceLock::new();
    static BROKER: OnceLock<Option<IntGaugeVec>> = OnceLock::new();
    if let Ok(Ok((waiting, oldest))) = web::block(move || store.outbox().backlog()).await {
        let age = oldest.map_or(0, |t| (chrono::Utc::now() - t).num_seconds().max(0));
        if let Some(g) = gauge(
            &WAITING,
            "conversations_outbox_unpublished",
            "Events in conversation-api's outbox not yet published to the broker.",
            &[],
        ) {
            g.with_label_values::<&str>(&[]).set(waiting);
        }
        if let Some(g) = gauge(
            &AGE,
            "conversations_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none waits).",
            &[],
        ) {
            g.with_label_values::<&str>(&[]).set(age);
        }
    }
    if let Some(g) = gauge(
        &BROKER,
        "conversations_broker_connected",
        "Whether the outbox relay reaches its broker (1) or not (0).",
        &[],
    ) {
        g.with_label_values::<&str>(&[])
            .set(i64::from(broker.is_connected()));
    }
}

/// `GET /readyz`: ready means able to serve requests, which needs the database and not
/// the broker: while the broker is away, posts still succeed and their events wait in the
/// outbox (taking every replica out of service for a broker outage would refuse them for
/// nothing). The body also reports the broker and the outbox backlog, for operators.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready; the body reports the broker and the outbox backlog"),
    (status = 503, description = "database unreachable")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let backlog = web::block(move || {
        store.ping()?;
        store
            .outbox()
            .backlog()
            .map_err(conversations_store::StoreError::from)
    })
    .await;
    let (database, outbox) = match backlog {
        Ok(Ok((waiting, oldest))) => {
            let age = oldest.map_or(0.0, |t| {
                (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
            });
            (
                true,
                json!({"unpublished": waiting, "oldest_unpublished_age_seconds": age}),
            )
        }
        _ => (false, serde_json::Value::Null),
    };
    let broker = state.sink_health.is_connected();
    let body = json!({
        "database": if database { "ok" } else { "unreachable" },
        "broker": if broker { "ok" } else { "unreachable (events wait in the outbox)" },
        "outbox": outbox,
    });
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
