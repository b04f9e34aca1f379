//! Logging set up once per process: `RUST_LOG` filters (default `info`), plain text to
//! stderr so stdout stays free for admin command output.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; later calls do nothing (tests call it per test).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
