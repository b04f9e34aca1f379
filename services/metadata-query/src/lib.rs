//! metadata-query: the inbox read side. It keeps a projection of every conversation event
//! per contact (a person within an application) in its own tables — subject, other
//! participants, last activity and message, unread count, muted / pinned / archived, call
//! flags — and serves it with filters, keyset paging and the cross-conversation
//! recent-messages view. See README.md ("metadata-query").

pub mod auth;
pub mod config;
pub mod consumer;
pub mod cursor;
pub mod error;
pub mod feed;
pub mod live;
pub mod live_relay;
pub mod metrics;
pub mod openapi;
pub mod projection;
pub mod routes;
mod schema;
pub mod startup;
pub mod store;

pub use config::MetadataConfig;
pub use feed::Feed;
pub use startup::{Application, Embedded, EventSource};
pub use store::InboxStore;
