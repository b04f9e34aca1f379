//! `/livez` and `/readyz` of the standalone service.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// The process is up.
#[utoipa::path(get, path = "/livez", tag = "health", security(), responses((status = 200, description = "The process is up")))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers, the consumer is connected to its bus and the first catch-up from
/// the event feed is done.
#[utoipa::path(get, path = "/readyz", tag = "health", security(), responses(
    (status = 200, description = "Database and bus reachable, catch-up done"),
    (status = 503, description = "Not ready; the body says what is missing"),
))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let database = web::block(move || store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let bus = state.bus_health.is_connected();
    let caught_up = state.caught_up.load(std::sync::atomic::Ordering::Relaxed);
    let ready = database && bus && caught_up;
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database,
        "bus": bus,
        "caught_up": caught_up,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
