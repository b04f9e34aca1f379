//! Integrator applications and their API keys. A key is shown once, at creation; only
//! its SHA-256 is stored (keys are 256 random bits, so a fast hash is enough).

use chrono::{DateTime, Utc};
use conversations_domain::AppId;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::connection::Store;
use crate::error::StoreError;
use crate::rows::{naive, parse_id};
use crate::schema::{api_keys, applications};

/// Prefix of every API key, so leaked keys are easy to recognise (and scan for).
const KEY_PREFIX: &str = "cvk_";

/// A freshly created application and its key, in clear text for the one time it is shown.
#[derive(Debug)]
pub struct NewApiKey {
    /// The application.
    pub app_id: AppId,
    /// The key to give to the integrator.
    pub key: String,
}

fn hash_key(key: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(key.as_bytes()))
}

impl Store {
    /// Creates an application with one API key.
    pub fn create_application(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<NewApiKey, StoreError> {
        let app_id = AppId::new();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let key = format!("{KEY_PREFIX}{}", BASE64URL_NOPAD.encode(&secret));
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction::<_, StoreError, _>(|conn| {
            diesel::insert_into(applications::table)
                .values((
                    applications::id.eq(app_id.to_string()),
                    applications::name.eq(name),
                    applications::created_at.eq(naive(now)),
                ))
                .execute(conn)?;
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::key_hash.eq(hash_key(&key)),
                    api_keys::app_id.eq(app_id.to_string()),
                    api_keys::prefix.eq(&key[..KEY_PREFIX.len() + 6]),
                    api_keys::created_at.eq(naive(now)),
                ))
                .execute(conn)?;
            Ok(())
        })?;
        Ok(NewApiKey { app_id, key })
    }

    /// The application a (non-revoked) key belongs to.
    pub fn authenticate(&self, key: &str) -> Result<Option<AppId>, StoreError> {
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let mut conn = self.conn()?;
        let app: Option<String> = api_keys::table
            .filter(api_keys::key_hash.eq(hash_key(key)))
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::app_id)
            .first(&mut *conn)
            .optional()?;
        app.map(|id| parse_id("application id", &id)).transpose()
    }
}

impl Store {
    /// The application's name (shown in notification senders: "Fred via <name>").
    pub fn application_name(&self, app: AppId) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn()?;
        Ok(applications::table
            .filter(applications::id.eq(app.to_string()))
            .select(applications::name)
            .first(&mut *conn)
            .optional()?)
    }

    /// The application a conversation belongs to, whoever asks (for signed links such as
    /// unsubscribe URLs, which carry no API key).
    pub fn conversation_app(
        &self,
        conversation: conversations_domain::ConversationId,
    ) -> Result<Option<AppId>, StoreError> {
        let mut conn = self.conn()?;
        let app: Option<String> = crate::schema::conversations::table
            .filter(crate::schema::conversations::id.eq(conversation.to_string()))
            .select(crate::schema::conversations::app_id)
            .first(&mut *conn)
            .optional()?;
        app.map(|id| parse_id("application id", &id)).transpose()
    }
}
