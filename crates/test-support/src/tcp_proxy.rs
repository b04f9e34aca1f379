//! A TCP forwarder the test owns, in front of a real server (RabbitMQ): cutting it kills
//! every connection through it at once, and starting it late plays "server unreachable".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards a local port to `upstream`; dropping or cutting it kills every connection.
pub struct TcpProxy {
    port: u16,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1, outside the ephemeral range (see
    /// [`crate::ports`]), so that after a [`TcpProxy::stop`] no outgoing connection has
    /// taken it when the proxy starts on it again.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start_on(crate::free_port(), upstream).await
    }

    /// Listens on `port` of 127.0.0.1 (again, after [`TcpProxy::stop`]).
    pub async fn start_on(port: u16, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(task);
            }
        });
        Ok(Self {
            port,
            accept,
            connections,
        })
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills every open connection; new ones are still accepted.
    pub fn cut(&self) {
        for task in self
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// RabbitMQ's address from an AMQP URL (`amqp://user:pass@host:port/vhost`), for a proxy.
pub fn amqp_addr(url: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://")?.1;
    let host_port = rest.split('/').next()?;
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    with_port.to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_urls_name_the_broker() {
        assert_eq!(
            amqp_addr("amqp://guest:guest@127.0.0.1:5672/%2f"),
            Some("127.0.0.1:5672".parse().unwrap())
        );
        assert_eq!(
            amqp_addr("amqp://127.0.0.1/%2f"),
            Some("127.0.0.1:5672".parse().unwrap())
        );
    }
}
