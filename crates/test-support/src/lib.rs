//! Test and benchmark peers that speak real protocols over TCP, and throwaway databases
//! on the real servers the suites run against.

pub mod eventually;
pub mod ports;
pub mod postgres;
pub mod smtp_sink;
pub mod tcp_proxy;

pub use eventually::eventually;
pub use ports::{free_addr, free_port};
pub use postgres::TestDatabase;
pub use smtp_sink::{ReceivedMail, SmtpSink};
pub use tcp_proxy::{TcpProxy, amqp_addr};

/// The RabbitMQ the suites publish to (`TEST_AMQP_URL`, default the local broker); each
/// test declares its own uniquely named exchange and queues there and deletes them.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}
