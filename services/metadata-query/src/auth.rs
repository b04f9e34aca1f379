//! Who may read: an application's API key (any contact of that application; the key is
//! recognised by its SHA-256, learnt from `application_key_issued` events) or a
//! participant token (one contact only, verified with `TOKEN_SECRET`).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use conversations_domain::participant_token::TOKEN_PREFIX;

use crate::error::MetadataError;
use crate::startup::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// The application (API key): sees every contact of the application.
    Application {
        /// Application id.
        app: String,
    },
    /// One contact (participant token): sees only itself.
    Contact {
        /// Application id.
        app: String,
        /// The contact's id.
        contact: String,
        /// The contact's address.
        email: String,
    },
}

impl Viewer {
    /// The application every query is scoped to.
    pub fn app(&self) -> &str {
        match self {
            Self::Application { app } | Self::Contact { app, .. } => app,
        }
    }

    /// The contact, for participant tokens.
    pub fn contact(&self) -> Option<&str> {
        match self {
            Self::Application { .. } => None,
            Self::Contact { contact, .. } => Some(contact),
        }
    }

    /// Resolves a `{contact}` path segment: a contact id, or `me` for token callers. A
    /// token never resolves to anyone but its own contact (404, like a missing one).
    pub fn resolve_contact(&self, raw: &str) -> Result<String, MetadataError> {
        let not_found = || MetadataError::NotFound(format!("contact {raw} does not exist"));
        match self {
            Self::Contact { contact, .. } if raw == "me" || raw == contact => Ok(contact.clone()),
            Self::Contact { .. } => Err(not_found()),
            Self::Application { .. } if raw == "me" => Err(MetadataError::InvalidRequest(
                "`me` names the contact of a participant token; an API key names contacts by id"
                    .into(),
            )),
            Self::Application { .. } => {
                if raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(raw.to_ascii_lowercase())
                } else {
                    Err(not_found())
                }
            }
        }
    }

    /// Refuses participant tokens on application-only routes.
    pub fn require_application(&self) -> Result<&str, MetadataError> {
        match self {
            Self::Application { app } => Ok(app),
            Self::Contact { .. } => Err(MetadataError::Forbidden(
                "this needs the application's API key, not a participant token".into(),
            )),
        }
    }
}

impl FromRequest for Viewer {
    type Error = MetadataError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, MetadataError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credential = conversations_web::bearer(req.headers()).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(credential), Some(state)) = (credential, state) else {
                return Err(MetadataError::Unauthorized);
            };
            if credential.starts_with(TOKEN_PREFIX) {
                let codec = state.tokens.as_ref().ok_or(MetadataError::Unauthorized)?;
                let claims = codec
                    .verify(&credential, chrono::Utc::now())
                    .map_err(|_| MetadataError::Unauthorized)?;
                let app = claims.app_id.to_string();
                return Ok(Self::Contact {
                    contact: state.store.contact_ids().id(&app, claims.email.as_str()),
                    email: claims.email.as_str().to_owned(),
                    app,
                });
            }
            if !conversations_db::looks_like_key(&credential) {
                return Err(MetadataError::Unauthorized);
            }
            let hash = conversations_db::hash_key(&credential);
            let store = state.store.clone();
            let app = web::block(move || store.app_for_key_hash(&hash)).await??;
            app.map(|app| Self::Application { app })
                .ok_or(MetadataError::Unauthorized)
        })
    }
}
