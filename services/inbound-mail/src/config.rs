//! inbound-mail's settings, from environment variables (README.md, "Configuration").
//! Defaults work for the all-in-one.

use std::net::SocketAddr;
use std::time::Duration;

use conversations_web::settings::Settings;

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

pub use conversations_web::settings::ConfigError;

impl InboundConfig {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Settings::new(lookup);
        let required = |name: &str| -> Result<String, ConfigError> {
            env.secret(name, 32)?.ok_or_else(|| {
                ConfigError(format!(
                    "{name} is required (the same ≥ 32 characters as conversation-api's)"
                ))
            })
        };
        Ok(Self {
            rate_limits: conversations_web::RateLimitConfig::from_lookup(&|name: &str| {
                env.text(name)
            })
            .map_err(|e| ConfigError(e.to_string()))?,
            database_url: conversations_web::SecretUrl::new(
                env.database_url("INBOUND_DATABASE_URL", "inbound.db"),
            ),
            pool_size: env.parse_or("INBOUND_DATABASE_POOL_SIZE", 8)?,
            http_addr: env.parse_or("INBOUND_HTTP_ADDR", ([127, 0, 0, 1], 8083).into())?,
            inbound_secret: env.text("INBOUND_SECRET").map(secrecy::SecretString::from),
            mailgun_signing_key: env
                .text("MAILGUN_SIGNING_KEY")
                .map(secrecy::SecretString::from),
            max_bytes: env.parse_or("INBOUND_MAX_BYTES", 25 * 1024 * 1024)?,
            reply_domain: env.text_or("REPLY_DOMAIN", "reply.localhost"),
            reply_secret: secrecy::SecretSlice::from(required("REPLY_SECRET")?.into_bytes()),
            conversation_api_url: env.text_or("CONVERSATION_API_URL", "http://127.0.0.1:8080"),
            internal_token: secrecy::SecretString::from(required("INTERNAL_TOKEN")?),
            api_timeout: env.millis("CONVERSATION_API_TIMEOUT_MS", 10_000)?,
            authserv_id: env.text("INBOUND_AUTHSERV_ID"),
            loop_limit: env.parse_or("INBOUND_LOOP_LIMIT", 20)?,
            loop_window: env.secs("INBOUND_LOOP_WINDOW_SECS", 600, 0)?,
            transient_limit: env.parse_or::<i64>("BOUNCE_TRANSIENT_LIMIT", 3)?.max(1),
            bounce_window: env.days("BOUNCE_WINDOW_DAYS", 7)?,
            retention: env.days("INBOUND_RETENTION_DAYS", 30)?,
            prune_interval: env.secs("PRUNE_INTERVAL_SECS", 3600, 1)?,
            amqp_url: env.text("AMQP_URL").map(conversations_web::SecretUrl::new),
            amqp_exchange: env.text_or("AMQP_EXCHANGE", conversations_bus::DEFAULT_EXCHANGE),
            queue: env.text_or("INBOUND_QUEUE", "inbound-mail"),
            delivery_limit: env.parse_or("INBOUND_DELIVERY_LIMIT", 5)?,
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
