//! Authentication. `Authorization: Bearer <credential>` is either an application's API key
//! (`cvk_…`: full access to that application's data) or a participant token (`cvt_…`,
//! minted by the application for one contact: read, mark read and post in that contact's
//! own conversations, nothing else). Every query is then scoped to the application.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use conversations_domain::participant_token::TOKEN_PREFIX;
use conversations_domain::{AppId, Conversation, EmailAddress};

use crate::error::ApiError;
use crate::startup::AppState;

/// Who is calling, once the credential checked out.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The integrator application itself (API key).
    Application(AppId),
    /// One contact of an application (participant token).
    Participant {
        /// The application that minted the token.
        app: AppId,
        /// The contact the token speaks for.
        email: EmailAddress,
    },
}

impl Caller {
    /// The application every query is scoped to.
    pub fn app(&self) -> AppId {
        match self {
            Self::Application(app) | Self::Participant { app, .. } => *app,
        }
    }

    /// The contact, for participant tokens.
    pub fn contact(&self) -> Option<&EmailAddress> {
        match self {
            Self::Application(_) => None,
            Self::Participant { email, .. } => Some(email),
        }
    }

    /// A participant token only sees conversations its contact is active in; anything
    /// else does not exist for it (404, as for another application's data).
    pub fn check_member(&self, conversation: &Conversation) -> Result<(), ApiError> {
        match self.contact() {
            Some(email)
                if !conversation
                    .participant(email)
                    .is_some_and(|p| p.is_active()) =>
            {
                Err(ApiError::NotFound(format!(
                    "conversation {} does not exist",
                    conversation.id
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The credential of `Authorization: Bearer <credential>`.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    conversations_web::bearer(req.headers()).map(str::to_owned)
}

async fn resolve(req: &HttpRequest) -> Result<Caller, ApiError> {
    let credential = bearer(req).ok_or(ApiError::Unauthorized)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    if credential.starts_with(TOKEN_PREFIX) {
        let codec = state.tokens.as_ref().ok_or(ApiError::Unauthorized)?;
        return match codec.verify(&credential, chrono::Utc::now()) {
            Ok(claims) => Ok(Caller::Participant {
                app: claims.app_id,
                email: claims.email,
            }),
            Err(_) => Err(ApiError::Unauthorized),
        };
    }
    let store = state.store.clone();
    let app = web::block(move || store.authenticate(&credential)).await??;
    app.map(Caller::Application).ok_or(ApiError::Unauthorized)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await })
    }
}

/// The application the request acts for, on routes only an API key may use. Handlers take
/// it as an argument; without a valid key the request never reaches them, and a
/// participant token gets 403.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub AppId);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match resolve(&req).await? {
                Caller::Application(app) => Ok(Self(app)),
                Caller::Participant { .. } => Err(ApiError::Forbidden(
                    "a participant token may only open, mark read and post in its own \
                     conversations; this needs the application's API key"
                        .into(),
                )),
            }
        })
    }
}
