//! `inbound-mail [serve | deliver | inspect | admin migrate]`.

use std::io::Write;
use std::sync::Arc;

use inbound_mail::deliver::{self, DeliverArgs, EX_DATAERR, EX_TEMPFAIL};
use inbound_mail::{Inbound, InboundConfig, InboundStore};

const USAGE: &str = "usage: inbound-mail [serve]
       inbound-mail deliver [--url URL] [--secret-file FILE] [--recipient ADDRESS] [--max-bytes N] [--timeout-secs N]
       inbound-mail inspect [--recipient ADDRESS]   (one mail on stdin; JSON on stdout)
       inbound-mail admin migrate";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("serve");
    let rest = args.get(1..).unwrap_or_default();
    let code = match command {
        // The pipe program must never exit with anything an MTA takes for a bounce by
        // accident: a panic or any error becomes 75 (try again later).
        "deliver" => {
            std::panic::set_hook(Box::new(|info| {
                let _ = writeln!(
                    std::io::stderr(),
                    "inbound-mail deliver: internal error: {info}"
                );
            }));
            std::panic::catch_unwind(|| run_deliver(rest)).unwrap_or(EX_TEMPFAIL)
        }
        "serve" | "inspect" | "admin" => match run_async(command, rest) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("inbound-mail {command}: {e:#}");
                1
            }
        },
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!("inbound-mail: unknown command {other}\n{USAGE}");
            2
        }
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

fn run_async(command: &str, args: &[String]) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Held until the command ends: dropping it sends the spans still buffered.
        let _telemetry = conversations_telemetry::init("inbound-mail", "info");
        let config = InboundConfig::from_env()?;
        match (command, args.first().map(String::as_str)) {
            ("serve", _) => {
                let listener = std::net::TcpListener::bind(config.http_addr)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http_addr))?;
                tracing::info!(addr = %config.http_addr, "inbound-mail starting");
                inbound_mail::Server::build(config, listener)
                    .await?
                    .run_until_stopped()
                    .await?;
                Ok(())
            }
            ("admin", Some("migrate")) => {
                let url = config.database_url.clone();
                tokio::task::spawn_blocking(move || InboundStore::open(&url, 1)).await??;
                println!("inbound-mail: migrations applied");
                Ok(())
            }
            ("inspect", _) => inspect(config, args).await,
            _ => anyhow::bail!("{USAGE}"),
        }
    })
}

/// Prints what would happen to the mail on stdin, changing nothing.
async fn inspect(config: InboundConfig, args: &[String]) -> anyhow::Result<()> {
    let recipient = match args {
        [flag, value] if flag == "--recipient" => Some(value.clone()),
        [] => None,
        _ => anyhow::bail!("{USAGE}"),
    };
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
