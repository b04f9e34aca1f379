//! inbound-mail's settings, from environment variables (README.md, "Configuration").
//! Defaults work for the all-in-one.

use std::net::SocketAddr;
use std::time::Duration;

/// Settings of the inbound-mail service.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    /// `INBOUND_DATABASE_URL`: inbound-mail's own database (the incoming log, bounces,
    /// suppressions, its outbox). Default: `inbound.db` beside a SQLite `DATABASE_URL`,
    /// or the same PostgreSQL database (tables prefixed `im_`).
    pub database_url: conversations_web::SecretUrl,
    /// `INBOUND_DATABASE_POOL_SIZE`. Default 8.
    pub pool_size: u32,
    /// `INBOUND_HTTP_ADDR`: where `inbound-mail serve` listens (the all-in-one serves the
    /// routes on its own port instead). Default `127.0.0.1:8083`.
    pub http_addr: SocketAddr,
    /// `INBOUND_SECRET`: bearer token `POST /inbound/mail` requires; unset, only loopback
    /// callers are accepted.
    pub inbound_secret: Option<secrecy::SecretString>,
    /// `MAILGUN_SIGNING_KEY`: verifies Mailgun's `timestamp`/`token`/`signature` fields.
    pub mailgun_signing_key: Option<secrecy::SecretString>,
    /// `INBOUND_MAX_BYTES`: the largest mail accepted. Default 26214400 (25 MiB).
    pub max_bytes: usize,
    /// `REPLY_DOMAIN`: the domain of reply and bounce addresses. Default `reply.localhost`.
    pub reply_domain: String,
    /// `REPLY_SECRET`: the same secret as conversation-api's and the notifier's.
    pub reply_secret: secrecy::SecretSlice<u8>,
    /// `CONVERSATION_API_URL`: where conversation-api's internal routes are. Default
    /// `http://127.0.0.1:8080`.
    pub conversation_api_url: String,
    /// `INTERNAL_TOKEN`: conversation-api's internal token.
    pub internal_token: secrecy::SecretString,
    /// `CONVERSATION_API_TIMEOUT_MS`: per call. Default 10000.
    pub api_timeout: Duration,
    /// `INBOUND_AUTHSERV_ID`: our MTA's `Authentication-Results` id; a `dmarc=fail` from
    /// it holds the mail.
    pub authserv_id: Option<String>,
    /// `INBOUND_LOOP_LIMIT`: mails from one sender to one conversation within the loop
    /// window before further ones are refused. Default 20.
    pub loop_limit: i64,
    /// `INBOUND_LOOP_WINDOW_SECS`: default 600.
    pub loop_window: Duration,
    /// `BOUNCE_TRANSIENT_LIMIT`: transient bounces within the window that suppress an
    /// address. Default 3.
    pub transient_limit: i64,
    /// `BOUNCE_WINDOW_DAYS`: default 7.
    pub bounce_window: Duration,
    /// `INBOUND_RETENTION_DAYS`: raw mails are kept this long. Default 30.
    pub retention: Duration,
    /// `PRUNE_INTERVAL_SECS`: how often old raw mails are dropped. Default 3600.
    pub prune_interval: Duration,
    /// `AMQP_URL`: RabbitMQ, for the suppression events; unset in the all-in-one.
    pub amqp_url: Option<conversations_web::SecretUrl>,
    /// `AMQP_EXCHANGE`: default `conversations.events`.
    pub amqp_exchange: String,
    /// `INBOUND_QUEUE`: inbound-mail's durable queue (it hears of deleted conversations
    /// on it). Default `inbound-mail`; its dead-letter queue is `<queue>.dead-letter`.
    pub queue: String,
    /// `INBOUND_DELIVERY_LIMIT`: redeliveries before an event is dead-lettered. Default 5.
    pub delivery_limit: u32,
    /// Rate limits (`RATE_LIMIT_PER_KEY`, `RATE_LIMIT_PER_TOKEN`, `RATE_LIMIT_PER_ADDRESS`,
    /// `RATE_LIMIT_TRUST_FORWARDED`) and where their state lives (`REDIS_URL`).
    pub rate_limits: conversations_web::RateLimitConfig,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl InboundConfig {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name: &str, default: u64| -> Result<u64, ConfigError> {
            lookup(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse()
                    .map_err(|e| ConfigError(format!("{name}: {e}")))
            })
        };
        let database_url = lookup("INBOUND_DATABASE_URL").unwrap_or_else(|| {
            let shared = lookup("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://./data/conversations.db".to_owned());
            conversations_db::own_database_url(&shared, "inbound.db")
        });
        let reply_secret = match lookup("REPLY_SECRET") {
            Some(secret) if secret.len() >= 32 => secret.into_bytes(),
            _ => {
                return Err(ConfigError(
                    "REPLY_SECRET is required (the same ≥ 32 characters as conversation-api's)"
                        .into(),
                ));
            }
        };
        let internal_token = match lookup("INTERNAL_TOKEN") {
            Some(token) if token.len() >= 32 => token,
            _ => {
                return Err(ConfigError(
                    "INTERNAL_TOKEN is required (the same ≥ 32 characters as conversation-api's)"
                        .into(),
                ));
            }
        };
        let secs = |name: &str, default: u64| number(name, default).map(Duration::from_secs);
        Ok(Self {
            rate_limits: conversations_web::RateLimitConfig::from_lookup(&lookup)
                .map_err(|e| ConfigError(e.to_string()))?,
            database_url: conversations_web::SecretUrl::new(database_url),
            pool_size: u32::try_from(number("INBOUND_DATABASE_POOL_SIZE", 8)?).unwrap_or(8),
            http_addr: lookup("INBOUND_HTTP_ADDR")
                .unwrap_or_else(|| "127.0.0.1:8083".to_owned())
                .parse()
                .map_err(|e| ConfigError(format!("INBOUND_HTTP_ADDR: {e}")))?,
            inbound_secret: lookup("INBOUND_SECRET").map(secrecy::SecretString::from),
            mailgun_signing_key: lookup("MAILGUN_SIGNING_KEY").map(secrecy::SecretString::from),
            max_bytes: usize::try_from(number("INBOUND_MAX_BYTES", 25 * 1024 * 1024)?)
                .unwrap_or(usize::MAX),
            reply_domain: lookup("REPLY_DOMAIN").unwrap_or_else(|| "reply.localhost".to_owned()),
            reply_secret: secrecy::SecretSlice::from(reply_secret),
            conversation_api_url: lookup("CONVERSATION_API_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned()),
            internal_token: secrecy::SecretString::from(internal_token),
            api_timeout: Duration::from_millis(number("CONVERSATION_API_TIMEOUT_MS", 10_000)?),
            authserv_id: lookup("INBOUND_AUTHSERV_ID"),
            loop_limit: i64::try_from(number("INBOUND_LOOP_LIMIT", 20)?).unwrap_or(i64::MAX),
            loop_window: secs("INBOUND_LOOP_WINDOW_SECS", 600)?,
            transient_limit: i64::try_from(number("BOUNCE_TRANSIENT_LIMIT", 3)?)
                .unwrap_or(i64::MAX)
                .max(1),
            bounce_window: secs("BOUNCE_WINDOW_DAYS", 7)?.saturating_mul(86_400),
            retention: secs("INBOUND_RETENTION_DAYS", 30)?.saturating_mul(86_400),
            prune_interval: secs("PRUNE_INTERVAL_SECS", 3600)?.max(Duration::from_secs(1)),
            amqp_url: lookup("AMQP_URL").map(conversations_web::SecretUrl::new),
            amqp_exchange: lookup("AMQP_EXCHANGE")
                .unwrap_or_else(|| "conversations.events".to_owned()),
            queue: lookup("INBOUND_QUEUE").unwrap_or_else(|| "inbound-mail".to_owned()),
            delivery_limit: u32::try_from(number("INBOUND_DELIVERY_LIMIT", 5)?).unwrap_or(5),
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
            ("REDIS_URL", "redis://:PASSWORD-redis@redis:6379"),
            ("SMTP_URL", "smtp://mailer:PASSWORD-smtp@mx:25"),
            (
                "INBOUND_DATABASE_URL",
                "postgres://im:PASSWORD-imdb@db/inbound",
            ),
            ("REPLY_SECRET", "SECRET-reply-0123456789abcdef0123456789"),
            (
                "INTERNAL_TOKEN",
                "SECRET-internal-0123456789abcdef0123456789",
            ),
            (
                "INBOUND_SECRET",
                "SECRET-inbound-0123456789abcdef0123456789",
            ),
            ("MAILGUN_SIGNING_KEY", "SECRET-mailgun-0123456789abcdef"),
        ]);
        let config = InboundConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-"), "{shown}");
        assert!(!shown.contains("PASSWORD-"), "{shown}");
    }
}
