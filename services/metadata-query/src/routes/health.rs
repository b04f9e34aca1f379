//! `/livez` and `/readyz` of the standalone service.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// The process is up.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and the consumer is connected to its bus.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let database = web::block(move || store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let bus = state.bus_health.is_connected();
    let body = json!({
        "status": if database && bus { "ok" } else { "unavailable" },
        "database": database,
        "bus": bus,
    });
    if database && bus {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
