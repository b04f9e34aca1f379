//! `GET` / `PATCH /api/v1/application`: the calling application's own settings, which an
//! integrator changes without an operator (API key only; participant tokens are refused).

use actix_web::{HttpResponse, web};
use conversations_domain::{AppId, ApplicationSettings, ConversationUrl};
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
    /// Where the application shows a conversation: the link in every notification, with
    /// `{conversation_id}` replaced by the conversation's id. `null`: our own page.
    #[schema(example = "https://shop.example/messages/{conversation_id}")]
    pub conversation_url: Option<String>,
}

/// `PATCH /api/v1/application`: the settings to change; absent ones stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// See [`SettingsView::mask_phone_numbers`].
    pub mask_phone_numbers: Option<bool>,
    /// See [`SettingsView::conversation_url`]: an absolute `https` (or `http`) URL holding
    /// `{conversation_id}` once (and no other brace), at most 2000 characters; `""`
    /// removes it.
    #[schema(schema_with = conversations_web::schema::conversation_url)]
    pub conversation_url: Option<String>,
}

type Loaded = (String, ApplicationSettings, Option<String>);

async fn load(state: &AppState, app: AppId) -> Result<Loaded, ApiError> {
    let store = state.store.clone();
    web::block(move || store.application_settings(app))
        .await??
        .ok_or_else(|| ApiError::NotFound("the application no longer exists".into()))
}

fn view(app: AppId, (name, settings, conversation_url): Loaded) -> ApplicationView {
    ApplicationView {
        id: app.to_string(),
        name,
        settings: SettingsView {
            mask_phone_numbers: settings.mask_phone_numbers,
            conversation_url,
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
    let loaded = load(&state, app).await?;
    Ok(HttpResponse::Ok().json(view(app, loaded)))
}

/// Changes the calling application's settings; answers them as they are now.
#[utoipa::path(patch, path = "/api/v1/application", request_body = Option<UpdateSettings>,
    responses((status = 200, body = ApplicationView)))]
pub async fn update(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    body: JsonBody<UpdateSettings>,
) -> Result<HttpResponse, ApiError> {
    // Validated before anything is changed: a refused template changes nothing.
    let url = match body.value.conversation_url.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(raw) => Some(Some(ConversationUrl::parse("conversation_url", raw)?)),
    };
    let (name, mut settings, mut conversation_url) = load(&state, app).await?;
    if let Some(mask) = body.value.mask_phone_numbers {
        settings.mask_phone_numbers = mask;
    }
    let store = state.store.clone();
    let new_url = url.clone();
    let found = web::block(move || -> Result<bool, conversations_store::StoreError> {
        let found = store.set_application_settings(app, settings)?;
        if let Some(url) = &new_url {
            store.set_conversation_url(app, url.as_ref())?;
        }
        Ok(found)
    })
    .await??;
    if !found {
        return Err(ApiError::NotFound(
            "the application no longer exists".into(),
        ));
    }
    if let Some(url) = url {
        conversation_url = url.map(|u| u.as_str().to_owned());
    }
    Ok(HttpResponse::Ok().json(view(app, (name, settings, conversation_url))))
}
