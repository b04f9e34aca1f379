//! The conversation write store: conversations, participants, messages, applications and
//! the transactional outbox, on PostgreSQL (production) or SQLite (all-in-one), through one
//! diesel code path.
//!
//! Everything here is blocking (diesel + r2d2); async callers run it on a blocking thread
//! (`actix_web::web::block`, `tokio::task::spawn_blocking`).

mod api_keys;
mod applications;
mod connection;
mod conversations;
mod error;
mod idempotency;
mod messages;
mod outbox;
mod rows;
mod schema;
mod snapshot;
mod stats;

pub use api_keys::{
    IssuedKey, KeyInfo, LAST_USED_RESOLUTION, MAX_LABEL_CHARS, NewApiKey, PREFIX_LEN, Revocation,
    RevokedKey,
};
pub use applications::{AppProfile, PROFILE_TTL, ReplyTargetRow};
pub use connection::{MIGRATIONS, OUTBOX_TABLE, Store, migrate, redo_all_migrations};
pub use conversations::Commit;
pub use conversations_db::{AnyConnection, Backend, OutboxEvent, OutboxRow};
pub use error::StoreError;
pub use idempotency::StoredResponse;
pub use messages::{MessagePage, StoredMessage};
pub use snapshot::ActiveKey;
pub use stats::Counts;
