//! `/api/v1/application/keys`: the calling application's API keys, so that an integrator
//! rotates a key without an operator and without downtime: issue a second key, move the
//! integration over, watch the old key's `last_used_at` stop moving, revoke it. API key
//! only (participant tokens are refused).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use conversations_domain::DisplayName;
use conversations_store::{KeyInfo, MAX_LABEL_CHARS, PREFIX_LEN, Revocation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::startup::AppState;

/// One key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The key's first characters (`cvk_` and six more): its name here and in
    /// `DELETE /api/v1/application/keys/{prefix}`.
    pub prefix: String,
    /// The label it was issued with (empty when none).
    pub label: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute; `null` when never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `null` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyInfo> for KeyView {
    fn from(k: KeyInfo) -> Self {
        Self {
            prefix: k.prefix,
            label: k.label,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The application's keys, working ones first, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys.
    pub keys: Vec<KeyView>,
}

/// `POST /api/v1/application/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    /// A label to tell the key apart (e.g. `production`, `ci`).
    #[schema(schema_with = label_schema)]
    pub label: Option<String>,
}

fn label_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::from(conversations_web::schema::display_name_or_null())
        .description(Some(
            "A label to tell the key apart (e.g. `production`, `ci`).",
        ))
        .build()
}

/// A freshly issued key: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKeyView {
    /// Send as `Authorization: Bearer <key>`. Shown this once; store it now.
    pub key: String,
    /// How it is listed.
    #[serde(flatten)]
    pub listed: KeyView,
}

/// Parses a label the way display names are parsed (one line, 1 to 100 characters).
pub fn parse_label(raw: Option<&str>) -> Result<String, ApiError> {
    const _: () = assert!(MAX_LABEL_CHARS == conversations_domain::limits::MAX_DISPLAY_NAME_CHARS);
    Ok(raw
        .map(|l| DisplayName::parse("label", l))
        .transpose()?
        .map(|l| l.as_str().to_owned())
        .unwrap_or_default())
}

/// Lists the application's keys.
#[utoipa::path(get, path = "/api/v1/application/keys",
    responses((status = 200, body = KeyList)))]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let keys = web::block(move || store.list_keys(app)).await??;
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Issues another key; the answer is the only place it is ever shown.
#[utoipa::path(post, path = "/api/v1/application/keys", request_body = Option<IssueKey>,
    responses((status = 201, body = IssuedKeyView)))]
pub async fn issue(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    body: JsonBody<IssueKey>,
) -> Result<HttpResponse, ApiError> {
    let label = parse_label(body.value.label.as_deref())?;
    let store = state.store.clone();
    let issued = web::block(move || {
        let issued = admin::issue_key(&store, app, &label)?;
        let listed = store.list_keys(app)?;
        Ok::<_, conversations_store::StoreError>(issued.map(|k| (k, listed)))
    })
    .await??
    .ok_or_else(|| ApiError::NotFound("the application no longer exists".into()))?;
    let (key, listed) = issued;
    let listed = listed
        .into_iter()
        .find(|k| k.prefix == key.prefix)
        .ok_or_else(|| ApiError::Internal("the new key is not listed".into()))?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/application/keys/{}", key.prefix),
        ))
        .json(IssuedKeyView {
            key: key.key,
            listed: listed.into(),
        }))
}

/// Revokes a key: every service refuses it within seconds. The last working key cannot be
/// revoked (issue another first); revoking a revoked key changes nothing.
#[utoipa::path(delete, path = "/api/v1/application/keys/{prefix}",
    params(("prefix" = String, Path, description = "The key's prefix, as listed",
        pattern = r"^cvk_[A-Za-z0-9_-]{6}$")),
    responses((status = 200, body = KeyView, description = "Revoked (or it already was)"),
        (status = 409, body = crate::error::Problem,
        description = "It is the application's last working key")))]
pub async fn revoke(
    state: web::Data<AppState>,
    Authenticated(app): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let prefix = path.into_inner();
    let not_found = || ApiError::NotFound(format!("this application has no key {prefix}"));
    if prefix.len() != PREFIX_LEN {
        return Err(not_found());
    }
    let store = state.store.clone();
    let named = prefix.clone();
    match web::block(move || admin::revoke_key(&store, app, &named)).await?? {
        Revocation::Revoked(key) | Revocation::AlreadyRevoked(key) => {
            Ok(HttpResponse::Ok().json(KeyView::from(key)))
        }
        Revocation::NotFound => Err(not_found()),
        Revocation::LastKey => Err(ApiError::Conflict(
            "this is the application's last working key: issue another one first".into(),
        )),
    }
}
