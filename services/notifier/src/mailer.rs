//! Handing rendered mail to the world: SMTP over a pool of connections, or `.eml` files.
//!
//! lettre 0.11 does not set `TCP_NODELAY` and writes the message body and the final dot in
//! separate writes, so every mail waited for the receiver's delayed ACK (~23 mails/s per
//! connection). We open the TCP socket ourselves with `TCP_NODELAY` and hand it to lettre,
//! and keep several connections busy at once.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

use crate::config::NotifierConfig;

/// How a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (4xx, connection refused, timeout).
    #[error("{0}")]
    Transient(String),
    /// Never going to work (5xx).
    #[error("{0}")]
    Permanent(String),
}

/// Where mail goes.
#[derive(Debug)]
pub enum Mailer {
    /// An SMTP server.
    Smtp(SmtpPool),
    /// One `.eml` file per mail in this folder (all-in-one without `SMTP_URL`).
    Files(PathBuf),
}

impl Mailer {
    /// From `SMTP_URL` / `MAIL_DIR`.
    pub fn from_config(config: &NotifierConfig) -> anyhow::Result<Self> {
        match &config.smtp_url {
            Some(url) => Ok(Self::Smtp(SmtpPool::from_url(
                url,
                config.smtp_connections,
                &config.reply_domain,
            )?)),
            None => Ok(Self::Files(config.mail_dir.clone())),
        }
    }

    /// Sends one message to one recipient; returns the server's reply.
    pub async fn send(
        &self,
        id: &str,
        from: &str,
        to: &str,
        raw: &[u8],
    ) -> Result<String, SendError> {
        match self {
            Self::Smtp(pool) => pool.send(from, to, raw).await,
            Self::Files(dir) => {
                let io = |e: std::io::Error| {
                    SendError::Transient(format!("cannot write mail file: {e}"))
                };
                tokio::fs::create_dir_all(dir).await.map_err(io)?;
                let name: String = id
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                let path = dir.join(format!("{name}.eml"));
                let mut content =
                    format!("Return-Path: <{from}>\r\nX-Original-To: {to}\r\n").into_bytes();
                content.extend_from_slice(raw);
                tokio::fs::write(&path, content).await.map_err(io)?;
                Ok(format!("written to {}", path.display()))
            }
        }
    }
}

/// A bounded pool of SMTP connections with `TCP_NODELAY`.
pub struct SmtpPool {
    host: String,
    port: u16,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    timeout: Duration,
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SmtpPool {
    /// `smtp://host[:port]` (port 25 by default), at most `connections` at once.
    pub fn from_url(url: &str, connections: usize, hello_domain: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| anyhow::anyhow!("SMTP_URL must look like smtp://host:port"))?
            .trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse()
                    .map_err(|e| anyhow::anyhow!("SMTP_URL port: {e}"))?,
            ),
            None => (rest.to_owned(), 25),
        };
        if host.is_empty() || host.contains('@') {
            anyhow::bail!(
                "SMTP_URL must look like smtp://host:port (authentication is not supported yet)"
            );
        }
        Ok(Self {
            host,
            port,
            hello: ClientId::Domain(hello_domain.to_owned()),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(connections.max(1)),
            timeout: Duration::from_secs(30),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let transient = |e: String| SendError::Transient(e);
        let stream = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| {
            transient(format!(
                "connecting to {}:{} timed out",
                self.host, self.port
            ))
        })?
        .map_err(|e| {
            transient(format!(
                "cannot connect to {}:{}: {e}",
                self.host, self.port
            ))
        })?;
        stream
            .set_nodelay(true)
            .map_err(|e| transient(format!("cannot set TCP_NODELAY: {e}")))?;
        tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
        )
        .await
        .map_err(|_| transient("SMTP greeting timed out".into()))?
        .map_err(|e| classify(&e))
    }

    /// Sends over an idle connection (or a new one), at most `connections` at a time.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) -> Result<String, SendError> {
        // An empty sender is the null return path (`MAIL FROM:<>`) of rejection notices.
        let sender = if from.is_empty() {
            None
        } else {
            Some(
                from.parse()
                    .map_err(|e| SendError::Permanent(format!("bad sender {from}: {e}")))?,
            )
        };
        let envelope = Envelope::new(
            sender,
            vec![
                to.parse()
                    .map_err(|e| SendError::Permanent(format!("bad recipient {to}: {e}")))?,
            ],
        )
        .map_err(|e| SendError::Permanent(e.to_string()))?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Transient("mailer shutting down".into()))?;
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(conn) if !conn.has_broken() => conn,
            _ => self.connect().await?,
        };
        let sent = tokio::time::timeout(self.timeout, conn.send(&envelope, raw)).await;
        match sent {
            Ok(Ok(response)) => {
                let reply = format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                );
                self.idle.lock().await.push(conn);
                Ok(reply)
            }
            Ok(Err(e)) => {
                let error = classify(&e);
                // After a refused transaction the connection is reset before re-use.
                if !conn.has_broken()
                    && conn
                        .command(lettre::transport::smtp::commands::Rset)
                        .await
                        .is_ok()
                {
                    self.idle.lock().await.push(conn);
                }
                Err(error)
            }
            Err(_) => Err(SendError::Transient("SMTP send timed out".into())),
        }
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else {
        SendError::Transient(e.to_string())
    }
}
