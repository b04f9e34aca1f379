//! `inbound-mail [serve | deliver | inspect | admin migrate]`.

use std::io::Write;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use inbound_mail::deliver::{self, DeliverArgs, EX_DATAERR, EX_TEMPFAIL};
use inbound_mail::{Inbound, InboundConfig, InboundStore};

/// Receives replies by mail. Configuration comes from environment variables (README.md,
/// "Configuration", inbound-mail).
#[derive(Parser)]
#[command(name = "inbound-mail", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// The MTA's pipe program: one mail on stdin, handed to the service. Exits 0, 75
    /// (try again later) or a permanent sysexits code; options: --url URL,
    /// --secret-file FILE, --recipient ADDRESS, --max-bytes N, --timeout-secs N.
    Deliver {
        /// Passed on as they are: any problem with them must exit 75, never a usage error
        /// an MTA would take for a bounce.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// What would happen to the mail on stdin (JSON on stdout), changing nothing.
    Inspect {
        /// The envelope recipient (the reply address), when not in the mail's headers.
        #[arg(long)]
        recipient: Option<String>,
    },
    /// Administration.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Apply the database migrations.
    Migrate,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command.unwrap_or(Command::Serve) {
        // The pipe program must never exit with anything an MTA takes for a bounce by
        // accident: a panic or any error becomes 75 (try again later).
        Command::Deliver { args } => {
            std::panic::set_hook(Box::new(|info| {
                let _ = writeln!(
                    std::io::stderr(),
                    "inbound-mail deliver: internal error: {info}"
                );
            }));
            std::panic::catch_unwind(|| run_deliver(&args)).unwrap_or(EX_TEMPFAIL)
        }
        command => match run_async(command) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("inbound-mail: {e:#}");
                1
            }
        },
    };
    std::process::exit(code);
}

fn run_deliver(args: &[String]) -> i32 {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let parsed = match DeliverArgs::parse(args, env) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("inbound-mail deliver: {e}");
            return EX_TEMPFAIL;
        }
    };
    let raw = match deliver::read_bounded(std::io::stdin().lock(), parsed.max_bytes) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            eprintln!(
                "inbound-mail deliver: message larger than {} bytes refused",
                parsed.max_bytes
            );
            return EX_DATAERR;
        }
        Err(e) => {
            eprintln!("inbound-mail deliver: cannot read the message: {e}");
            return EX_TEMPFAIL;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("inbound-mail deliver: {e}");
            return EX_TEMPFAIL;
        }
    };
    let (code, line) = runtime.block_on(deliver::deliver(&parsed, raw));
    eprintln!("inbound-mail deliver: {line}");
    code
}

fn run_async(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Held until the command ends: dropping it sends the spans still buffered.
        let _telemetry = conversations_telemetry::init("inbound-mail", "info");
        let config = InboundConfig::from_env()?;
        match command {
            Command::Serve => {
                let listener = std::net::TcpListener::bind(config.http_addr)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http_addr))?;
                tracing::info!(addr = %config.http_addr, "inbound-mail starting");
                let server = inbound_mail::Server::build(config, listener).await?;
                conversations_web::metrics::spawn_separate(None)?;
                server.run_until_stopped().await?;
                Ok(())
            }
            Command::Admin(Admin::Migrate) => {
                let url = config.database_url.clone();
                tokio::task::spawn_blocking(move || InboundStore::open(&url, 1)).await??;
                println!("inbound-mail: migrations applied");
                Ok(())
            }
            Command::Inspect { recipient } => inspect(config, recipient).await,
            Command::Deliver { .. } => anyhow::bail!("deliver runs without the service"),
        }
    })
}

/// Prints what would happen to the mail on stdin, changing nothing.
async fn inspect(config: InboundConfig, recipient: Option<String>) -> anyhow::Result<()> {
    let raw = deliver::read_bounded(std::io::stdin().lock(), config.max_bytes)?
        .ok_or_else(|| anyhow::anyhow!("larger than INBOUND_MAX_BYTES"))?;
    let url = config.database_url.clone();
    let store = tokio::task::spawn_blocking(move || InboundStore::open(&url, 1)).await??;
    let client = inbound_mail::client::ConversationsClient::new(
        &config.conversation_api_url,
        secrecy::ExposeSecret::expose_secret(&config.internal_token),
        config.api_timeout,
    )?;
    let inbound = Inbound::new(
        Arc::new(config),
        store,
        client,
        Arc::new(tokio::sync::Notify::new()),
    );
    let evaluation = inbound.evaluate(&raw, recipient.as_deref()).await?;
    println!("{}", serde_json::to_string_pretty(&evaluation)?);
    Ok(())
}
