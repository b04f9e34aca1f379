//! metadata-query's own database: the inbox projection on PostgreSQL or SQLite, through
//! the same diesel connection type as the write store but with its own tables and
//! migrations. Blocking; async callers use `spawn_blocking` / `web::block`.

mod apply;
mod contact_key;
mod deliveries;
mod memberships_and_messages;
mod statistics;

pub use apply::{FeedPosition, Planned};
pub use deliveries::Delivery;
mod inbox_page;
mod read;

use std::sync::{Arc, Mutex, MutexGuard};

use conversations_db::{Backend, build_pool};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub use read::{
    Contact, InboxFilter, InboxItem, InboxOrder, InboxPage, MemberView, MessageItem, MessagePage,
    Relevant,
};

use crate::error::MetadataError;
use crate::schema::{
    mq_api_keys, mq_checkpoint, mq_contacts, mq_conversations, mq_deliveries, mq_memberships,
    mq_messages, mq_unread_sources,
};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The projection store.
#[derive(Clone)]
pub struct InboxStore {
    pool: conversations_db::DbPool,
    write_lock: Option<Arc<Mutex<()>>>,
    /// Contacts known to be stored with these (display name, external id): most events
    /// repeat them, and skipping the write saves a round trip per participant.
    known_contacts: Arc<Mutex<KnownContacts>>,
    /// PostgreSQL only: when to refresh the planner statistics during bulk loads.
    analyze: Option<Arc<Mutex<statistics::AnalyzeSchedule>>>,
    /// How contact ids are derived (keyed with the projection's secret).
    ids: crate::projection::ContactIds,
}

/// Contact id → (display name, external id) as stored.
pub(crate) type KnownContacts = std::collections::HashMap<String, (Option<String>, Option<String>)>;

impl std::fmt::Debug for InboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxStore")
            .field("sqlite", &self.write_lock.is_some())
            .finish_non_exhaustive()
    }
}

/// Applies metadata-query's pending migrations.
pub fn migrate(backend: &Backend) -> Result<(), MetadataError> {
    Ok(conversations_db::run_migrations(
        backend,
        POSTGRES_MIGRATIONS,
        SQLITE_MIGRATIONS,
    )?)
}

/// Runs metadata-query's migrations down and up again (migration round-trip test).
#[doc(hidden)]
pub fn redo_migrations(backend: &Backend) -> Result<(), MetadataError> {
    Ok(conversations_db::redo_migrations(
        backend,
        || POSTGRES_MIGRATIONS,
        || SQLITE_MIGRATIONS,
    )?)
}

impl InboxStore {
    /// Connects, migrates, and opens a pool of `pool_size` connections.
    pub fn open(database_url: &str, pool_size: u32) -> Result<Self, MetadataError> {
        Self::open_with(database_url, pool_size, None)
    }

    /// [`Self::open`] with the contact-id key from `CONTACT_ID_SECRET` (when set; else the
    /// projection's own, see `contact_key`).
    pub fn open_with(
        database_url: &str,
        pool_size: u32,
        contact_id_secret: Option<&[u8]>,
    ) -> Result<Self, MetadataError> {
        let backend = Backend::from_url(database_url)?;
        migrate(&backend)?;
        let pool = build_pool(&backend, pool_size)?;
        let sqlite = matches!(backend, Backend::Sqlite(_));
        let ids = {
            let mut conn = pool
                .get()
                .map_err(|e| MetadataError::Unavailable(e.to_string()))?;
            contact_key::load_or_create(&mut conn, contact_id_secret)?
        };
        Ok(Self {
            pool,
            write_lock: sqlite.then(|| Arc::new(Mutex::new(()))),
            known_contacts: Arc::default(),
            analyze: (!sqlite).then(Arc::default),
            ids,
        })
    }

    /// How this projection derives contact ids (its secret key).
    pub fn contact_ids(&self) -> &crate::projection::ContactIds {
        &self.ids
    }

    pub(crate) fn conn(&self) -> Result<conversations_db::DbConnection, MetadataError> {
        self.pool
            .get()
            .map_err(|e| MetadataError::Unavailable(e.to_string()))
    }

    /// Serialises writers on SQLite; a no-op on PostgreSQL.
    pub(crate) fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        self.write_lock.as_ref().map(|lock| {
            lock.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }

    /// Checks that the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), MetadataError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    }

    /// The application a key (by its hash) belongs to.
    pub fn app_for_key_hash(&self, key_hash: &str) -> Result<Option<String>, MetadataError> {
        let mut conn = self.conn()?;
        Ok(mq_api_keys::table
            .filter(mq_api_keys::key_hash.eq(key_hash))
            .select(mq_api_keys::app_id)
            .first(&mut *conn)
            .optional()?)
    }

    /// How far the feed with this checkpoint row has been applied.
    pub fn feed_position(&self, checkpoint: i32) -> Result<i64, MetadataError> {
        let mut conn = self.conn()?;
        Ok(mq_checkpoint::table
            .filter(mq_checkpoint::id.eq(checkpoint))
            .select(mq_checkpoint::feed_position)
            .first(&mut *conn)
            .optional()?
            .unwrap_or(0))
    }

    /// Empties the projection (keys, contacts, conversations, messages, settings and the
    /// feed position) so that the next catch-up rebuilds it from the first event. The
    /// unread-source settings are kept: they are not derived from events.
    pub fn reset(&self) -> Result<(), MetadataError> {
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        conn.transaction::<_, MetadataError, _>(|conn| {
            apply::lock_projection(conn)?;
            diesel::delete(mq_messages::table).execute(conn)?;
            diesel::delete(mq_deliveries::table).execute(conn)?;
            diesel::delete(mq_memberships::table).execute(conn)?;
            diesel::delete(mq_conversations::table).execute(conn)?;
            diesel::delete(mq_contacts::table).execute(conn)?;
            diesel::delete(mq_api_keys::table).execute(conn)?;
            diesel::update(mq_checkpoint::table)
                .set(mq_checkpoint::feed_position.eq(0))
                .execute(conn)?;
            Ok(())
        })?;
        self.known_contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        if let Some(schedule) = &self.analyze {
            *schedule
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Default::default();
        }
        Ok(())
    }

    /// The sources (besides `api` and `email`) whose messages count as unread for `app`.
    pub fn unread_sources(&self, app: &str) -> Result<Vec<String>, MetadataError> {
        let mut conn = self.conn()?;
        Ok(mq_unread_sources::table
            .filter(mq_unread_sources::app_id.eq(app))
            .order(mq_unread_sources::source.asc())
            .select(mq_unread_sources::source)
            .load(&mut *conn)?)
    }
}
