//! Opening the database: backend choice from the URL, migrations, the connection pool.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// One connection type over both backends, so every query is written once.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// Production.
    Postgresql(diesel::PgConnection),
    /// All-in-one and tests.
    Sqlite(diesel::SqliteConnection),
}

/// Which database the store runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://…` or `postgresql://…`: passed to libpq as is.
    Postgres(String),
    /// `sqlite://path` (or `sqlite:path`): a file, created with its folder if missing.
    Sqlite(String),
}

impl Backend {
    /// Reads `DATABASE_URL`.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// Sets SQLite up for a server: WAL so readers never block the writer, a busy timeout
/// instead of immediate `SQLITE_BUSY`, and enforced foreign keys.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<AnyConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), diesel::r2d2::Error> {
        if let AnyConnection::Sqlite(conn) = conn {
            for pragma in [
                "PRAGMA journal_mode = WAL",
                "PRAGMA busy_timeout = 10000",
                "PRAGMA foreign_keys = ON",
                "PRAGMA synchronous = NORMAL",
            ] {
                diesel::sql_query(pragma)
                    .execute(conn)
                    .map_err(diesel::r2d2::Error::QueryError)?;
            }
        }
        Ok(())
    }
}

/// The store: a connection pool plus, on SQLite, a lock that serialises writers (SQLite
/// allows one writer at a time; queueing them here beats retrying on `SQLITE_BUSY`).
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager<AnyConnection>>,
    write_lock: Option<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("sqlite", &self.write_lock.is_some())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects, applies pending migrations, and opens a pool of `pool_size` connections.
    pub fn open(database_url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let backend = Backend::from_url(database_url)?;
        migrate(&backend)?;
        let pool = build_pool(&backend, pool_size)?;
        let write_lock = matches!(backend, Backend::Sqlite(_)).then(|| Arc::new(Mutex::new(())));
        Ok(Self { pool, write_lock })
    }

    /// A pooled connection.
    pub(crate) fn conn(
        &self,
    ) -> Result<PooledConnection<ConnectionManager<AnyConnection>>, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Held for the duration of a write transaction on SQLite; a no-op on PostgreSQL.
    pub(crate) fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        self.write_lock.as_ref().map(|lock| {
            lock.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }

    /// Checks that the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    }
}

/// A connection pool over either backend, SQLite tuned for a server (WAL, busy timeout,
/// foreign keys). Shared with other services' stores (metadata-query), which bring their
/// own migrations.
pub fn build_pool(
    backend: &Backend,
    pool_size: u32,
) -> Result<Pool<ConnectionManager<AnyConnection>>, StoreError> {
    let url = match backend {
        Backend::Postgres(url) => url.clone(),
        Backend::Sqlite(path) => path.clone(),
    };
    Pool::builder()
        .max_size(pool_size.max(1))
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(ConnectionManager::<AnyConnection>::new(url))
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Applies pending migrations (`conversations admin migrate`, and on every start).
pub fn migrate(backend: &Backend) -> Result<(), StoreError> {
    run_migrations(backend, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS)
}

/// The advisory lock key every service of ours takes while migrating a PostgreSQL
/// database (an arbitrary constant: "conv" in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6e76;

/// Applies the pending migrations of one migration set, choosing the set for the backend;
/// creates the SQLite file's folder when missing.
pub fn run_migrations(
    backend: &Backend,
    postgres: EmbeddedMigrations,
    sqlite: EmbeddedMigrations,
) -> Result<(), StoreError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match backend {
        Backend::Postgres(url) => {
            let mut conn = diesel::PgConnection::establish(url)?;
            // Replicas starting together on a fresh database would otherwise race to
            // create the same tables and all but one would fail their first start. The
            // lock is per database and ends with the connection at the latest.
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(&mut conn)?;
            let outcome = conn.run_pending_migrations(postgres).map(|_| ());
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(&mut conn);
            outcome.map_err(migration_error)?;
        }
        Backend::Sqlite(path) => {
            if let Some(parent) = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let mut conn = diesel::SqliteConnection::establish(path)?;
            diesel::sql_query("PRAGMA journal_mode = WAL").execute(&mut conn)?;
            conn.run_pending_migrations(sqlite)
                .map_err(migration_error)?;
        }
    }
    Ok(())
}

/// Runs every migration down and up again on a connection, for the migration test.
#[doc(hidden)]
pub fn redo_all_migrations(backend: &Backend) -> Result<(), StoreError> {
    redo_migrations(backend, || POSTGRES_MIGRATIONS, || SQLITE_MIGRATIONS)
}

/// Runs every migration of one set down and up again (migration round-trip tests); the
/// sets are passed as functions because each run consumes one.
#[doc(hidden)]
pub fn redo_migrations(
    backend: &Backend,
    postgres: fn() -> EmbeddedMigrations,
    sqlite: fn() -> EmbeddedMigrations,
) -> Result<(), StoreError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match backend {
        Backend::Postgres(url) => {
            let mut conn = diesel::PgConnection::establish(url)?;
            conn.revert_all_migrations(postgres())
                .map_err(migration_error)?;
            conn.run_pending_migrations(postgres())
                .map_err(migration_error)?;
        }
        Backend::Sqlite(path) => {
            let mut conn = diesel::SqliteConnection::establish(path)?;
            conn.revert_all_migrations(sqlite())
                .map_err(migration_error)?;
            conn.run_pending_migrations(sqlite())
                .map_err(migration_error)?;
        }
    }
    Ok(())
}
