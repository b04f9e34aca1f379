//! The notifier's settings, from environment variables (README.md, "Configuration").

use std::path::PathBuf;
use std::time::Duration;

use conversations_web::settings::Settings;

/// Settings of the notifier.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// `NOTIFIER_DATABASE_URL`: the notifier's own database (deliveries, suppression list,
    /// its outbox). Default: `notifier.db` beside a SQLite `DATABASE_URL`, or the same
    /// PostgreSQL database (its tables are prefixed `nt_`).
    pub database_url: conversations_web::SecretUrl,
    /// `AMQP_URL`: RabbitMQ (standalone notifier).
    pub amqp_url: Option<conversations_web::SecretUrl>,
    /// `AMQP_EXCHANGE`: the events exchange. Default `conversations.events`.
    pub exchange: String,
    /// `NOTIFIER_QUEUE`: the notifier's durable queue. Default `notifier`; its dead-letter
    /// queue is `<queue>.dead-letter`.
    pub queue: String,
    /// `NOTIFIER_DELIVERY_LIMIT`: redeliveries before an event is dead-lettered. Default 5.
    pub delivery_limit: u32,
    /// `NOTIFIER_BATCH_SIZE`: events from the queue recorded in one transaction, at most
    /// (what has arrived; a lone event is not held back). 1 to 1000, default 64.
    pub batch_size: usize,
    /// `SMTP_URL`: `smtp://host:port`; unset means `.eml` files in `MAIL_DIR`.
    pub smtp_url: Option<conversations_web::SecretUrl>,
    /// `MAIL_DIR`: where mail goes without SMTP. Default `./data/mail`.
    pub mail_dir: PathBuf,
    /// `SMTP_CONNECTIONS`: SMTP connections (and sends in flight). Default 8.
    pub smtp_connections: usize,
    /// `REPLY_DOMAIN`: domain of reply, bounce and sender addresses.
    pub reply_domain: String,
    /// `REPLY_SECRET`: the same secret as conversation-api's.
    pub reply_secret: secrecy::SecretSlice<u8>,
    /// `PUBLIC_URL`: base of conversation links and unsubscribe URLs.
    pub public_url: String,
    /// `SIGN_IN_LINK_TTL_DAYS`: how long the sign-in link in a notification works. Default 7.
    pub link_ttl: Duration,
    /// `NOTIFIER_RETRY_BASE_MS`: first retry delay after a transient failure; doubles per
    /// attempt. Default 30000.
    pub retry_base: Duration,
    /// `NOTIFIER_MAX_ATTEMPTS`: attempts before a transient failure counts as failed. Default 10.
    pub max_attempts: u32,
    /// `NOTIFIER_CLAIM_TIMEOUT_SECS`: how long mails claimed by a sender stay its own; after
    /// a crash, the mails it had claimed are sent by another sender (or the restarted one)
    /// once this has passed. Longer than any SMTP transaction may take. Default 120.
    pub claim_timeout: Duration,
    /// `FEED_RETENTION_DAYS`: the notifier's published events are deleted from its outbox
    /// after this long. Default 7.
    pub feed_retention: Duration,
    /// `PRUNE_INTERVAL_SECS`: how often. Default 3600.
    pub prune_interval: Duration,
}

pub use conversations_web::settings::ConfigError;

impl NotifierConfig {
    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Settings::new(lookup);
        let http_addr = env.text_or("HTTP_ADDR", "127.0.0.1:8080");
        let reply_secret = env.secret("REPLY_SECRET", 32)?.ok_or_else(|| {
            ConfigError(
                "REPLY_SECRET (at least 32 characters, the same as conversation-api's) is required"
                    .into(),
            )
        })?;
        let link_ttl = env.days("SIGN_IN_LINK_TTL_DAYS", 7)?;
        if link_ttl.is_zero() {
            return Err(ConfigError(
                "SIGN_IN_LINK_TTL_DAYS is at least 1: a link must work for a while".into(),
            ));
        }
        Ok(Self {
            database_url: conversations_web::SecretUrl::new(
                env.database_url("NOTIFIER_DATABASE_URL", "notifier.db"),
            ),
            amqp_url: env.text("AMQP_URL").map(conversations_web::SecretUrl::new),
            exchange: env.text_or("AMQP_EXCHANGE", conversations_bus::DEFAULT_EXCHANGE),
            queue: env.text_or("NOTIFIER_QUEUE", "notifier"),
            delivery_limit: env.parse_or("NOTIFIER_DELIVERY_LIMIT", 5)?,
            batch_size: match env.parse_or::<usize>("NOTIFIER_BATCH_SIZE", 64)? {
                n @ 1..=1000 => n,
                _ => return Err(ConfigError("NOTIFIER_BATCH_SIZE is 1 to 1000".into())),
            },
            smtp_url: env.text("SMTP_URL").map(conversations_web::SecretUrl::new),
            mail_dir: PathBuf::from(env.text_or("MAIL_DIR", "./data/mail")),
            smtp_connections: env.parse_or::<usize>("SMTP_CONNECTIONS", 8)?.max(1),
            reply_domain: env.text_or("REPLY_DOMAIN", "reply.localhost"),
            reply_secret: secrecy::SecretSlice::from(reply_secret.into_bytes()),
            public_url: env
                .text("PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{http_addr}"))
                .trim_end_matches('/')
                .to_owned(),
            link_ttl,
            retry_base: env.millis("NOTIFIER_RETRY_BASE_MS", 30_000)?,
            max_attempts: env.parse_or::<u32>("NOTIFIER_MAX_ATTEMPTS", 10)?.max(1),
            claim_timeout: env.secs("NOTIFIER_CLAIM_TIMEOUT_SECS", 120, 1)?,
            feed_retention: env.days("FEED_RETENTION_DAYS", 7)?,
            prune_interval: env.secs("PRUNE_INTERVAL_SECS", 3600, 1)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_shows_when_the_configuration_is_formatted() {
        let env = std::collections::HashMap::from([
            ("DATABASE_URL", "postgres://app:PASSWORD-db@db:5432/conv"),
            ("AMQP_URL", "amqp://guest:PASSWORD-mq@mq:5672/%2f"),
            ("SMTP_URL", "smtp://mailer:PASSWORD-smtp@mx:25"),
            (
                "NOTIFIER_DATABASE_URL",
                "postgres://nt:PASSWORD-ntdb@db/notifier",
            ),
            ("REPLY_SECRET", "SECRET-reply-0123456789abcdef0123456789"),
        ]);
        let config = NotifierConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-"), "{shown}");
        assert!(!shown.contains("PASSWORD-"), "{shown}");
    }
}
