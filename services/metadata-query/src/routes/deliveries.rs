//! `GET /api/v1/conversations/{id}/{n}/deliveries`: per-recipient notification status of
//! one message, from the notifier's events (the notifier's own tables are its business).
//! The gateway routes this path here; the all-in-one serves it on its port.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Viewer;
use crate::error::MetadataError;
use crate::startup::AppState;

/// One notification of a message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The recipient's address.
    pub recipient: String,
    /// The recipient's participant id.
    pub participant_id: String,
    /// `pending`, `retry`, `sent`, `failed`, `muted` or `suppressed`.
    pub status: String,
    /// Send attempts so far.
    pub attempts: u32,
    /// The SMTP server's last reply (why it failed, when it did), or why nothing was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    /// One entry per recipient of the message (other than its sender).
    pub deliveries: Vec<DeliveryView>,
}

/// Serves the delivery status of one message.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/{n}/deliveries", tag = "inbox",
    params(("id" = String, Path, description = "Conversation id"), ("n" = u64, Path, description = "Message number")),
    responses(
        (status = 200, description = "Each recipient's notification status", body = DeliveryList),
        (status = 401, description = "No or an unknown API key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Participant tokens may not read delivery status", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message in this application", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MetadataError> {
    let app = viewer.require_application()?.to_owned();
    let (id, raw_seq) = path.into_inner();
    let not_found = || MetadataError::NotFound(format!("message {id}/{raw_seq} does not exist"));
    let seq: i64 = raw_seq
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(not_found)?;
    let store = state.store.clone();
    let conversation = id.clone();
    let found = web::block(move || store.deliveries(&app, &conversation, seq)).await??;
    let deliveries = found.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                recipient: d.recipient,
                participant_id: d.participant_id,
                status: d.status,
                attempts: d.attempts,
                smtp_reply: d.smtp_reply,
                updated_at: d.updated_at,
            })
            .collect(),
    }))
}
