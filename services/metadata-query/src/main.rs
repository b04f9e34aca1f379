//! `metadata-query`: the standalone inbox read service.
//!
//! ```text
//! metadata-query                  serve (RabbitMQ, catch-up from FEED_URL)
//! metadata-query admin migrate    apply the projection's migrations
//! metadata-query admin rebuild    empty the projection and rebuild it from FEED_URL
//! ```

use std::process::ExitCode;

use metadata_query::consumer::Projector;
use metadata_query::{Application, Feed, InboxStore, MetadataConfig};

const USAGE: &str = "usage:
  metadata-query [serve]          run the service
  metadata-query admin migrate    apply the projection's database migrations
  metadata-query admin rebuild    empty the projection and rebuild it from the event feed
                                  (stop the service first; needs FEED_URL and FEED_TOKEN)

configuration comes from environment variables (see README.md): METADATA_DATABASE_URL,
AMQP_URL, METADATA_HTTP_ADDR, METADATA_QUEUE, TOKEN_SECRET, FEED_URL, FEED_TOKEN, …";

#[tokio::main]
async fn main() -> ExitCode {
    // Held until main returns: dropping it sends the spans still buffered.
    let _telemetry = conversations_telemetry::init("metadata-query", "info");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["serve"] => serve().await,
        ["admin", "migrate"] => migrate(),
        ["admin", "rebuild"] => rebuild().await,
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
