//! The all-in-one server's wiring, as a library so that its tests start exactly what the
//! binary starts: conversation-api with metadata-query's read API on the same port (one
//! OpenAPI document for both) and inbound-mail's intake and API, the notifier, and the bus between them: RabbitMQ when
//! `AMQP_URL` is set, otherwise none at all: the notifier and metadata-query read the
//! outboxes themselves, each from a position it records with what it did, so a crash, a
//! slow consumer or a burst loses nothing. Each service keeps its own database.

use std::net::TcpListener;
use std::sync::Arc;

use conversation_api::{Application, Config};
use conversations_bus::{AmqpConfig, AmqpSink, InProcessBus, Sink};
use conversations_store::Store;
use metadata_query::feed::{CONVERSATIONS_FEED, NOTIFIER_FEED};
use metadata_query::{Feed, MetadataConfig};
use notifier::{EventSource, Notifier, NotifierConfig, NotifierStore};

/// The running services; [`AllInOne::run_until_stopped`] serves until a signal.
pub struct AllInOne {
    app: Application,
    notifier: Notifier,
    metadata: metadata_query::Embedded,
    inbound: inbound_mail::InboundService,
    /// Where notification mail goes, and over which bus: for the start-up log line.
    pub description: String,
}

impl AllInOne {
    /// Starts every service from the settings `lookup` gives (the environment in the
    /// binary), serving HTTP on `listener`.
    pub async fn start(
        lookup: impl Fn(&str) -> Option<String>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        // inbound-mail calls conversation-api's internal routes over loopback, with a token
        // made for this process unless the operator set one.
        let internal_token = lookup("INTERNAL_TOKEN").unwrap_or_else(random_token);
        let lookup = move |name: &str| match name {
            "INTERNAL_TOKEN" => Some(internal_token.clone()),
            other => lookup(other),
        };
        let config = Config::from_lookup(&lookup)?;
        // The notifier shares the API's reply secret (generated beside the SQLite
        // database when REPLY_SECRET is not set).
        let secret = String::from_utf8(config.reply_secret_bytes().to_vec())
            .map_err(|_| anyhow::anyhow!("REPLY_SECRET must be text"))?;
        let notifier_config = NotifierConfig::from_lookup(|name| match name {
            "REPLY_SECRET" => Some(secret.clone()),
            other => lookup(other),
        })?;
        let token_secret = config
            .token_secret_bytes()
            .map(|s| String::from_utf8_lossy(s).into_owned());
        let public_url = config.public_url.clone();
        // Shown in the start-up line: the SMTP URL without its password.
        let mail = notifier_config.smtp_url.as_ref().map_or_else(
            || format!("files in {}", notifier_config.mail_dir.display()),
            conversations_web::SecretUrl::redacted,
        );
        // Each service its own database: metadata.db and notifier.db beside a SQLite one
        // (or their prefixed tables in the same PostgreSQL database).
        let metadata_config = MetadataConfig::from_lookup(|name| match name {
            "TOKEN_SECRET" => token_secret.clone(),
            "PUBLIC_URL" => Some(public_url.clone()),
            other => lookup(other),
        })?;
        let url = config.database_url.clone();
        let write_store = tokio::task::spawn_blocking(move || Store::open(&url, 2)).await??;
        let url = notifier_config.database_url.clone();
        let notifier_store =
            tokio::task::spawn_blocking(move || NotifierStore::open(&url, 4)).await??;
        let conversations_feed = Feed::Local {
            outbox: write_store.outbox(),
            checkpoint: CONVERSATIONS_FEED,
        };
        let (bus, notifier_source, notifier_sink, metadata_source, mode) = match &config.amqp_url {
            Some(url) => (
                None,
                EventSource::Amqp,
                Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
                    url: url.expose().to_owned(),
                    exchange: config.amqp_exchange.clone(),
                    connect_timeout: std::time::Duration::from_secs(10),
                }))),
                metadata_query::EventSource::Amqp,
                "RabbitMQ",
            ),
            None => {
                // No broker: every consumer reads the outboxes from the position it
                // records itself; the relays only announce that there is more to read.
                let bus = InProcessBus::new();
                let notifier_bus = InProcessBus::new();
                let outbox = write_store.outbox();
                // Set before any request is served: the notifier mails everything posted
                // from its first start on.
                let first = outbox.clone();
                let starting = notifier_store.clone();
                tokio::task::spawn_blocking(move || {
                    starting.feed_position_or_start_at(first.head()?)
                })
                .await??;
                let followed = vec![
                    (conversations_feed.clone(), bus.subscribe()),
                    (
                        Feed::Local {
                            outbox: notifier_store.outbox(),
                            checkpoint: NOTIFIER_FEED,
                        },
                        notifier_bus.subscribe(),
                    ),
                ];
                (
                    Some(bus.clone()),
                    EventSource::Outbox {
                        outbox,
                        head: bus.subscribe(),
                    },
                    Sink::InProcess(notifier_bus),
                    metadata_query::EventSource::InProcess(followed),
                    "in-process (outbox feeds)",
                )
            }
        };
        let own_url = {
            let addr = listener.local_addr()?;
            let ip = if addr.ip().is_unspecified() {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                addr.ip()
            };
            format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
        };
        let inbound_config = inbound_mail::InboundConfig::from_lookup(|name| match name {
            "REPLY_SECRET" => Some(secret.clone()),
            "CONVERSATION_API_URL" => Some(own_url.clone()),
            other => lookup(other),
        })?;
        let inbound_bus = InProcessBus::new();
        let inbound_sink = match &config.amqp_url {
            Some(url) => Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
                url: url.expose().to_owned(),
                exchange: config.amqp_exchange.clone(),
                connect_timeout: std::time::Duration::from_secs(10),
            }))),
            None => Sink::InProcess(inbound_bus.clone()),
        };
        let deletions = match &bus {
            // Deleted conversations' mails are erased as the conversations outbox says.
            Some(bus) => inbound_mail::erasure::Deletions::Outbox {
                outbox: write_store.outbox(),
                head: bus.subscribe(),
            },
            None => inbound_mail::startup::standalone_deletions(&inbound_config),
        };
        let inbound =
            inbound_mail::InboundService::start(inbound_config, inbound_sink, deletions).await?;
        let inbound_store = inbound.store();
        let inbound_routes = inbound.routes();
        let metadata = metadata_query::Embedded::start(
            &metadata_config,
            metadata_source,
            Some(conversations_feed),
        )
        .await?;
        let routes = metadata.routes();
        let document = Arc::new(metadata_query::openapi::merged(
            <conversation_api::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
        ));
        let in_process = config.amqp_url.is_none();
        let mut notifier = Notifier::start(
            notifier_config,
            notifier_store.clone(),
            notifier_source,
            notifier_sink,
        )?;
        let projection = metadata.store();
        let app = Application::build_with_routes(
            config,
            listener,
            bus,
            Some(Arc::new(move |cfg: &mut actix_web::web::ServiceConfig| {
                // Both services' APIs in one document, in place of conversation-api's own.
                metadata_query::openapi::configure_combined(cfg, document.clone());
                inbound_routes(cfg);
                routes(cfg)
            })),
        )
        .await?;
        if in_process {
            // Nothing is pruned from an outbox that its in-process readers have not read
            // yet (and nothing at all when their position cannot be read).
            let (notifier_1, projection_1) = (notifier_store.clone(), projection.clone());
            app.limit_pruning(Arc::new(move || {
                let notifier = notifier_1.feed_position().ok().flatten().unwrap_or(0);
                let projection = projection_1.feed_position(CONVERSATIONS_FEED).unwrap_or(0);
                let inbound = inbound_store.checkpoint().ok().flatten().unwrap_or(0);
                Some(notifier.min(projection).min(inbound))
            }));
            notifier.limit_pruning(Arc::new(move || {
                Some(projection.feed_position(NOTIFIER_FEED).unwrap_or(0))
            }));
            // The notifier applies inbound-mail's suppressions from its outbox.
            notifier.follow_suppressions(inbound.store().outbox(), inbound_bus.subscribe());
            let notifier_store = notifier_store.clone();
            inbound.limit_pruning(Arc::new(move || {
                notifier_store
                    .checkpoint(notifier::store::SUPPRESSIONS_CHECKPOINT)
                    .ok()
            }));
        }
        Ok(Self {
            app,
            notifier,
            metadata,
            inbound,
            description: format!("bus: {mode}; mail: {mail}"),
        })
    }

    /// The HTTP port (tests listen on port 0).
    pub fn port(&self) -> u16 {
        self.app.port()
    }

    /// What a metrics server on `METRICS_ADDR` runs before each scrape.
    pub fn metrics_refresh(&self) -> conversations_web::metrics::Refresh {
        self.app.metrics_refresh()
    }

    /// The write store (tests and the admin tool create applications with it).
    pub fn store(&self) -> Store {
        self.app.store()
    }

    /// Serves until the server stops (SIGINT/SIGTERM), then stops the consumers.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.app.run_until_stopped().await;
        self.notifier
            .shutdown(std::time::Duration::from_secs(20))
            .await;
        self.metadata.stop();
        self.inbound.stop();
        Ok(served?)
    }
}

/// A random token for the all-in-one's internal routes (48 characters of base32).
fn random_token() -> String {
    let bytes: [u8; 30] = rand::random();
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}
