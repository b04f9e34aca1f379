//! Ports for servers a test starts as separate processes, which must be told their
//! address before they bind it.
//!
//! Asking the kernel for port 0 and releasing it hands out a port from the ephemeral
//! range, which the kernel also gives to outgoing connections: between the release and
//! the service's own bind, a connection to PostgreSQL or RabbitMQ may take it ("Address
//! already in use", seen in CI). These ports come from below that range, where only
//! listeners live, picked at random and checked free.

use std::net::{Ipv4Addr, TcpListener};

/// Below Linux's default ephemeral range (32768–60999).
const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// A loopback port nothing listens on now and no outgoing connection will take.
pub fn free_port() -> u16 {
    let span = u128::from(RANGE.end - RANGE.start);
    for _ in 0..1_000 {
        let offset = u16::try_from(uuid::Uuid::new_v4().as_u128() % span).unwrap_or(0);
        let port = RANGE.start + offset;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    // Everything there is taken: let the kernel choose.
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_outside_the_ephemeral_range_and_bindable() {
        for _ in 0..20 {
            let port = free_port();
            assert!(RANGE.contains(&port), "{port}");
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        }
    }
}
