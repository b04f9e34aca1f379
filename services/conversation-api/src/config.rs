//! Typed configuration from environment variables. Every default suits the all-in-one
//! mode; README.md ("Configuration") documents each variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use conversations_web::settings::{DEFAULT_DATABASE_URL, Settings};
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
    /// `SIGN_IN_SESSION_SECS`: lifetime of the participant token a notification's sign-in
    /// link is exchanged for (1 to 86400). Default 3600; the page asks for the link again
    /// after it.
    pub sign_in_session: std::time::Duration,
    /// Rate limits (`RATE_LIMIT_PER_KEY`, `RATE_LIMIT_PER_TOKEN`, `RATE_LIMIT_PER_ADDRESS`,
    /// `RATE_LIMIT_TRUST_FORWARDED`) and where their state lives (`REDIS_URL`).
    pub rate_limits: conversations_web::RateLimitConfig,
}

pub use conversations_web::settings::ConfigError;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Settings::new(lookup);
        let database_url = env.text_or("DATABASE_URL", DEFAULT_DATABASE_URL);
        let http_addr: SocketAddr = env.parse_or("HTTP_ADDR", ([127, 0, 0, 1], 8080).into())?;
        let public_url = env
            .text("PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{http_addr}"))
            .trim_end_matches('/')
            .to_owned();
        let reply_secret = match env.secret("REPLY_SECRET", 32)? {
            Some(secret) => secret.into_bytes(),
            None => default_secret(&database_url, "reply-secret")?.ok_or_else(|| {
                ConfigError(
                    "REPLY_SECRET is required (at least 32 random characters) with PostgreSQL"
                        .into(),
                )
            })?,
        };
        let token_secret = match env.secret("TOKEN_SECRET", 32)? {
            Some(secret) => Some(secret.into_bytes()),
            None => default_secret(&database_url, "token-secret")?,
        };
        Ok(Self {
            internal_token: env
                .secret("INTERNAL_TOKEN", 32)?
                .map(secrecy::SecretString::from),
            database_pool_size: env.parse_or("DATABASE_POOL_SIZE", 10)?,
            amqp_url: env.text("AMQP_URL").map(conversations_web::SecretUrl::new),
            amqp_exchange: env.text_or("AMQP_EXCHANGE", conversations_bus::DEFAULT_EXCHANGE),
            http_addr,
            public_url,
            reply_domain: env.text_or("REPLY_DOMAIN", "reply.localhost"),
            reply_secret: SecretBox::new(Box::new(reply_secret)),
            token_secret: token_secret.map(|s| SecretBox::new(Box::new(s))),
            feed_token: env
                .secret("FEED_TOKEN", 32)?
                .map(secrecy::SecretString::from),
            smtp_url: env.text("SMTP_URL").map(conversations_web::SecretUrl::new),
            max_body_bytes: env.parse_or("MAX_BODY_BYTES", 256 * 1024)?,
            cors_allowed_origins: conversations_web::AllowedOrigins::parse(
                env.text("CORS_ALLOWED_ORIGINS").as_deref(),
            )
            .map_err(|e| ConfigError(e.to_string()))?,
            feed_retention: env.days("FEED_RETENTION_DAYS", 7)?,
            idempotency_retention: std::time::Duration::from_secs(
                env.parse_or::<u64>("IDEMPOTENCY_RETENTION_HOURS", 24)?
                    .saturating_mul(3600),
            ),
            prune_interval: env.secs("PRUNE_INTERVAL_SECS", 3600, 1)?,
            sign_in_session: {
                let session = env.secs("SIGN_IN_SESSION_SECS", 3600, 1)?;
                if session.as_secs()
                    > conversations_domain::participant_token::MAX_TOKEN_TTL_SECONDS as u64
                {
                    return Err(ConfigError(
                        "SIGN_IN_SESSION_SECS is at most 86400 (a participant token lives a day at most)"
                            .into(),
                    ));
                }
                session
            },
            rate_limits: conversations_web::RateLimitConfig::from_lookup(&|name: &str| {
                env.text(name)
            })
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
