//! Getting outbox events to their consumers.
//!
//! The [`relay::Relay`] gives committed outbox rows their feed positions (commit order) and
//! hands them to a [`Sink`]: RabbitMQ ([`amqp::AmqpSink`], publisher confirms, our own
//! reconnect loop) in production, or the [`in_process::InProcessBus`] in the all-in-one
//! binary, whose consumers read the outbox from positions they record themselves. An event
//! is marked published only once the broker has confirmed it, so a crash anywhere loses
//! nothing (it may, rarely, publish an event twice; consumers de-duplicate).

pub mod amqp;
pub mod consume;
pub mod consumer_span;
pub mod event;
pub mod in_process;
pub mod relay;
pub mod retention;
pub mod topology;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use amqp::{AmqpConfig, AmqpSink, CREATED_AT_HEADER, OUTBOX_HEADER, POSITION_HEADER};
pub use consume::{ConsumerSettings, Disposition, Handler, Received};
pub use consumer_span::{process_span, traceparent_header};
pub use event::{EventHeader, outbox_event};
pub use in_process::InProcessBus;
pub use relay::{Relay, RelayConfig};
pub use topology::{ConsumerQueue, connection_lost};

/// The events exchange every service uses unless `AMQP_EXCHANGE` names another.
pub const DEFAULT_EXCHANGE: &str = "conversations.events";

/// Where the relay publishes to.
#[derive(Clone, Debug)]
pub enum Sink {
    /// RabbitMQ.
    Amqp(Arc<AmqpSink>),
    /// In-process broadcast (all-in-one).
    InProcess(InProcessBus),
}

/// Whether the relay currently reaches its sink; read by `/readyz`.
#[derive(Debug, Default)]
pub struct SinkHealth(AtomicBool);

impl SinkHealth {
    /// Records the current state.
    pub fn set(&self, connected: bool) {
        self.0.store(connected, Ordering::Relaxed);
    }

    /// True while the sink is reachable.
    pub fn is_connected(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why publishing failed; the relay keeps the events and tries again.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or dropped the connection.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused (nacked) an event.
    #[error("broker refused event {0}")]
    Nacked(String),
    /// The outbox could not be read or updated.
    #[error(transparent)]
    Outbox(#[from] conversations_db::DbError),
}
