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

use conversation_api::Config;
use conversations::AllInOne;

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
    let addr = Config::from_env()?.http_addr;
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let server = AllInOne::start(env, listener).await?;
    tracing::info!(%addr, setup = %server.description, "conversations all-in-one listening");
    server.run_until_stopped().await
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
