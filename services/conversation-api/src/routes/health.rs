//! Liveness and readiness for orchestrators.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// `GET /livez`: the process is up.
#[utoipa::path(get, path = "/livez", responses((status = 200, description = "alive")))]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and the relay reaches its broker. 503 otherwise,
/// so a load balancer stops sending traffic to a replica that cannot work.
#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "ready"),
    (status = 503, description = "database or broker unreachable")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.clone();
    let database = matches!(web::block(move || store.ping()).await, Ok(Ok(())));
    let broker = state.sink_health.is_connected();
    let body = json!({
        "database": if database { "ok" } else { "unreachable" },
        "broker": if broker { "ok" } else { "unreachable" },
    });
    if database && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
