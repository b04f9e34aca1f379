//! Integrator applications (their keys are in [`crate::api_keys`]). A key is shown once,
//! at creation; only its SHA-256 is stored (keys are 256 random bits, so a fast hash is
//! enough).

use chrono::{DateTime, Utc};
use conversations_domain::{AppId, ApplicationSettings, ConversationUrl};
use diesel::prelude::*;

use crate::api_keys::{IssuedKey, NewApiKey, insert_key};
use crate::connection::Store;
use crate::error::StoreError;
use crate::rows::{naive, parse_id};
use crate::schema::applications;
use conversations_db::OutboxEvent;

impl Store {
    /// Creates an application with one API key; `announce` turns the key into the outbox
    /// event (written in the same transaction) that tells other services about it.
    pub fn create_application(
        &self,
        name: &str,
        now: DateTime<Utc>,
        announce: impl Fn(&IssuedKey<'_>) -> OutboxEvent,
    ) -> Result<NewApiKey, StoreError> {
        let app_id = AppId::new();
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
            insert_key(conn, app_id, name, "", now, &announce)
        })
    }
}

/// How long a process keeps an application's [`AppProfile`]: a changed conversation URL
/// reaches every replica's notifications within this time.
pub const PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// What every post needs of its application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppProfile {
    /// Its name (shown in notification senders: "Fred via <name>").
    pub name: String,
    /// Where it shows a conversation (a template with `{conversation_id}`), if it set one.
    pub conversation_url: Option<String>,
}

impl Store {
    /// The application's name.
    pub fn application_name(&self, app: AppId) -> Result<Option<String>, StoreError> {
        Ok(self.application_profile(app)?.map(|p| p.name))
    }

    /// The application's [`AppProfile`], read from the database at most once per
    /// [`PROFILE_TTL`] per process (every post needs it).
    pub fn application_profile(&self, app: AppId) -> Result<Option<AppProfile>, StoreError> {
        let cached = self
            .app_profiles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&app)
            .filter(|(_, read)| read.elapsed() < PROFILE_TTL)
            .map(|(profile, _)| profile.clone());
        if cached.is_some() {
            return Ok(cached);
        }
        let mut conn = self.conn()?;
        let row: Option<(String, Option<String>)> = applications::table
            .filter(applications::id.eq(app.to_string()))
            .select((applications::name, applications::conversation_url))
            .first(&mut *conn)
            .optional()?;
        let profile = row.map(|(name, conversation_url)| AppProfile {
            name,
            conversation_url,
        });
        if let Some(profile) = &profile {
            self.app_profiles
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(app, (profile.clone(), std::time::Instant::now()));
        }
        Ok(profile)
    }

    /// Sets (or, with `None`, removes) where the application shows a conversation; false
    /// when it does not exist.
    pub fn set_conversation_url(
        &self,
        app: AppId,
        url: Option<&ConversationUrl>,
    ) -> Result<bool, StoreError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        let updated = diesel::update(applications::table)
            .filter(applications::id.eq(app.to_string()))
            .set(applications::conversation_url.eq(url.map(ConversationUrl::as_str)))
            .execute(&mut *conn)?;
        self.app_profiles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&app);
        Ok(updated > 0)
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
    ) -> Result<Option<(String, ApplicationSettings, Option<String>)>, StoreError> {
        let mut conn = self.conn()?;
        let row: Option<(String, bool, Option<String>)> = applications::table
            .filter(applications::id.eq(app.to_string()))
            .select((
                applications::name,
                applications::mask_phone_numbers,
                applications::conversation_url,
            ))
            .first(&mut *conn)
            .optional()?;
        Ok(row.map(|(name, mask_phone_numbers, url)| {
            (name, ApplicationSettings { mask_phone_numbers }, url)
        }))
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
