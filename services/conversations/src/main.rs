//! `conversations`: the all-in-one server (conversation-api, notifier and metadata-query
//! in one process on one port; SQLite in `./data` and the in-process bus by default) and
//! the admin tool.
//!
//! ```text
//! conversations                               serve (same as `conversations serve`)
//! conversations admin migrate                 apply database migrations
//! conversations admin create-app --name NAME  create an application, print its API key
//! ```

use std::process::ExitCode;

use conversation_api::{Application, Config};
use conversations_bus::InProcessBus;
use metadata_query::MetadataConfig;
use notifier::{EventSource, Notifier, NotifierConfig};

const USAGE: &str = "usage:
  conversations [serve]                         run the all-in-one server
  conversations admin migrate                   apply database migrations
  conversations admin create-app --name NAME    create an application; prints its API key

configuration comes from environment variables (see README.md): DATABASE_URL, AMQP_URL,
HTTP_ADDR, PUBLIC_URL, REPLY_DOMAIN, REPLY_SECRET, SMTP_URL, …";

#[tokio::main]
async fn main() -> ExitCode {
    conversation_api::telemetry::init("info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["serve"] => serve().await,
        ["admin", "migrate"] => migrate(),
        ["admin", "create-app", "--name", name] => create_app(name),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let addr = config.http_addr;
    // The notifier shares the API's reply secret (generated beside the SQLite database
    // when REPLY_SECRET is not set).
    let secret = String::from_utf8(config.reply_secret_bytes().to_vec())
        .map_err(|_| anyhow::anyhow!("REPLY_SECRET must be text"))?;
    let notifier_config = NotifierConfig::from_lookup(|name| match name {
        "REPLY_SECRET" => Some(secret.clone()),
        other => env(other),
    })?;
    let token_secret = config
        .token_secret_bytes()
        .map(|s| String::from_utf8_lossy(s).into_owned());
    let public_url = config.public_url.clone();
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
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
    // metadata-query: its own database (metadata.db beside a SQLite one), the same bus,
    // catching up from the write store's outbox.
    let metadata_config = MetadataConfig::from_lookup(|name| match name {
        "TOKEN_SECRET" => token_secret.clone(),
        "PUBLIC_URL" => Some(public_url.clone()),
        other => env(other),
    })?;
    let write_store = conversations_store::Store::open(&config.database_url, 2)?;
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
    let document = std::sync::Arc::new(metadata_query::openapi::merged(
        <conversation_api::openapi::ApiDoc as utoipa::OpenApi>::openapi(),
    ));
    let app = Application::build_with_routes(
        config,
        listener,
        bus,
        Some(std::sync::Arc::new(
            move |cfg: &mut actix_web::web::ServiceConfig| {
                // Both services' APIs in one document, in place of conversation-api's own.
                metadata_query::openapi::configure_combined(cfg, document.clone());
                routes(cfg)
            },
        )),
    )
    .await?;
    let notifier = Notifier::start(notifier_config, app.store(), source, app.relay_wake())?;
    tracing::info!(%addr, bus = mode, %mail, "conversations all-in-one listening");
    let served = app.run_until_stopped().await;
    notifier.stop();
    metadata.stop();
    served?;
    Ok(())
}

fn migrate() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let backend = conversations_store::Backend::from_url(&config.database_url)?;
    conversations_store::migrate(&backend)?;
    eprintln!("migrations applied to {}", redact(&config.database_url));
    Ok(())
}

fn create_app(name: &str) -> anyhow::Result<()> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        anyhow::bail!("the application name is 1 to 200 printable characters");
    }
    let config = Config::from_env()?;
    let store = conversations_store::Store::open(&config.database_url, 1)?;
    let created = conversation_api::admin::create_application(&store, name)?;
    eprintln!(
        "created application {} ({name}); the key below is shown only once",
        created.app_id
    );
    println!("{}", created.key);
    Ok(())
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
