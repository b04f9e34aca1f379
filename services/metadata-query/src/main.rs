//! `metadata-query`: the standalone inbox read service.
//!
//! ```text
//! metadata-query                  serve (RabbitMQ, catch-up from FEED_URL)
//! metadata-query admin migrate    apply the projection's migrations
//! metadata-query admin rebuild    empty the projection and rebuild it from FEED_URL
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metadata_query::consumer::Projector;
use metadata_query::{Application, Feed, InboxStore, MetadataConfig};

/// The inbox read service. Configuration comes from environment variables (README.md,
/// "Configuration", metadata-query): METADATA_DATABASE_URL, AMQP_URL, METADATA_HTTP_ADDR,
/// METADATA_QUEUE, TOKEN_SECRET, FEED_URL, FEED_TOKEN, …
#[derive(Parser)]
#[command(name = "metadata-query", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default): RabbitMQ, catch-up from FEED_URL.
    Serve,
    /// Administration.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Apply the projection's database migrations.
    Migrate,
    /// Empty the projection and rebuild it from the event feed (stop the service first;
    /// needs FEED_URL and FEED_TOKEN).
    Rebuild,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held until main returns: dropping it sends the spans still buffered.
    let _telemetry = conversations_telemetry::init("metadata-query", "info");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Admin(Admin::Migrate) => migrate(),
        Command::Admin(Admin::Rebuild) => rebuild().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let config = MetadataConfig::from_env()?;
    if config.amqp_url.is_none() {
        anyhow::bail!(
            "AMQP_URL is required for the standalone service (the all-in-one `conversations` binary embeds metadata-query without RabbitMQ)"
        );
    }
    let addr = config.http_addr;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let app = Application::build(config, listener).await?;
    conversations_web::metrics::spawn_separate(None)?;
    tracing::info!(%addr, "metadata-query listening");
    app.run_until_stopped().await?;
    Ok(())
}

fn migrate() -> anyhow::Result<()> {
    let config = MetadataConfig::from_env()?;
    let backend = conversations_db::Backend::from_url(&config.database_url)?;
    metadata_query::store::migrate(&backend)?;
    eprintln!("metadata-query migrations applied");
    Ok(())
}

async fn rebuild() -> anyhow::Result<()> {
    let config = MetadataConfig::from_env()?;
    let (Some(url), Some(token)) = (&config.feed_url, &config.feed_token) else {
        anyhow::bail!("rebuilding needs FEED_URL and FEED_TOKEN (conversation-api's event feed)");
    };
    let feed = Feed::http(url, secrecy::ExposeSecret::expose_secret(token))?;
    let db = config.database_url.clone();
    let secret = config.contact_id_secret.clone();
    let store = tokio::task::spawn_blocking(move || -> anyhow::Result<InboxStore> {
        let store = InboxStore::open_with(
            &db,
            2,
            secret.as_ref().map(secrecy::ExposeSecret::expose_secret),
        )?;
        store.reset()?;
        Ok(store)
    })
    .await??;
    let projector = Projector::new(store);
    let read = metadata_query::feed::catch_up(&feed, &projector).await?;
    eprintln!("projection rebuilt from {read} events");
    Ok(())
}
