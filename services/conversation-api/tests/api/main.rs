//! Integration tests: the real service on a random port, against a fresh PostgreSQL
//! database or SQLite file per test, and (for the outbox) a real RabbitMQ.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod bad_input;
mod conversation_flows;
mod cors;
mod idempotency;
mod keys;
mod metrics;
mod outbox_relay;
mod rate_limits;
mod replicas;
mod seed_samples;
mod sign_in;
mod tenant_isolation;
