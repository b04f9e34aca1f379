//! An application's API keys: several at once, so that a key can be rotated without
//! downtime (issue a new one, move the integration over, revoke the old one). A key is
//! shown once; only its SHA-256 is kept, with its prefix (the key's first characters,
//! unique within the application) as the name it is listed and revoked by. Issuing and
//! revoking write an outbox event in the same transaction, so every service that accepts
//! keys learns of it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use conversations_domain::AppId;
use data_encoding::BASE64URL_NOPAD;
use diesel::prelude::*;
use rand::RngCore;

use crate::connection::Store;
use crate::error::StoreError;
use crate::outbox::insert_outbox;
use crate::rows::{naive, parse_id, utc};
use crate::schema::{api_keys, applications};
use conversations_db::{AnyConnection, KEY_PREFIX, OutboxEvent, hash_key, looks_like_key};

/// Characters of a key that name it (`cvk_` and six more).
pub const PREFIX_LEN: usize = KEY_PREFIX.len() + 6;

/// Longest label an operator may give a key.
pub const MAX_LABEL_CHARS: usize = 100;

/// How often a key's `last_used_at` is written at most: it says which keys are still in
/// use before one is revoked, to the minute, without a write on every request.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// A freshly issued key, in clear text for the one time it is shown.
#[derive(Debug)]
pub struct NewApiKey {
    /// The application.
    pub app_id: AppId,
    /// The key to give to the integrator.
    pub key: String,
    /// Its first characters, which name it in listings and revocations.
    pub prefix: String,
}

/// What the caller needs to describe a new key as an outbox event.
#[derive(Debug, Clone)]
pub struct IssuedKey<'a> {
    /// The application.
    pub app_id: AppId,
    /// Its name.
    pub app_name: &'a str,
    /// Hex SHA-256 of the key.
    pub key_hash: &'a str,
    /// The key's first characters.
    pub key_prefix: &'a str,
}

/// What the caller needs to describe a revocation as an outbox event.
#[derive(Debug, Clone)]
pub struct RevokedKey<'a> {
    /// The application.
    pub app_id: AppId,
    /// Hex SHA-256 of the key.
    pub key_hash: &'a str,
    /// The key's first characters.
    pub key_prefix: &'a str,
}

/// One key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's first characters.
    pub prefix: String,
    /// The operator's label, empty when none.
    pub label: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute; `None` when never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `None` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What revoking a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// It works no longer; the event is in the outbox.
    Revoked(KeyInfo),
    /// It had been revoked before (nothing changed).
    AlreadyRevoked(KeyInfo),
    /// No key of this application has that prefix.
    NotFound,
    /// It is the application's last working key: revoking it would lock the integrator
    /// out (issue another first).
    LastKey,
}

fn new_secret() -> (String, String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", BASE64URL_NOPAD.encode(&secret));
    let hash = hash_key(&key);
    let prefix = key[..PREFIX_LEN].to_owned();
    (key, hash, prefix)
}

/// Inserts a new key of `app` (in the caller's transaction), retrying on the rare prefix
/// collision within the application, and writes the event `announce` makes of it.
pub(crate) fn insert_key(
    conn: &mut AnyConnection,
    app_id: AppId,
    app_name: &str,
    label: &str,
    now: DateTime<Utc>,
    announce: &dyn Fn(&IssuedKey<'_>) -> OutboxEvent,
) -> Result<NewApiKey, StoreError> {
    for _ in 0..5 {
        let (key, key_hash, prefix) = new_secret();
        let taken = api_keys::table
            .filter(api_keys::app_id.eq(app_id.to_string()))
            .filter(api_keys::prefix.eq(&prefix))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if taken {
            continue;
        }
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::key_hash.eq(&key_hash),
                api_keys::app_id.eq(app_id.to_string()),
                api_keys::prefix.eq(&prefix),
                api_keys::label.eq(label),
                api_keys::created_at.eq(naive(now)),
            ))
            .execute(conn)?;
        let event = announce(&IssuedKey {
            app_id,
            app_name,
            key_hash: &key_hash,
            key_prefix: &prefix,
        });
        insert_outbox(conn, std::slice::from_ref(&event), now)?;
        return Ok(NewApiKey {
            app_id,
            key,
            prefix,
        });
    }
    Err(StoreError::Corrupt(
        "could not find an unused key prefix".into(),
    ))
}

type KeyRow = (
    String,
    String,
    chrono::NaiveDateTime,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
);

fn info((prefix, label, created, used, revoked): KeyRow) -> KeyInfo {
    KeyInfo {
        prefix,
        label,
        created_at: utc(created),
        last_used_at: used.map(utc),
        revoked_at: revoked.map(utc),
    }
}

impl Store {
    /// Issues another key for `app`; `None` when the application does not exist.
    pub fn issue_key(
        &self,
        app: AppId,
        label: &str,
        now: DateTime<Utc>,
        announce: impl Fn(&IssuedKey<'_>) -> OutboxEvent,
    ) -> Result<Option<NewApiKey>, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction::<_, StoreError, _>(|conn| {
            let name: Option<String> = applications::table
                .filter(applications::id.eq(app.to_string()))
                .select(applications::name)
                .first(conn)
                .optional()?;
            let Some(name) = name else {
                return Ok(None);
            };
            insert_key(conn, app, &name, label, now, &announce).map(Some)
        })
    }

    /// Every key of `app`, working ones first, newest first.
    pub fn list_keys(&self, app: AppId) -> Result<Vec<KeyInfo>, StoreError> {
        let mut conn = self.conn()?;
        let mut keys: Vec<KeyInfo> = api_keys::table
            .filter(api_keys::app_id.eq(app.to_string()))
            .select((
                api_keys::prefix,
                api_keys::label,
                api_keys::created_at,
                api_keys::last_used_at,
                api_keys::revoked_at,
            ))
            .load::<KeyRow>(&mut *conn)?
            .into_iter()
            .map(info)
            .collect();
        keys.sort_by(|a, b| {
            (a.revoked_at.is_some(), std::cmp::Reverse(a.created_at))
                .cmp(&(b.revoked_at.is_some(), std::cmp::Reverse(b.created_at)))
        });
        Ok(keys)
    }

    /// Revokes the key of `app` named by `prefix`, writing the event `announce` makes of
    /// it in the same transaction. The last working key is not revoked.
    pub fn revoke_key(
        &self,
        app: AppId,
        prefix: &str,
        now: DateTime<Utc>,
        announce: impl FnOnce(&RevokedKey<'_>) -> OutboxEvent,
    ) -> Result<Revocation, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction::<_, StoreError, _>(|conn| {
            let row: Option<(String, KeyRow)> = api_keys::table
                .filter(api_keys::app_id.eq(app.to_string()))
                .filter(api_keys::prefix.eq(prefix))
                .select((
                    api_keys::key_hash,
                    (
                        api_keys::prefix,
                        api_keys::label,
                        api_keys::created_at,
                        api_keys::last_used_at,
                        api_keys::revoked_at,
                    ),
                ))
                .first(conn)
                .optional()?;
            let Some((key_hash, row)) = row else {
                return Ok(Revocation::NotFound);
            };
            let mut key = info(row);
            if key.revoked_at.is_some() {
                return Ok(Revocation::AlreadyRevoked(key));
            }
            let working: i64 = api_keys::table
                .filter(api_keys::app_id.eq(app.to_string()))
                .filter(api_keys::revoked_at.is_null())
                .count()
                .get_result(conn)?;
            if working <= 1 {
                return Ok(Revocation::LastKey);
            }
            diesel::update(api_keys::table)
                .filter(api_keys::key_hash.eq(&key_hash))
                .set(api_keys::revoked_at.eq(naive(now)))
                .execute(conn)?;
            let event = announce(&RevokedKey {
                app_id: app,
                key_hash: &key_hash,
                key_prefix: &key.prefix,
            });
            insert_outbox(conn, std::slice::from_ref(&event), now)?;
            key.revoked_at = Some(now);
            Ok(Revocation::Revoked(key))
        })
    }

    /// The application a working key belongs to. Records the use (at most once per
    /// [`LAST_USED_RESOLUTION`] per key and process).
    pub fn authenticate(&self, key: &str) -> Result<Option<AppId>, StoreError> {
        if !looks_like_key(key) {
            return Ok(None);
        }
        let key_hash = hash_key(key);
        let mut conn = self.conn()?;
        let app: Option<String> = api_keys::table
            .filter(api_keys::key_hash.eq(&key_hash))
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::app_id)
            .first(&mut *conn)
            .optional()?;
        let Some(app) = app else {
            return Ok(None);
        };
        if self.key_use_is_due(&key_hash) {
            // The write lock before a connection, as everywhere (SQLite).
            drop(conn);
            let _guard = self.write_guard();
            let mut conn = self.conn()?;
            diesel::update(api_keys::table)
                .filter(api_keys::key_hash.eq(&key_hash))
                .set(api_keys::last_used_at.eq(naive(Utc::now())))
                .execute(&mut *conn)?;
        }
        parse_id("application id", &app).map(Some)
    }

    /// Whether this key's use should be written now (and notes that it is).
    fn key_use_is_due(&self, key_hash: &str) -> bool {
        let mut uses = self
            .key_uses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if uses
            .get(key_hash)
            .is_some_and(|last| now.duration_since(*last) < LAST_USED_RESOLUTION)
        {
            return false;
        }
        if uses.len() > 10_000 {
            uses.clear();
        }
        uses.insert(key_hash.to_owned(), now);
        true
    }
}
