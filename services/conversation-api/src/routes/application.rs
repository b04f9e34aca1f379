//! `GET` / `PATCH /api/v1/application`: the calling application's own settings, which an
//! integrator changes without an operator (API key only; participant tokens are refused).

use actix_web::{HttpResponse, web};
use conversations_domain::{AppId, ApplicationSettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::startup::AppState;

/// The calling application.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// Its id.
    pub id: String,
    /// Its name (shown in notification senders: "Fred via <name>").
    pub name: String,
    /// What it decided for itself.
    pub settings: SettingsView,
}

/// An application's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Replies that come by email have every phone number replaced by
    /// `[phone number hidden]` before they are posted. Default false.
    pub mask_phone_numbers: bool,
}

/// `PATCH /api/v1/application`: the settings to change; absent ones stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// See [`SettingsView::mask_phone_numbers`].
    pub mask_phone_numbers: Option<bool>,
}

async fn load(state: &AppState, app: AppId) -> Result<(String, ApplicationSettings), ApiError> {
    let store = state.store.clone();
    web::block(move || store.application_settings(app))
        .await??
        .ok_or_else(|| ApiError::NotFound("the application no longer exists".into()))
}

fn view(app: AppId, name: String, settings: ApplicationSettings) -> ApplicationView {
    ApplicationView {
        id: app.to_string(),
        name,
        settings: SettingsView {
            mask_phone_numbers: settings.mask_phone_numbers,
        },
    }
}

/// The calling application and its settings.
#[utoipa::path(get, path = "/api/v1/application",
    responses((status = 200, body = ApplicationView)))]
pub async fn show(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (name, settings) = load(&state, app).await?;
    Ok(HttpResponse::Ok().json(view(app, name, settings)))
}

/// Changes the calling application's settings; answers them as they are now.
#[utoipa::path(patch, path = "/api/v1/application", request_body = Option<UpdateSettings>,
    responses((status = 200, body = ApplicationView)))]
pub async fn update(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    body: JsonBody<UpdateSettings>,
) -> Result<HttpResponse, ApiError> {
    let (name, mut settings) = load(&state, app).await?;
    if let Some(mask) = body.value.mask_phone_numbers {
        settings.mask_phone_numbers = mask;
    }
    let store = state.store.clone();
    if !web::block(move || store.set_application_settings(app, settings)).await?? {
        return Err(ApiError::NotFound(
            "the application no longer exists".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(view(app, name, settings)))
}
