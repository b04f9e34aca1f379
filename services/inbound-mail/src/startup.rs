//! Building and running inbound-mail: its store, the relay of its events, the pruning of
//! old raw mails, and the HTTP server (standalone) or its routes (all-in-one).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use conversations_bus::retention::{FloorSlot, PruneFloor};
use conversations_bus::{AmqpConfig, AmqpSink, InProcessBus, Relay, RelayConfig, Sink, SinkHealth};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::auth::Keys;
use crate::client::ConversationsClient;
use crate::config::InboundConfig;
use crate::erasure::{Deletions, Eraser, QueueSettings};
use crate::error::InboundError;
use crate::pipeline::Inbound;
use crate::store::InboundStore;

/// inbound-mail's parts, without an HTTP server of its own: the all-in-one mounts
/// [`InboundService::routes`] on its port.
pub struct InboundService {
    inbound: web::Data<Inbound>,
    keys: web::Data<Keys>,
    store: InboundStore,
    tasks: Vec<JoinHandle<()>>,
    prune_floor: FloorSlot,
}

impl InboundService {
    /// Opens the store (migrating it) and starts the relay of inbound-mail's events to
    /// `sink`, the erasure of deleted conversations' mails (told by `deletions`) and the
    /// pruning of raw mails older than `INBOUND_RETENTION_DAYS`.
    pub async fn start(
        config: InboundConfig,
        sink: Sink,
        deletions: Deletions,
    ) -> anyhow::Result<Self> {
        crate::metrics::init();
        let url = config.database_url.clone();
        let pool = config.pool_size;
        let store = tokio::task::spawn_blocking(move || InboundStore::open(&url, pool)).await??;
        let client = ConversationsClient::new(
            &config.conversation_api_url,
            secrecy::ExposeSecret::expose_secret(&config.internal_token),
            config.api_timeout,
        )?;
        let relay_wake = Arc::new(Notify::new());
        let relay = Relay::new(
            store.outbox(),
            sink,
            relay_wake.clone(),
            Arc::new(SinkHealth::default()),
            RelayConfig::default(),
        );
        let relay = tokio::spawn(relay.run());
        let prune_floor = FloorSlot::default();
        let (pruning, retention) = (store.clone(), config.retention);
        let pruner = tokio::spawn(conversations_bus::retention::every(
            config.prune_interval,
            prune_floor.clone(),
            "raw inbound mails and published inbound events",
            Arc::new(move |floor| {
                let before = conversations_bus::retention::ago(retention);
                let raw = pruning.prune_raw(before).map_err(|e| e.to_string())?;
                let events = pruning
                    .outbox()
                    .prune(before, floor.unwrap_or(i64::MAX))
                    .map_err(|e| e.to_string())?;
                Ok(raw + events)
            }),
        ));
        let eraser = tokio::spawn(Eraser::new(store.clone()).run(deletions));
        let keys = web::Data::new(Keys::new(client.clone()));
        let inbound = web::Data::new(Inbound::new(
            Arc::new(config),
            store.clone(),
            client,
            relay_wake,
        ));
        Ok(Self {
            inbound,
            keys,
            store,
            tasks: vec![relay, pruner, eraser],
            prune_floor,
        })
    }

    /// The routes with what they share, for an HTTP server.
    pub fn routes(&self) -> Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync> {
        let (inbound, keys) = (self.inbound.clone(), self.keys.clone());
        Arc::new(move |cfg| crate::routes::configure(cfg, &inbound, &keys))
    }

    /// The store (the all-in-one's notifier follows its outbox).
    pub fn store(&self) -> InboundStore {
        self.store.clone()
    }

    /// Keeps the outbox pruner from deleting events an in-process reader has not read.
    pub fn limit_pruning(&self, floor: PruneFloor) {
        self.prune_floor.set(floor);
    }

    /// Stops the relay and the pruner.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The sink of a standalone inbound-mail: RabbitMQ when `AMQP_URL` is set; otherwise the
/// events stay in its outbox (nobody else reads them: set `AMQP_URL` in a split
/// deployment so the notifier learns of suppressions).
pub fn standalone_sink(config: &InboundConfig) -> Sink {
    match &config.amqp_url {
        Some(url) => Sink::Amqp(Arc::new(AmqpSink::new(AmqpConfig {
            url: url.expose().to_owned(),
            exchange: config.amqp_exchange.clone(),
            connect_timeout: Duration::from_secs(10),
        }))),
        None => Sink::InProcess(InProcessBus::new()),
    }
}

/// Where a standalone inbound-mail hears of deleted conversations: its own queue when
/// `AMQP_URL` is set.
pub fn standalone_deletions(config: &InboundConfig) -> Deletions {
    match &config.amqp_url {
        Some(url) => Deletions::Amqp(QueueSettings {
            url: url.expose().to_owned(),
            exchange: config.amqp_exchange.clone(),
            queue: config.queue.clone(),
            delivery_limit: config.delivery_limit,
        }),
        None => Deletions::Unknown,
    }
}

/// A standalone inbound-mail (`inbound-mail serve`).
pub struct Server {
    port: u16,
    server: actix_web::dev::Server,
    service: InboundService,
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(inbound: web::Data<Inbound>) -> Result<HttpResponse, InboundError> {
    let store = inbound.store().clone();
    web::block(move || store.ping()).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

impl Server {
    /// Starts the service and serves HTTP on `listener`.
    pub async fn build(config: InboundConfig, listener: TcpListener) -> anyhow::Result<Self> {
        let (sink, deletions) = (standalone_sink(&config), standalone_deletions(&config));
        let limiter = conversations_web::RateLimiter::new(config.rate_limits.clone())?;
        tracing::info!(state = limiter.describe(), "rate limits");
        let service = InboundService::start(config, sink, deletions).await?;
        let routes = service.routes();
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let routes = routes.clone();
            conversations_web::middleware::standard(
                App::new()
                    .configure(move |cfg| routes(cfg))
                    .service(
                        web::resource("/livez")
                            .route(web::get().to(livez))
                            .default_service(conversations_web::method_not_allowed("GET")),
                    )
                    .service(
                        web::resource("/readyz")
                            .route(web::get().to(readyz))
                            .default_service(conversations_web::method_not_allowed("GET")),
                    )
                    .configure(|cfg| {
                        // On METRICS_ADDR instead when that is set.
                        if conversations_web::metrics::on_http_port() {
                            cfg.service(
                                web::resource(conversations_web::metrics::PATH)
                                    .route(web::get().to(conversations_web::metrics::serve))
                                    .default_service(conversations_web::method_not_allowed("GET")),
                            );
                        }
                    })
                    .default_service(web::to(|| async {
                        Err::<HttpResponse, _>(InboundError::NotFound("no such resource".into()))
                    })),
                limiter.clone(),
                None,
            )
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            service,
        })
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (and then [`Self::run_until_stopped`] stops the relay, the
    /// consumer and the pruner) from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.service.stop();
        result
    }
}
