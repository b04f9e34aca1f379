//! `conversations`: the all-in-one server (conversation-api, notifier and metadata-query
//! in one process on one port; SQLite in `./data` and the in-process bus by default) and
//! the admin tool.
//!
//! ```text
//! conversations                               serve (same as `conversations serve`)
//! conversations admin migrate                 apply database migrations
//! conversations admin create-app --name NAME  create an application, print its API key
//! conversations admin create-key --app ID [--label L]   another key for the application
//! conversations admin list-keys --app ID      its keys (prefix, label, last use, revoked)
//! conversations admin revoke-key --app ID --key PREFIX  revoke one
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use conversation_api::Config;
use conversations::AllInOne;

/// The all-in-one server and its admin tool. Configuration comes from environment
/// variables (README.md, "Configuration"): DATABASE_URL, AMQP_URL, HTTP_ADDR, PUBLIC_URL,
/// REPLY_DOMAIN, REPLY_SECRET, SMTP_URL, …
#[derive(Parser)]
#[command(name = "conversations", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one server (the default).
    Serve,
    /// Administration.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Apply the database migrations.
    Migrate,
    /// Create an application; prints its API key.
    CreateApp {
        /// The application's name (shown in notifications: "Fred via NAME").
        #[arg(long)]
        name: String,
    },
    /// Another key for the application (rotation); prints it.
    CreateKey {
        /// The application's id.
        #[arg(long)]
        app: String,
        /// What the key is for.
        #[arg(long)]
        label: Option<String>,
    },
    /// The application's keys: prefix, label, created, last used, revoked.
    ListKeys {
        /// The application's id.
        #[arg(long)]
        app: String,
    },
    /// Where the application shows a conversation: notifications link there
    /// (`{conversation_id}` is replaced by the id). An empty URL removes it.
    SetConversationUrl {
        /// The application's id.
        #[arg(long)]
        app: String,
        /// e.g. `https://shop.example/messages/{conversation_id}`, or "".
        #[arg(long)]
        url: String,
    },
    /// Revoke a key (not the last working one).
    RevokeKey {
        /// The application's id.
        #[arg(long)]
        app: String,
        /// The key's prefix, as `list-keys` shows it.
        #[arg(long)]
        key: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = conversations_telemetry::init("conversations", "info");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Admin(Admin::Migrate) => migrate(),
        Command::Admin(Admin::CreateApp { name }) => create_app(&name),
        Command::Admin(Admin::CreateKey { app, label }) => create_key(&app, label.as_deref()),
        Command::Admin(Admin::ListKeys { app }) => list_keys(&app),
        Command::Admin(Admin::RevokeKey { app, key }) => revoke_key(&app, &key),
        Command::Admin(Admin::SetConversationUrl { app, url }) => set_conversation_url(&app, &url),
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
    conversations_web::metrics::spawn_separate(Some(server.metrics_refresh()))?;
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

fn open_store() -> anyhow::Result<conversations_store::Store> {
    let config = Config::from_env()?;
    Ok(conversations_store::Store::open(&config.database_url, 1)?)
}

fn app_id(raw: &str) -> anyhow::Result<conversations_domain::AppId> {
    raw.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("`{raw}` is not an application id"))
}

fn create_key(app: &str, label: Option<&str>) -> anyhow::Result<()> {
    let app = app_id(app)?;
    let label = label.unwrap_or_default().trim();
    if label.chars().count() > conversations_store::MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        anyhow::bail!("a label is at most 100 printable characters");
    }
    let store = open_store()?;
    let Some(issued) = conversation_api::admin::issue_key(&store, app, label)? else {
        anyhow::bail!("there is no application {app}");
    };
    eprintln!(
        "issued key {} for application {app}; the key below is shown only once",
        issued.prefix
    );
    println!("{}", issued.key);
    Ok(())
}

fn list_keys(app: &str) -> anyhow::Result<()> {
    let app = app_id(app)?;
    let keys = open_store()?.list_keys(app)?;
    if keys.is_empty() {
        anyhow::bail!("there is no application {app} (or it has no keys)");
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%MZ").to_string(),
        )
    };
    println!("PREFIX\tCREATED\tLAST USED\tREVOKED\tLABEL");
    for k in keys {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            k.prefix,
            time(Some(k.created_at)),
            time(k.last_used_at),
            time(k.revoked_at),
            k.label
        );
    }
    Ok(())
}

fn set_conversation_url(app: &str, url: &str) -> anyhow::Result<()> {
    let app = app_id(app)?;
    let url = match url.trim() {
        "" => None,
        raw => Some(conversations_domain::ConversationUrl::parse("--url", raw)?),
    };
    if !open_store()?.set_conversation_url(app, url.as_ref())? {
        anyhow::bail!("no application {app}");
    }
    match url {
        Some(url) => eprintln!("notifications of {app} now link to {}", url.as_str()),
        None => eprintln!("notifications of {app} now link to this server's own page"),
    }
    Ok(())
}

fn revoke_key(app: &str, prefix: &str) -> anyhow::Result<()> {
    use conversations_store::Revocation;
    let app = app_id(app)?;
    match conversation_api::admin::revoke_key(&open_store()?, app, prefix.trim())? {
        Revocation::Revoked(k) => {
            eprintln!("revoked {}; services refuse it within seconds", k.prefix)
        }
        Revocation::AlreadyRevoked(k) => eprintln!("{} was already revoked", k.prefix),
        Revocation::NotFound => anyhow::bail!("application {app} has no key {prefix}"),
        Revocation::LastKey => anyhow::bail!(
            "{prefix} is the application's last working key: issue another one first (create-key)"
        ),
    }
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
