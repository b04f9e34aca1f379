//! Opening conversation-api's database: its migrations and its outbox, over the shared
//! database layer.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

use conversations_db::{Backend, Db, Migrations, Outbox};

use crate::error::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// conversation-api's migration sets.
pub const MIGRATIONS: Migrations = Migrations {
    postgres: || POSTGRES_MIGRATIONS,
    sqlite: || SQLITE_MIGRATIONS,
};

/// conversation-api's outbox table (named in the `outbox` header of what its relay
/// publishes; `conversations_events::feed::CONVERSATIONS_OUTBOX` says the same).
pub const OUTBOX_TABLE: &str = "outbox";
const OUTBOX_LEASE: &str = "outbox_lease";

/// The conversation write store.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// What every post needs of its application (the name for "Fred via <name>", the
    /// conversation URL for the notification's link), kept for
    /// [`crate::applications::PROFILE_TTL`] after a read.
    pub(crate) app_profiles: std::sync::Arc<
        std::sync::RwLock<
            std::collections::HashMap<
                conversations_domain::AppId,
                (crate::applications::AppProfile, std::time::Instant),
            >,
        >,
    >,
    /// When each key's use was last written (`api_keys.last_used_at`), by key hash.
    pub(crate) key_uses:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl Store {
    /// Connects, applies pending migrations, and opens a pool of `pool_size` connections.
    pub fn open(database_url: &str, pool_size: u32) -> Result<Self, StoreError> {
        Ok(Self {
            db: Db::open(database_url, pool_size, MIGRATIONS)?,
            app_profiles: std::sync::Arc::default(),
            key_uses: std::sync::Arc::default(),
        })
    }

    /// A pooled connection.
    pub(crate) fn conn(&self) -> Result<conversations_db::DbConnection, StoreError> {
        Ok(self.db.conn()?)
    }

    /// Held for the duration of a write transaction on SQLite; a no-op on PostgreSQL.
    pub(crate) fn write_guard(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        self.db.write_guard()
    }

    /// The database's name in traces (`db.system.name`).
    pub fn db_system(&self) -> &'static str {
        self.db.system_name()
    }

    /// Checks that the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping()?)
    }

    /// The outbox, for the relay and the event feed.
    pub fn outbox(&self) -> Outbox {
        Outbox::new(self.db.clone(), OUTBOX_TABLE, OUTBOX_LEASE)
    }

    /// The events after feed position `after`, in commit order (the replay feed).
    pub fn events_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<conversations_db::OutboxRow>, StoreError> {
        Ok(self.outbox().events_after(after, limit)?)
    }
}

/// Applies pending migrations (`conversations admin migrate`, and on every start).
pub fn migrate(backend: &Backend) -> Result<(), StoreError> {
    Ok(conversations_db::run_migrations(
        backend,
        POSTGRES_MIGRATIONS,
        SQLITE_MIGRATIONS,
    )?)
}

/// Runs every migration down and up again, for the migration test.
#[doc(hidden)]
pub fn redo_all_migrations(backend: &Backend) -> Result<(), StoreError> {
    Ok(conversations_db::redo_migrations(
        backend,
        MIGRATIONS.postgres,
        MIGRATIONS.sqlite,
    )?)
}
