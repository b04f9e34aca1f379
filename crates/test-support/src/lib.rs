//! Test and benchmark peers that speak real protocols over TCP.

pub mod smtp_sink;

pub use smtp_sink::{ReceivedMail, SmtpSink};
