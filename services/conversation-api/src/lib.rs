//! conversation-api: the public write API and conversation view, single writer of the
//! conversation store. `main.rs` reads [`config::Config`] and calls [`startup::Application`];
//! tests build the same application on a random port.

pub mod admin;
pub mod auth;
pub mod body;
pub mod config;
pub mod dto;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod outbox_events;
pub mod recent;
pub mod redact;
pub mod retention;
pub mod routes;
pub mod service;
pub mod snapshot;
pub mod startup;
pub mod views;

pub use config::Config;
pub use startup::{Application, ExtraRoutes};
