//! The all-in-one server's wiring, as a library so that its tests start exactly what the
//! binary starts: conversation-api with metadata-query's read API on the same port (one
//! OpenAPI document for both), the notifier, and the bus between them (in-process, or
//! RabbitMQ when `AMQP_URL` is set). metadata-query catches up from the write store.

use std::net::TcpListener;
use std::sync::Arc;

use conversation_api::{Application, Config};
use conversations_bus::InProcessBus;
use conversations_store::Store;
use metadata_query::MetadataConfig;
use notifier::{EventSource, Notifier, NotifierConfig};

/// The running services; [`AllInOne::run_until_stopped`] serves until a signal.
pub struct AllInOne {
    app: Application,
    notifier: Notifier,
    metadata: metadata_query::Embedded,
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
        let (bus, source, mode) = if config.amqp_url.is_some() {
            (None, EventSource::Amqp, "RabbitMQ")
        } else {
            let bus = InProcessBus::new(4096);
            let events = bus.subscribe();
            (Some(bus), EventSource::InProcess(events), "in-process bus")
        };
        let mail = notifier_config
            .smtp_url
            .clone()
            .unwrap_or_else(|| format!("files in {}", notifier_config.mail_dir.display()));
        // metadata-query: its own database (metadata.db beside a SQLite one), the same
        // bus, catching up from the write store's outbox.
        let metadata_config = MetadataConfig::from_lookup(|name| match name {
            "TOKEN_SECRET" => token_secret.clone(),
            "PUBLIC_URL" => Some(public_url.clone()),
            other => lookup(other),
        })?;
        let url = config.database_url.clone();
        let write_store = tokio::task::spawn_blocking(move || Store::open(&url, 2)).await??;
        let metadata_source = match &bus {
            Some(bus) => metadata_query::EventSource::InProcess(bus.subscribe()),
            None => metadata_query::EventSource::Amqp,
        };
        let metadata = metadata_query::Embedded::start(
            &metadata_config,
            metadata_source,
            Some(metadata_query::Feed::Store(write_store)),
        )
        .await?;
        let routes = metadata.routes();
        let document = Arc::new(metadata_query::openapi::merged(
            <conversation_api::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
        ));
        let app = Application::build_with_routes(
            config,
            listener,
            bus,
            Some(Arc::new(move |cfg: &mut actix_web::web::ServiceConfig| {
                // Both services' APIs in one document, in place of conversation-api's own.
                metadata_query::openapi::configure_combined(cfg, document.clone());
                routes(cfg)
            })),
        )
        .await?;
        let notifier = Notifier::start(notifier_config, app.store(), source, app.relay_wake())?;
        Ok(Self {
            app,
            notifier,
            metadata,
            description: format!("bus: {mode}; mail: {mail}"),
        })
    }

    /// The HTTP port (tests listen on port 0).
    pub fn port(&self) -> u16 {
        self.app.port()
    }

    /// The write store (tests and the admin tool create applications with it).
    pub fn store(&self) -> Store {
        self.app.store()
    }

    /// Serves until the server stops (SIGINT/SIGTERM), then stops the consumers.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.app.run_until_stopped().await;
        self.notifier.stop();
        self.metadata.stop();
        Ok(served?)
    }
}
