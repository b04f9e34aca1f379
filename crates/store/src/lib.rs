//! The conversation write store: conversations, participants, messages, applications and
//! the transactional outbox, on PostgreSQL (production) or SQLite (all-in-one), through one
//! diesel code path.
//!
//! Everything here is blocking (diesel + r2d2); async callers run it on a blocking thread
//! (`actix_web::web::block`, `tokio::task::spawn_blocking`).

mod applications;
mod connection;
mod conversations;
mod deliveries;
mod error;
mod idempotency;
mod messages;
mod outbox;
mod rows;
mod schema;
mod stats;

pub use applications::{IssuedKey, NewApiKey, hash_key, looks_like_key};
pub use connection::{
    AnyConnection, Backend, Store, build_pool, migrate, redo_all_migrations, redo_migrations,
    run_migrations,
};
pub use conversations::Commit;
pub use deliveries::{Delivery, DeliveryOutcome, DeliveryStatus, NewDelivery};
pub use error::StoreError;
pub use idempotency::StoredResponse;
pub use messages::{MessagePage, StoredMessage};
pub use outbox::{OutboxEvent, OutboxRow};
pub use stats::Counts;
