//! Opening a database: backend choice from the URL, migrations under an advisory lock, the
//! connection pool, and the SQLite writer lock.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, Pool};

use crate::pool::{DbConnection, DbPool, Manager};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::error::DbError;

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
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(DbError::UnsupportedUrl(url.to_owned()));
            }
            Ok(Self::Sqlite(path.to_owned()))
        } else {
            Err(DbError::UnsupportedUrl(url.to_owned()))
        }
    }
}

/// A service's own database given the all-in-one's `DATABASE_URL`: the file `file_name`
/// beside a SQLite database (each service its own file, so their writers never wait for
/// one another), or the same PostgreSQL database, where every service's tables carry its
/// prefix (`mq_`, `nt_`).
pub fn own_database_url(database_url: &str, file_name: &str) -> String {
    match database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    {
        Some(path) => {
            let dir = Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| ".".to_owned());
            format!("sqlite://{dir}/{file_name}")
        }
        None => database_url.to_owned(),
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

/// A service's database: a connection pool plus, on SQLite, a lock that serialises writers
/// (SQLite allows one writer at a time; queueing them here beats retrying on
/// `SQLITE_BUSY`). Every service's store wraps one.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    write_lock: Option<Arc<Mutex<()>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("sqlite", &self.write_lock.is_some())
            .finish_non_exhaustive()
    }
}

/// The two migration sets of one service (one per backend), embedded in its binary.
#[derive(Clone, Copy)]
pub struct Migrations {
    /// For PostgreSQL.
    pub postgres: fn() -> EmbeddedMigrations,
    /// For SQLite.
    pub sqlite: fn() -> EmbeddedMigrations,
}

impl Db {
    /// Connects, applies the service's pending `migrations`, and opens a pool of
    /// `pool_size` connections.
    pub fn open(
        database_url: &str,
        pool_size: u32,
        migrations: Migrations,
    ) -> Result<Self, DbError> {
        let backend = Backend::from_url(database_url)?;
        run_migrations(&backend, (migrations.postgres)(), (migrations.sqlite)())?;
        let pool = build_pool(&backend, pool_size)?;
        let write_lock = matches!(backend, Backend::Sqlite(_)).then(|| Arc::new(Mutex::new(())));
        Ok(Self { pool, write_lock })
    }

    /// A pooled connection.
    pub fn conn(&self) -> Result<DbConnection, DbError> {
        Ok(self.pool.get()?)
    }

    /// Held for the duration of a write transaction on SQLite; a no-op on PostgreSQL.
    pub fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        self.write_lock.as_ref().map(|lock| {
            lock.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }

    /// True on SQLite (the all-in-one), where some statements differ.
    pub fn is_sqlite(&self) -> bool {
        self.write_lock.is_some()
    }

    /// The database's name in traces (OpenTelemetry's `db.system.name`).
    pub fn system_name(&self) -> &'static str {
        if self.is_sqlite() {
            "sqlite"
        } else {
            "postgresql"
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.conn()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    }
}

/// A connection pool over either backend, SQLite tuned for a server (WAL, busy timeout,
/// foreign keys).
pub fn build_pool(backend: &Backend, pool_size: u32) -> Result<DbPool, DbError> {
    let url = match backend {
        Backend::Postgres(url) => url.clone(),
        Backend::Sqlite(path) => path.clone(),
    };
    Pool::builder()
        .max_size(pool_size.max(1))
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(Manager::new(url))
        .map_err(|e| DbError::Unavailable(e.to_string()))
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
) -> Result<(), DbError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
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
                    DbError::Unavailable(format!("cannot create {}: {e}", parent.display()))
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

/// Runs every migration of one set down and up again (migration round-trip tests); the
/// sets are passed as functions because each run consumes one.
#[doc(hidden)]
pub fn redo_migrations(
    backend: &Backend,
    postgres: fn() -> EmbeddedMigrations,
    sqlite: fn() -> EmbeddedMigrations,
) -> Result<(), DbError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
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
