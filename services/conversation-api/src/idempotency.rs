//! `Idempotency-Key` on POST: the same key with the same request replays the first
//! response; the same key with another request is refused with 422.

use actix_web::HttpRequest;
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::service::Reply;
use conversations_store::StoredResponse;

/// A request that carried an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotencyRequest {
    /// The key, scoped to the application.
    pub key: String,
    /// Hash of method, path and body.
    pub request_hash: String,
}

impl IdempotencyRequest {
    /// Reads the header; `None` when absent.
    pub fn from_request(req: &HttpRequest, body: &[u8]) -> Result<Option<Self>, ApiError> {
        let Some(value) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .map_err(|_| ApiError::InvalidIdempotencyKey)?
            .trim();
        if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ApiError::InvalidIdempotencyKey);
        }
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str().as_bytes());
        hasher.update(b" ");
        hasher.update(req.path().as_bytes());
        hasher.update(b"\n");
        hasher.update(body);
        Ok(Some(Self {
            key: key.to_owned(),
            request_hash: HEXLOWER.encode(&hasher.finalize()),
        }))
    }

    /// The stored response if it answered this very request.
    pub fn replay(&self, stored: StoredResponse) -> Result<Reply, ApiError> {
        if stored.request_hash == self.request_hash {
            Ok(stored.into())
        } else {
            Err(ApiError::IdempotencyKeyReused)
        }
    }
}
