//! The database layer every service shares, and nothing service-specific: one diesel
//! connection type over PostgreSQL (production) and SQLite (all-in-one), pools, each
//! service's own migrations applied under an advisory lock, portable raw statements, the
//! transactional outbox (each service that publishes events has its own outbox tables),
//! and API-key hashing. Each service owns its tables; none reads another's.
//!
//! Everything here is blocking (diesel + r2d2); async callers run it on a blocking thread.

mod connection;
mod error;
mod keys;
pub mod outbox;
mod pool;
pub mod prepared;
pub mod statement;

pub use connection::{
    AnyConnection, Backend, Db, Migrations, build_pool, own_database_url, redo_migrations,
    run_migrations,
};
pub use error::DbError;
pub use keys::{KEY_PREFIX, hash_key, looks_like_key};
pub use outbox::{Outbox, OutboxEvent, OutboxRow};
pub use pool::{DbConnection, DbPool, Manager};
