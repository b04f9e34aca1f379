//! Integrator applications and their API keys. A key is shown once, at creation; only
//! its SHA-256 is stored (keys are 256 random bits, so a fast hash is enough).

use chrono::{DateTime, Utc};
use conversations_domain::{AppId, ApplicationSettings};
use data_encoding::BASE64URL_NOPAD;
use diesel::prelude::*;
use rand::RngCore;

use crate::connection::Store;
use crate::error::StoreError;
use crate::outbox::insert_outbox;
use crate::rows::{naive, parse_id};
use crate::schema::{api_keys, applications};
use conversations_db::{KEY_PREFIX, OutboxEvent, hash_key, looks_like_key};

/// A freshly created application and its key, in clear text for the one time it is shown.
#[derive(Debug)]
pub struct NewApiKey {
    /// The application.
    pub app_id: AppId,
    /// The key to give to the integrator.
    pub key: String,
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

impl Store {
    /// Creates an application with one API key; `announce` turns the key into the outbox
    /// event (written in the same transaction) that tells other services about it.
    pub fn create_application(
        &self,
        name: &str,
        now: DateTime<Utc>,
        announce: impl FnOnce(&IssuedKey<'_>) -> OutboxEvent,
    ) -> Result<NewApiKey, StoreError> {
        let app_id = AppId::new();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let key = format!("{KEY_PREFIX}{}", BASE64URL_NOPAD.encode(&secret));
        let key_hash = hash_key(&key);
        let event = announce(&IssuedKey {
            app_id,
            app_name: name,
            key_hash: &key_hash,
            key_prefix: &key[..KEY_PREFIX.len() + 6],
        });
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
                    api_keys::key_hash.eq(&key_hash),
                    api_keys::app_id.eq(app_id.to_string()),
                    api_keys::prefix.eq(&key[..KEY_PREFIX.len() + 6]),
                    api_keys::created_at.eq(naive(now)),
                ))
                .execute(conn)?;
            insert_outbox(conn, std::slice::from_ref(&event), now)?;
            Ok(())
        })?;
        Ok(NewApiKey { app_id, key })
    }

    /// The application a (non-revoked) key belongs to.
    pub fn authenticate(&self, key: &str) -> Result<Option<AppId>, StoreError> {
        if !looks_like_key(key) {
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
    /// The application's name (shown in notification senders: "Fred via <name>"). Names
    /// never change, so each is read from the database once per process.
    pub fn application_name(&self, app: AppId) -> Result<Option<String>, StoreError> {
        let cached = self
            .app_names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&app)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let mut conn = self.conn()?;
        let name: Option<String> = applications::table
            .filter(applications::id.eq(app.to_string()))
            .select(applications::name)
            .first(&mut *conn)
            .optional()?;
        if let Some(name) = &name {
            self.app_names
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(app, name.clone());
        }
        Ok(name)
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

    /// Whom a reply address names, in one query: the conversation's application, the
    /// participant's address, whether they are still in it, and the conversation's message
    /// count. `None` when either does not exist (inbound mail's lookup, on every reply).
    pub fn reply_target(
        &self,
        conversation: conversations_domain::ConversationId,
        participant: conversations_domain::ParticipantId,
        with_people: bool,
    ) -> Result<Option<ReplyTargetRow>, StoreError> {
        use crate::schema::{conversations, participants};
        let mut conn = self.conn()?;
        let row: Option<(String, String, bool, i64, bool)> = participants::table
            .inner_join(
                conversations::table.on(conversations::id.eq(participants::conversation_id)),
            )
            .inner_join(applications::table.on(applications::id.eq(conversations::app_id)))
            .filter(participants::conversation_id.eq(conversation.to_string()))
            .filter(participants::id.eq(participant.to_string()))
            .select((
                conversations::app_id,
                participants::email,
                participants::left_at.is_null(),
                conversations::message_count,
                applications::mask_phone_numbers,
            ))
            .first(&mut *conn)
            .optional()?;
        let Some((app, email, active, count, mask_phone_numbers)) = row else {
            return Ok(None);
        };
        // Everyone who has ever been in it: a reply may quote a former participant too.
        let people: Vec<(String, Option<String>)> = if with_people {
            participants::table
                .filter(participants::conversation_id.eq(conversation.to_string()))
                .order(participants::position.asc())
                .select((participants::email, participants::display_name))
                .load(&mut *conn)?
        } else {
            Vec::new()
        };
        Ok(Some(ReplyTargetRow {
            app: parse_id("application id", &app)?,
            email,
            active,
            message_count: u64::try_from(count).unwrap_or(0),
            settings: ApplicationSettings { mask_phone_numbers },
            people,
        }))
    }

    /// What the application decided for itself; `None` when it does not exist.
    pub fn application_settings(
        &self,
        app: AppId,
    ) -> Result<Option<(String, ApplicationSettings)>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<(String, bool)> = applications::table
            .filter(applications::id.eq(app.to_string()))
            .select((applications::name, applications::mask_phone_numbers))
            .first(&mut *conn)
            .optional()?;
        Ok(
            row.map(|(name, mask_phone_numbers)| {
                (name, ApplicationSettings { mask_phone_numbers })
            }),
        )
    }

    /// Stores the application's settings; false when it does not exist.
    pub fn set_application_settings(
        &self,
        app: AppId,
        settings: ApplicationSettings,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let updated = diesel::update(applications::table)
            .filter(applications::id.eq(app.to_string()))
            .set(applications::mask_phone_numbers.eq(settings.mask_phone_numbers))
            .execute(&mut *conn)?;
        Ok(updated > 0)
    }
}

/// What [`Store::reply_target`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTargetRow {
    /// The conversation's application.
    pub app: AppId,
    /// The participant's address.
    pub email: String,
    /// Still in the conversation.
    pub active: bool,
    /// Messages in the conversation.
    pub message_count: u64,
    /// The application's settings inbound mail applies (phone-number masking).
    pub settings: ApplicationSettings,
    /// Every participant's address and display name, for the leak guard (when asked for).
    pub people: Vec<(String, Option<String>)>,
}
