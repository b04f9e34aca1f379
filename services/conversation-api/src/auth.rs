//! Authentication: `Authorization: Bearer <API key>` resolves to the application every
//! query is then scoped to.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use conversations_domain::AppId;

use crate::error::ApiError;
use crate::startup::AppState;

/// The application the request acts for. Handlers take it as an argument; without a valid
/// key the request never reaches them.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub AppId);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| key.trim().to_owned())
            });
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(key), Some(state)) = (key, state) else {
                return Err(ApiError::Unauthorized);
            };
            let store = state.store.clone();
            let app = web::block(move || store.authenticate(&key)).await??;
            app.map(Authenticated).ok_or(ApiError::Unauthorized)
        })
    }
}
