//! API keys on the application routes (`/api/v1/inbound…`, `/api/v1/suppressions…`).
//! conversation-api owns the keys; inbound-mail asks it (`/internal/v1/keys/verify`) and
//! remembers the answer for [`KEY_CACHE_TTL`], so a revoked key stops working within that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::client::{ClientError, ConversationsClient};
use crate::error::InboundError;

/// How long a key's owner is remembered.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);

/// Most keys remembered at once; the cache is emptied when it is full.
const KEY_CACHE_SIZE: usize = 10_000;

/// Resolves API keys to applications.
#[derive(Debug)]
pub struct Keys {
    client: ConversationsClient,
    cache: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Keys {
    /// Asks `client`.
    pub fn new(client: ConversationsClient) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn owner(&self, key: &str) -> Result<Option<String>, InboundError> {
        let hash = HEXLOWER.encode(&Sha256::digest(key.as_bytes()));
        if let Ok(cache) = self.cache.lock()
            && let Some((owner, at)) = cache.get(&hash)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(owner.clone());
        }
        let owner = self.client.key_owner(key).await.map_err(|e| match e {
            ClientError::Unavailable(d) | ClientError::Refused(d) => InboundError::Unavailable(d),
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= KEY_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(hash, (owner.clone(), Instant::now()));
        }
        Ok(owner)
    }
}

/// The credential of `Authorization: Bearer <credential>`.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    conversations_web::bearer(req.headers())
}

/// The application whose API key the request carries.
#[derive(Debug, Clone)]
pub struct ApiKey(pub String);

impl FromRequest for ApiKey {
    type Error = InboundError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, InboundError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let unauthorized = || {
                InboundError::Unauthorized(
                    "send the application's API key: `Authorization: Bearer <key>`",
                )
            };
            let key = bearer(&req).ok_or_else(unauthorized)?.to_owned();
            let keys = req
                .app_data::<web::Data<Keys>>()
                .cloned()
                .ok_or_else(unauthorized)?;
            keys.owner(&key).await?.map(ApiKey).ok_or_else(unauthorized)
        })
    }
}
