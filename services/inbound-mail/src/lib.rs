//! inbound-mail: turns a reply by email into "participant P posts text T to conversation
//! C", and records everything else that arrives (auto-replies, bounces, refusals) in an
//! incoming log.
//!
//! Mail arrives through the MTA pipe program (`inbound-mail deliver`, [`deliver`]) or
//! straight over HTTP (`POST /inbound/mail`, also in the forms Mailgun and SendGrid post).
//! [`mail`] reads it within bounds, [`decide`] holds the rules (no I/O), [`pipeline`] runs
//! them against conversation-api (the only writer of conversations, called on its internal
//! routes, [`client`]) and inbound-mail's own tables ([`store`]). Suppressions travel to
//! the notifier as `address_suppressed` / `address_unsuppressed` events through
//! inbound-mail's own outbox; deleted conversations' mails are erased from the log
//! ([`erasure`]).

pub mod auth;
pub mod client;
pub mod config;
pub mod decide;
pub mod deliver;
pub mod erasure;
pub mod error;
pub mod evaluation;
pub mod mail;
pub mod metrics;
pub mod pipeline;
pub mod routes;
pub mod startup;
pub mod store;

pub use config::InboundConfig;
pub use pipeline::Inbound;
pub use startup::{InboundService, Server};
pub use store::InboundStore;
