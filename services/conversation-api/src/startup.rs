//! Building and running the service: open the store, start the relay, serve HTTP.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use conversations_bus::retention::{FloorSlot, PruneFloor};
use conversations_bus::{AmqpConfig, AmqpSink, InProcessBus, Relay, RelayConfig, Sink, SinkHealth};
use conversations_domain::participant_token::ParticipantTokenCodec;
use conversations_domain::reply_address::ReplyAddressCodec;
use conversations_store::Store;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::body::BodyLimit;
use crate::config::Config;
use crate::error::ApiError;

/// Routes of another service served by the same HTTP server (all-in-one).
pub type ExtraRoutes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What every handler shares.
pub struct AppState {
    /// The write store.
    pub store: Store,
    /// Signs reply addresses shown in participant details and events.
    pub codec: ReplyAddressCodec,
    /// Masks other people's addresses for participant tokens.
    pub aliases: crate::redact::Aliases,
    /// Verifies participant tokens and mints them; `None` when `TOKEN_SECRET` is unset.
    pub tokens: Option<ParticipantTokenCodec>,
    /// Verifies the sign-in codes of notification links (key derived from `REPLY_SECRET`).
    pub links: conversations_domain::sign_in_link::LinkCodec,
    /// Lifetime of the tokens sign-in links are exchanged for (`SIGN_IN_SESSION_SECS`).
    pub sign_in_session: std::time::Duration,
    /// Bearer token of the internal event feed; `None` disables the feed.
    pub feed_token: Option<secrecy::SecretString>,
    /// Bearer token of the internal routes inbound-mail calls; `None` disables them.
    pub internal_token: Option<secrecy::SecretString>,
    /// Notified after each commit so the relay publishes at once.
    pub relay_wake: Arc<Notify>,
    /// Whether the relay reaches its broker (for `/readyz`).
    pub sink_health: Arc<SinkHealth>,
    /// The conversation states this process committed last (see [`crate::recent`]).
    pub recent: Arc<crate::recent::RecentConversations>,
}

/// A running conversation-api: HTTP server plus outbox relay.
pub struct Application {
    port: u16,
    server: Server,
    relay: JoinHandle<()>,
    pruner: JoinHandle<()>,
    prune_floor: FloorSlot,
    bus: Option<InProcessBus>,
    store: Store,
    relay_wake: Arc<Notify>,
    sink_health: Arc<SinkHealth>,
}

impl Application {
    /// Binds `HTTP_ADDR` and builds the service.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.http_addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http_addr))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds the service on an already bound listener (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        Self::build_with_routes(config, listener, None, None).await
    }

    /// Like [`Self::build_with_listener`], announcing sequenced events on `bus` when no
    /// `AMQP_URL` is set and also serving `extra` routes (registered first): the
    /// all-in-one server mounts metadata-query's read API this way, on the same port.
    /// In-process consumers read the outbox from their own recorded positions; the bus
    /// only wakes them.
    pub async fn build_with_routes(
        config: Config,
        listener: TcpListener,
        bus: Option<InProcessBus>,
        extra: Option<ExtraRoutes>,
    ) -> anyhow::Result<Self> {
        let url = config.database_url.clone();
        let pool_size = config.database_pool_size;
        let store = tokio::task::spawn_blocking(move || Store::open(&url, pool_size)).await??;
        let codec = ReplyAddressCodec::new(
            config.reply_secret_bytes().to_vec(),
            config.reply_domain.clone(),
        );
        let relay_wake = Arc::new(Notify::new());
        let sink_health = Arc::new(SinkHealth::default());
        let (sink, bus) = match &config.amqp_url {
            Some(url) => (
                Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
                    url: url.expose().to_owned(),
                    exchange: config.amqp_exchange.clone(),
                    connect_timeout: Duration::from_secs(10),
                }))),
                None,
            ),
            None => {
                let bus = bus.unwrap_or_default();
                (Sink::InProcess(bus.clone()), Some(bus))
            }
        };
        let relay = Relay::new(
            store.outbox(),
            sink,
            relay_wake.clone(),
            sink_health.clone(),
            RelayConfig::default(),
        );
        let relay = tokio::spawn(relay.run());
        let prune_floor = FloorSlot::default();
        let retention = crate::retention::Retention {
            feed: config.feed_retention,
            idempotency: config.idempotency_retention,
            interval: config.prune_interval,
        };
        let pruning = store.clone();
        let pruner = tokio::spawn(conversations_bus::retention::every(
            config.prune_interval,
            prune_floor.clone(),
            "outbox and stored responses",
            Arc::new(move |floor| {
                crate::retention::prune_once(&pruning, retention, floor)
                    .map(|(events, responses)| events + responses)
                    .map_err(|e| e.to_string())
            }),
        ));

        let port = listener.local_addr()?.port();
        let broker = sink_health.clone();
        let state = web::Data::new(AppState {
            store: store.clone(),
            aliases: crate::redact::Aliases::new(config.reply_secret_bytes()),
            links: conversations_domain::sign_in_link::LinkCodec::new(config.reply_secret_bytes()),
            sign_in_session: config.sign_in_session,
            codec,
            tokens: config
                .token_secret_bytes()
                .map(|s| ParticipantTokenCodec::new(s.to_vec())),
            feed_token: config.feed_token.clone(),
            internal_token: config.internal_token.clone(),
            relay_wake: relay_wake.clone(),
            sink_health,
            recent: Arc::default(),
        });
        let limit = web::Data::new(BodyLimit(config.max_body_bytes));
        let origins = config.cors_allowed_origins.clone();
        let limiter = conversations_web::RateLimiter::new(config.rate_limits.clone())?;
        tracing::info!(state = limiter.describe(), "rate limits");
        let server = HttpServer::new(move || {
            conversations_web::middleware::standard(
                App::new()
                    .app_data(state.clone())
                    .app_data(limit.clone())
                    .app_data(web::PathConfig::default().error_handler(|e, _| {
                        ApiError::NotFound(format!("no such resource: {e}")).into()
                    }))
                    .app_data(web::QueryConfig::default().error_handler(|e, _| {
                        ApiError::InvalidQuery(format!("invalid query string: {e}")).into()
                    }))
                    .configure(|cfg| {
                        if let Some(extra) = &extra {
                            extra(cfg);
                        }
                    })
                    .configure(crate::routes::configure)
                    // The pages behind the link in every notification, beside the API
                    // they call (a gateway may serve the same files itself).
                    .configure(conversations_pages::configure)
                    .default_service(web::to(|| async {
                        Err::<actix_web::HttpResponse, _>(ApiError::NotFound(
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
            relay,
            pruner,
            prune_floor,
            bus,
            store,
            relay_wake,
            sink_health: broker,
        })
    }

    /// The port actually listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The in-process bus (all-in-one mode), for in-process consumers.
    pub fn bus(&self) -> Option<InProcessBus> {
        self.bus.clone()
    }

    /// Wakes the outbox relay (other in-process writers of outbox rows use it).
    pub fn relay_wake(&self) -> Arc<Notify> {
        self.relay_wake.clone()
    }

    /// Keeps the outbox pruner from deleting events at or above the position `floor`
    /// returns: in-process consumers (all-in-one) still have to read them.
    pub fn limit_pruning(&self, floor: PruneFloor) {
        self.prune_floor.set(floor);
    }

    /// The store, for admin commands and tests.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// What a metrics server on `METRICS_ADDR` runs before each scrape: the outbox
    /// backlog and broker gauges, read then.
    pub fn metrics_refresh(&self) -> conversations_web::metrics::Refresh {
        let (store, broker) = (self.store.clone(), self.sink_health.clone());
        Arc::new(move || {
            Box::pin(crate::routes::health::refresh_gauges(
                store.clone(),
                broker.clone(),
            ))
        })
    }

    /// Serves until the server stops (SIGINT/SIGTERM, handled by actix), then stops the
    /// relay; anything it had not published stays in the outbox for the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.relay.abort();
        self.pruner.abort();
        result
    }
}
