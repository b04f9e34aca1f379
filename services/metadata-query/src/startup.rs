//! Building metadata-query: open the projection, start catching up and consuming, serve
//! the read API — standalone ([`Application`]) or inside the all-in-one server
//! ([`Embedded`], whose routes are mounted beside conversation-api's).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use conversations_bus::SinkHealth;
use conversations_domain::participant_token::ParticipantTokenCodec;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::MetadataConfig;
use crate::consumer::{AmqpSettings, Projector};
use crate::error::MetadataError;
use crate::feed::Feed;
use crate::store::InboxStore;

/// What every handler shares.
pub struct AppState {
    /// The projection.
    pub store: InboxStore,
    /// Verifies participant tokens; `None` without `TOKEN_SECRET`.
    pub tokens: Option<ParticipantTokenCodec>,
    /// Base of links in responses.
    pub public_url: String,
    /// Whether the consumer reaches its bus.
    pub bus_health: Arc<SinkHealth>,
    /// Whether the first catch-up finished.
    pub caught_up: Arc<AtomicBool>,
    /// The live signals of what the projection commits (`…/events`).
    pub live: crate::live::Live,
}

/// Where events come from.
pub enum EventSource {
    /// RabbitMQ (`AMQP_URL`).
    Amqp,
    /// The all-in-one: local outboxes (conversation-api's, the notifier's), each with the
    /// signal its relay announces new events on.
    InProcess(Vec<(Feed, watch::Receiver<i64>)>),
}

/// metadata-query's projection and consumer, without an HTTP server of its own.
pub struct Embedded {
    state: web::Data<AppState>,
    tasks: Vec<JoinHandle<()>>,
    /// The AMQP consumer, stopped gracefully by [`Embedded::shutdown`].
    consumer: Option<JoinHandle<()>>,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Embedded {
    /// Opens the projection and starts catching up (from `feed`, when there is one) and
    /// consuming `source`.
    pub async fn start(
        config: &MetadataConfig,
        source: EventSource,
        feed: Option<Feed>,
    ) -> anyhow::Result<Self> {
        crate::metrics::init();
        let url = config.database_url.clone();
        let pool_size = config.pool_size;
        let secret = config.contact_id_secret.clone();
        let store = tokio::task::spawn_blocking(move || {
            InboxStore::open_with(
                &url,
                pool_size,
                secret.as_ref().map(secrecy::ExposeSecret::expose_secret),
            )
        })
        .await??;
        let projector = Projector::new(store.clone());
        let bus_health = Arc::new(SinkHealth::default());
        let mut tasks = Vec::new();
        let mut consumer = None;
        let (stopping, stop) = tokio::sync::watch::channel(false);
        match source {
            EventSource::Amqp => {
                let url = config
                    .amqp_url
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("AMQP_URL is not set"))?;
                let settings = AmqpSettings {
                    url: url.expose().to_owned(),
                    exchange: config.exchange.clone(),
                    queue: config.queue.clone(),
                    delivery_limit: config.delivery_limit,
                    batch_size: config.batch_size,
                };
                // Every replica hears of every batch's changes, whichever replica applied it.
                tasks.push(crate::live_relay::start(
                    &projector.live,
                    crate::live_relay::RelaySettings {
                        url: settings.url.clone(),
                        exchange: format!("{}.live", settings.exchange),
                    },
                    stop.clone(),
                ));
                consumer = Some(tokio::spawn(projector.clone().run_amqp(
                    settings,
                    bus_health.clone(),
                    stop,
                )));
                let catching_up = projector.clone();
                let consuming = bus_health.clone();
                tasks.push(tokio::spawn(async move {
                    // The queue must exist (and buffer) before the feed is read, or events
                    // published between the last feed page and the declaration would be
                    // missed; the consumer reports healthy once it has declared it.
                    while !consuming.is_connected() {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    match feed {
                        Some(feed) => catching_up.catch_up_until_done(&feed).await,
                        None => {
                            tracing::warn!("FEED_URL is not set: no catch-up, only events from now on are projected");
                            catching_up.caught_up.store(true, Ordering::Relaxed);
                        }
                    }
                }));
            }
            EventSource::InProcess(feeds) => {
                bus_health.set(true);
                for (feed, head) in feeds {
                    tasks.push(tokio::spawn(projector.clone().follow(feed, head)));
                }
            }
        }
        // Live streams never end by themselves: when the process is told to stop (SIGTERM
        // or SIGINT, which the HTTP server serving them handles too), end them, so its
        // graceful stop does not wait its whole timeout for them.
        let live = projector.live.clone();
        tasks.push(tokio::spawn(async move {
            stop_signal().await;
            live.close();
        }));
        let state = web::Data::new(AppState {
            store,
            tokens: config.token_secret.as_ref().map(|s| {
                ParticipantTokenCodec::new(secrecy::ExposeSecret::expose_secret(s).to_vec())
            }),
            public_url: config.public_url.clone(),
            bus_health,
            caught_up: projector.caught_up.clone(),
            live: projector.live.clone(),
        });
        Ok(Self {
            state,
            tasks,
            consumer,
            stopping,
        })
    }

    /// Registers the read API with this state; mount before any other `/api/v1` scope.
    pub fn routes(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + Sync + 'static {
        let state = self.state.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone());
            crate::routes::configure(cfg);
        }
    }

    /// The projection (the all-in-one reads its feed positions to limit pruning).
    pub fn store(&self) -> InboxStore {
        self.state.store.clone()
    }

    /// Stops consuming at once (an unacknowledged batch is redelivered).
    pub fn stop(&self) {
        for task in self.tasks.iter().chain(&self.consumer) {
            task.abort();
        }
    }

    /// Stops gracefully (SIGTERM): the consumer takes nothing new, and the batch it is
    /// applying is committed and acknowledged within `grace`; then everything stops.
    pub async fn shutdown(mut self, grace: std::time::Duration) {
        self.state.live.close();
        let _ = self.stopping.send(true);
        if let Some(consumer) = self.consumer.take() {
            let overdue = consumer.abort_handle();
            if tokio::time::timeout(grace, consumer).await.is_err() {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    "metadata-query: the batch in hand was not applied within the grace period; it is redelivered"
                );
                overdue.abort();
            }
        }
        self.stop();
    }
}

/// The standalone service: [`Embedded`] plus its own HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    embedded: Embedded,
}

impl Application {
    /// Builds the service on `listener`, consuming RabbitMQ and catching up from the feed
    /// configured in `config`.
    pub async fn build(config: MetadataConfig, listener: TcpListener) -> anyhow::Result<Self> {
        let feed = match (&config.feed_url, &config.feed_token) {
            (Some(url), Some(token)) => Some(Feed::http(
                url,
                secrecy::ExposeSecret::expose_secret(token),
            )?),
            (Some(_), None) => anyhow::bail!("FEED_URL needs FEED_TOKEN"),
            _ => None,
        };
        let embedded = Embedded::start(&config, EventSource::Amqp, feed).await?;
        let port = listener.local_addr()?.port();
        let routes = embedded.routes();
        let origins = config.cors_allowed_origins.clone();
        let limiter = conversations_web::RateLimiter::new(config.rate_limits.clone())?;
        tracing::info!(state = limiter.describe(), "rate limits");
        let server = HttpServer::new(move || {
            conversations_web::middleware::standard(
                App::new()
                    .app_data(web::PathConfig::default().error_handler(|e, _| {
                        MetadataError::NotFound(format!("no such resource: {e}")).into()
                    }))
                    .app_data(web::QueryConfig::default().error_handler(|e, _| {
                        MetadataError::InvalidRequest(format!("invalid query string: {e}")).into()
                    }))
                    .configure(routes.clone())
                    .configure(crate::routes::configure_health)
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(MetadataError::NotFound(
                            "no such resource".into(),
                        ))
                    })),
                limiter.clone(),
                Some(origins.clone()),
            )
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            embedded,
        })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the HTTP server (`stop(true)`: gracefully, as SIGTERM does); the future of
    /// [`Application::run_until_stopped`] then stops the consumer and returns. For
    /// embedding and tests, which cannot send the process a signal.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then stops consuming.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.embedded
            .shutdown(std::time::Duration::from_secs(20))
            .await;
        result
    }
}

/// Resolves on SIGTERM or SIGINT (never when neither can be listened for).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// The largest request body metadata-query reads (its bodies are small JSON documents).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// JSON bodies: at most [`MAX_BODY_BYTES`], errors as problem details (413 when too large).
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|e, _| match e {
            actix_web::error::JsonPayloadError::Overflow { .. }
            | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                MetadataError::PayloadTooLarge(format!(
                    "the body is larger than {MAX_BODY_BYTES} bytes"
                ))
                .into()
            }
            e => MetadataError::InvalidRequest(format!("invalid JSON body: {e}")).into(),
        })
}

/// Reads a raw body of at most [`MAX_BODY_BYTES`], refusing a larger one as soon as it is
/// (without reading the rest).
pub async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, MetadataError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| MetadataError::InvalidRequest(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(MetadataError::PayloadTooLarge(format!(
                "the body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
