//! Typed configuration from environment variables; defaults suit the all-in-one mode.
//! README.md ("Configuration", metadata-query) documents each variable.

use std::net::SocketAddr;

use conversations_web::settings::Settings;

/// Settings of metadata-query.
#[derive(Debug, Clone)]
pub struct MetadataConfig {
    /// `METADATA_DATABASE_URL`: the projection's own database. Default: `metadata.db`
    /// beside a SQLite `DATABASE_URL`, or the same PostgreSQL database (its tables are
    /// prefixed `mq_`).
    pub database_url: conversations_web::SecretUrl,
    /// `METADATA_DATABASE_POOL_SIZE`: connections. Default 10.
    pub pool_size: u32,
    /// `METADATA_HTTP_ADDR`: where the standalone service listens. Default `127.0.0.1:8081`.
    pub http_addr: SocketAddr,
    /// `PUBLIC_URL`: base of the links in responses. Default `http://METADATA_HTTP_ADDR`.
    pub public_url: String,
    /// `AMQP_URL`: RabbitMQ; unset means the in-process bus (all-in-one).
    pub amqp_url: Option<conversations_web::SecretUrl>,
    /// `AMQP_EXCHANGE`: the events exchange. Default `conversations.events`.
    pub exchange: String,
    /// `METADATA_QUEUE`: this projection's durable queue; one per projection database.
    /// Default `metadata-query`.
    pub queue: String,
    /// `METADATA_DELIVERY_LIMIT`: deliveries before an event is dead-lettered. Default 5.
    pub delivery_limit: u32,
    /// `METADATA_BATCH_SIZE`: events applied per transaction at most. Default 256.
    pub batch_size: usize,
    /// `TOKEN_SECRET`: verifies participant tokens (shared with conversation-api); unset
    /// means only API keys are accepted.
    pub token_secret: Option<secrecy::SecretSlice<u8>>,
    /// The key of contact ids: `CONTACT_ID_SECRET` (at least 32 characters), else one
    /// derived from `TOKEN_SECRET` (which every replica shares anyway), else none: then the
    /// projection makes its own and keeps it in its database (enough for replicas sharing
    /// the database, and without tokens nobody but the application sees contact ids).
    pub contact_id_secret: Option<secrecy::SecretSlice<u8>>,
    /// `CORS_ALLOWED_ORIGINS`: origins whose pages may call the API from a browser
    /// (comma-separated, exact; the same as conversation-api's). Default none.
    pub cors_allowed_origins: conversations_web::AllowedOrigins,
    /// Rate limits (`RATE_LIMIT_PER_KEY`, `RATE_LIMIT_PER_TOKEN`, `RATE_LIMIT_PER_ADDRESS`,
    /// `RATE_LIMIT_TRUST_FORWARDED`) and where their state lives (`REDIS_URL`).
    pub rate_limits: conversations_web::RateLimitConfig,
    /// `FEED_URL`: conversation-api's base URL, to catch up from its event feed when
    /// starting. Unset: no catch-up (a replica then only sees events from now on).
    pub feed_url: Option<String>,
    /// `FEED_TOKEN`: bearer token of the feed.
    pub feed_token: Option<secrecy::SecretString>,
}

/// The contact-id key derived from `TOKEN_SECRET`: HMAC-SHA-256 with a purpose label, so
/// the token key itself is used for nothing else. Rotating `TOKEN_SECRET` then changes
/// contact ids (the projection re-keys them at the next start); set `CONTACT_ID_SECRET` to
/// keep them apart.
fn contact_key_from_token_secret(token_secret: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    match Hmac::<sha2::Sha256>::new_from_slice(token_secret) {
        Ok(mut mac) => {
            mac.update(b"conversations contact ids v1");
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes a key of any length: not reached.
        Err(_) => token_secret.to_vec(),
    }
}

pub use conversations_web::settings::ConfigError;

impl MetadataConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Settings::new(lookup);
        let database_url = env.database_url("METADATA_DATABASE_URL", "metadata.db");
        let http_addr: SocketAddr =
            env.parse_or("METADATA_HTTP_ADDR", ([127, 0, 0, 1], 8081).into())?;
        let token_secret = env.secret("TOKEN_SECRET", 32)?.map(String::into_bytes);
        let contact_id_secret = match env.secret("CONTACT_ID_SECRET", 32)? {
            Some(secret) => Some(secret.into_bytes()),
            None => token_secret.as_deref().map(contact_key_from_token_secret),
        };
        let batch_size: usize = env.parse_or("METADATA_BATCH_SIZE", 256)?;
        if batch_size == 0 || batch_size > 10_000 {
            return Err(ConfigError("METADATA_BATCH_SIZE is 1 to 10000".into()));
        }
        Ok(Self {
            database_url: conversations_web::SecretUrl::new(database_url),
            pool_size: env.parse_or("METADATA_DATABASE_POOL_SIZE", 10)?,
            public_url: env
                .text("PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{http_addr}"))
                .trim_end_matches('/')
                .to_owned(),
            http_addr,
            amqp_url: env.text("AMQP_URL").map(conversations_web::SecretUrl::new),
            exchange: env.text_or("AMQP_EXCHANGE", conversations_bus::DEFAULT_EXCHANGE),
            queue: env.text_or("METADATA_QUEUE", "metadata-query"),
            delivery_limit: env.parse_or("METADATA_DELIVERY_LIMIT", 5)?,
            batch_size,
            token_secret: token_secret.map(secrecy::SecretSlice::from),
            contact_id_secret: contact_id_secret.map(secrecy::SecretSlice::from),
            cors_allowed_origins: conversations_web::AllowedOrigins::parse(
                env.text("CORS_ALLOWED_ORIGINS").as_deref(),
            )
            .map_err(|e| ConfigError(e.to_string()))?,
            feed_url: env
                .text("FEED_URL")
                .map(|u| u.trim_end_matches('/').to_owned()),
            feed_token: env.text("FEED_TOKEN").map(secrecy::SecretString::from),
            rate_limits: conversations_web::RateLimitConfig::from_lookup(&|name: &str| {
                env.text(name)
            })
            .map_err(|e| ConfigError(e.to_string()))?,
        })
    }
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
            (
                "METADATA_DATABASE_URL",
                "postgres://mq:PASSWORD-mqdb@db/inbox",
            ),
            ("TOKEN_SECRET", "SECRET-token-0123456789abcdef0123456789"),
            (
                "CONTACT_ID_SECRET",
                "SECRET-contact-0123456789abcdef0123456789",
            ),
            ("FEED_TOKEN", "SECRET-feed-0123456789abcdef0123456789"),
        ]);
        let config = MetadataConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-"), "{shown}");
        assert!(!shown.contains("PASSWORD-"), "{shown}");
    }

    use std::collections::HashMap;

    use super::*;

    fn config(env: &[(&str, &str)]) -> Result<MetadataConfig, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MetadataConfig::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn the_projection_lives_beside_a_sqlite_database_or_in_the_same_postgres() {
        assert_eq!(
            config(&[]).unwrap().database_url.expose(),
            "sqlite://./data/metadata.db"
        );
        assert_eq!(
            config(&[("DATABASE_URL", "postgres://db/conv")])
                .unwrap()
                .database_url
                .expose(),
            "postgres://db/conv"
        );
        assert_eq!(
            config(&[("METADATA_DATABASE_URL", "postgres://db/inbox")])
                .unwrap()
                .database_url
                .expose(),
            "postgres://db/inbox"
        );
    }

    #[test]
    fn the_contact_id_key_is_set_or_derived_from_the_token_secret() {
        let token = "a-token-secret-of-at-least-32-characters";
        use secrecy::ExposeSecret;
        assert!(config(&[]).unwrap().contact_id_secret.is_none());
        let derived = config(&[("TOKEN_SECRET", token)])
            .unwrap()
            .contact_id_secret
            .unwrap();
        assert_ne!(
            derived.expose_secret(),
            token.as_bytes(),
            "not the token key itself"
        );
        let set = "a-contact-id-secret-of-32-characters-at-least";
        assert_eq!(
            config(&[("TOKEN_SECRET", token), ("CONTACT_ID_SECRET", set)])
                .unwrap()
                .contact_id_secret
                .unwrap()
                .expose_secret(),
            set.as_bytes()
        );
        assert!(config(&[("CONTACT_ID_SECRET", "short")]).is_err());
    }

    #[test]
    fn short_token_secrets_and_absurd_batches_are_refused() {
        assert!(config(&[("TOKEN_SECRET", "short")]).is_err());
        assert!(config(&[("METADATA_BATCH_SIZE", "0")]).is_err());
        assert!(config(&[("METADATA_QUEUE", "mq-2")]).unwrap().queue == "mq-2");
    }
}
