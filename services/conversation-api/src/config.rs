//! Typed configuration from environment variables. Every default suits the all-in-one
//! mode; README.md ("Configuration") documents each variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};

/// Settings of conversation-api (and of the all-in-one binary that embeds it).
#[derive(Debug)]
pub struct Config {
    /// `DATABASE_URL`: `postgres://…` or `sqlite://path`. Default `sqlite://./data/conversations.db`.
    pub database_url: conversations_web::SecretUrl,
    /// `DATABASE_POOL_SIZE`: connections in the pool. Default 10.
    pub database_pool_size: u32,
    /// `AMQP_URL`: RabbitMQ; unset means the in-process bus (all-in-one).
    pub amqp_url: Option<conversations_web::SecretUrl>,
    /// `AMQP_EXCHANGE`: the topic exchange events go to. Default `conversations.events`.
    pub amqp_exchange: String,
    /// `HTTP_ADDR`: where to listen. Default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
    /// `PUBLIC_URL`: how integrators and mail recipients reach us. Default `http://HTTP_ADDR`.
    pub public_url: String,
    /// `REPLY_DOMAIN`: domain of reply addresses. Default `reply.localhost`.
    pub reply_domain: String,
    /// `REPLY_SECRET`: HMAC key of reply addresses (≥ 32 characters). Required with
    /// PostgreSQL; on SQLite, generated once into `reply-secret` beside the database.
    pub reply_secret: SecretBox<Vec<u8>>,
    /// `TOKEN_SECRET`: HMAC key of participant tokens (≥ 32 characters), shared with
    /// metadata-query. On SQLite, generated once into `token-secret` beside the database;
    /// with PostgreSQL and unset, participant tokens are disabled.
    pub token_secret: Option<SecretBox<Vec<u8>>>,
    /// `FEED_TOKEN`: bearer token of the internal event feed
    /// (`GET /internal/v1/events`) new metadata-query replicas catch up from; unset
    /// disables the feed.
    pub feed_token: Option<secrecy::SecretString>,
    /// `INTERNAL_TOKEN`: bearer token (≥ 32 characters) of the internal routes
    /// inbound-mail calls (`/internal/v1/reply-targets`, `…/email-replies`,
    /// `/internal/v1/keys/verify`); unset disables them. The all-in-one sets one itself.
    pub internal_token: Option<secrecy::SecretString>,
    /// `SMTP_URL`: read for the notifier; conversation-api itself sends no mail.
    pub smtp_url: Option<conversations_web::SecretUrl>,
    /// `MAX_BODY_BYTES`: largest accepted request body. Default 262144 (256 KiB).
    pub max_body_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS`: origins whose pages may call the API from a browser
    /// (comma-separated, exact). Default none.
    pub cors_allowed_origins: conversations_web::AllowedOrigins,
    /// `FEED_RETENTION_DAYS`: published outbox events older than this are deleted (a
    /// metadata-query replica further behind rebuilds from the snapshot). Default 7; 0
    /// prunes whatever is published.
    pub feed_retention: std::time::Duration,
    /// `IDEMPOTENCY_RETENTION_HOURS`: how long a stored response answers a retried request
    /// with the same `Idempotency-Key`. Default 24.
    pub idempotency_retention: std::time::Duration,
    /// `PRUNE_INTERVAL_SECS`: how often both are pruned. Default 3600.
    pub prune_interval: std::time::Duration,
    /// Rate limits (`RATE_LIMIT_PER_KEY`, `RATE_LIMIT_PER_TOKEN`, `RATE_LIMIT_PER_ADDRESS`,
    /// `RATE_LIMIT_TRUST_FORWARDED`) and where their state lives (`REDIS_URL`).
    pub rate_limits: conversations_web::RateLimitConfig,
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database_url =
            lookup("DATABASE_URL").unwrap_or_else(|| "sqlite://./data/conversations.db".to_owned());
        let http_addr: SocketAddr = lookup("HTTP_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            .parse()
            .map_err(|e| ConfigError(format!("HTTP_ADDR: {e}")))?;
        let public_url = lookup("PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{http_addr}"))
            .trim_end_matches('/')
            .to_owned();
        let reply_secret = match lookup("REPLY_SECRET") {
            Some(secret) if secret.len() >= 32 => secret.into_bytes(),
            Some(_) => {
                return Err(ConfigError(
                    "REPLY_SECRET must be at least 32 characters".into(),
                ));
            }
            None => default_secret(&database_url, "reply-secret")?.ok_or_else(|| {
                ConfigError(
                    "REPLY_SECRET is required (at least 32 random characters) with PostgreSQL"
                        .into(),
                )
            })?,
        };
        let token_secret = match lookup("TOKEN_SECRET") {
            Some(secret) if secret.len() >= 32 => Some(secret.into_bytes()),
            Some(_) => {
                return Err(ConfigError(
                    "TOKEN_SECRET must be at least 32 characters".into(),
                ));
            }
            None => default_secret(&database_url, "token-secret")?,
        };
        let feed_token = match lookup("FEED_TOKEN") {
            Some(token) if token.len() < 32 => {
                return Err(ConfigError(
                    "FEED_TOKEN must be at least 32 characters".into(),
                ));
            }
            other => other,
        };
        let internal_token = match lookup("INTERNAL_TOKEN") {
            Some(token) if token.len() < 32 => {
                return Err(ConfigError(
                    "INTERNAL_TOKEN must be at least 32 characters".into(),
                ));
            }
            other => other,
        };
        Ok(Self {
            internal_token: internal_token.map(secrecy::SecretString::from),
            database_pool_size: parse_or(&lookup, "DATABASE_POOL_SIZE", 10)?,
            amqp_url: lookup("AMQP_URL").map(conversations_web::SecretUrl::new),
            amqp_exchange: lookup("AMQP_EXCHANGE")
                .unwrap_or_else(|| "conversations.events".to_owned()),
            http_addr,
            public_url,
            reply_domain: lookup("REPLY_DOMAIN").unwrap_or_else(|| "reply.localhost".to_owned()),
            reply_secret: SecretBox::new(Box::new(reply_secret)),
            token_secret: token_secret.map(|s| SecretBox::new(Box::new(s))),
            feed_token: feed_token.map(secrecy::SecretString::from),
            smtp_url: lookup("SMTP_URL").map(conversations_web::SecretUrl::new),
            max_body_bytes: parse_or(&lookup, "MAX_BODY_BYTES", 256 * 1024)?,
            cors_allowed_origins: conversations_web::AllowedOrigins::parse(
                lookup("CORS_ALLOWED_ORIGINS").as_deref(),
            )
            .map_err(|e| ConfigError(e.to_string()))?,
            feed_retention: std::time::Duration::from_secs(
                parse_or::<u64>(&lookup, "FEED_RETENTION_DAYS", 7)?.saturating_mul(86_400),
            ),
            idempotency_retention: std::time::Duration::from_secs(
                parse_or::<u64>(&lookup, "IDEMPOTENCY_RETENTION_HOURS", 24)?.saturating_mul(3600),
            ),
            prune_interval: std::time::Duration::from_secs(
                parse_or::<u64>(&lookup, "PRUNE_INTERVAL_SECS", 3600)?.max(1),
            ),
            rate_limits: conversations_web::RateLimitConfig::from_lookup(&lookup)
                .map_err(|e| ConfigError(e.to_string()))?,
            database_url: conversations_web::SecretUrl::new(database_url),
        })
    }

    /// The reply-address secret, for building the codec.
    pub fn reply_secret_bytes(&self) -> &[u8] {
        self.reply_secret.expose_secret()
    }

    /// The participant-token secret, when tokens are enabled.
    pub fn token_secret_bytes(&self) -> Option<&[u8]> {
        self.token_secret
            .as_ref()
            .map(|s| s.expose_secret().as_slice())
    }
}

fn parse_or<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match lookup(name) {
        Some(raw) => raw.parse().map_err(|e| ConfigError(format!("{name}: {e}"))),
        None => Ok(default),
    }
}

/// On SQLite a secret lives in a file (`reply-secret`, `token-secret`) beside the database,
/// created on first start, so addresses and tokens stay valid across restarts without any
/// setup. `None` on PostgreSQL, where the operator must set it.
fn default_secret(database_url: &str, name: &str) -> Result<Option<Vec<u8>>, ConfigError> {
    let Some(path) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    else {
        return Ok(None);
    };
    let dir = PathBuf::from(path)
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let file = dir.join(name);
    if let Ok(existing) = std::fs::read(&file)
        && existing.len() >= 32
    {
        return Ok(Some(existing));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let encoded = data_encoding::HEXLOWER.encode(&secret).into_bytes();
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| ConfigError(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(&file, &encoded)
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", file.display())))?;
    Ok(Some(encoded))
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_secret_shows_when_the_configuration_is_formatted() {
        let env = std::collections::HashMap::from([
            ("DATABASE_URL", "postgres://app:PASSWORD-db@db:5432/conv"),
            ("AMQP_URL", "amqp://guest:PASSWORD-mq@mq:5672/%2f"),
            ("REDIS_URL", "redis://:PASSWORD-redis@redis:6379"),
            ("SMTP_URL", "smtp://mailer:PASSWORD-smtp@mx:25"),
            ("REPLY_SECRET", "SECRET-reply-0123456789abcdef0123456789"),
            ("TOKEN_SECRET", "SECRET-token-0123456789abcdef0123456789"),
            ("FEED_TOKEN", "SECRET-feed-0123456789abcdef0123456789"),
            (
                "INTERNAL_TOKEN",
                "SECRET-internal-0123456789abcdef0123456789",
            ),
        ]);
        let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-"), "{shown}");
        assert!(!shown.contains("PASSWORD-"), "{shown}");
    }

    use std::collections::HashMap;

    use super::*;

    #[test]
    fn postgres_without_a_reply_secret_is_refused() {
        let env = HashMap::from([("DATABASE_URL", "postgres://localhost/x")]);
        let err = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(err.0.contains("REPLY_SECRET"));
    }

    #[test]
    fn secrets_shorter_than_32_characters_are_refused() {
        for key in ["REPLY_SECRET", "TOKEN_SECRET", "FEED_TOKEN"] {
            let env = HashMap::from([
                ("DATABASE_URL", "postgres://localhost/x"),
                ("REPLY_SECRET", "0123456789abcdef0123456789abcdef"),
                (key, "too short"),
            ]);
            let err = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
            assert!(err.0.contains(key), "{key}: {}", err.0);
        }
    }

    #[test]
    fn sqlite_generates_and_keeps_a_reply_secret() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/db.sqlite", dir.path().display());
        let env = HashMap::from([("DATABASE_URL", url.as_str())]);
        let first = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let second = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(first.reply_secret_bytes(), second.reply_secret_bytes());
        let token_secret = first
            .token_secret_bytes()
            .expect("SQLite generates a token secret");
        assert!(token_secret.len() >= 32);
        assert!(dir.path().join("token-secret").exists());
        assert_eq!(Some(token_secret), second.token_secret_bytes());
        assert_ne!(token_secret, first.reply_secret_bytes());
        assert_eq!(first.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(first.public_url, "http://127.0.0.1:8080");
    }
}
