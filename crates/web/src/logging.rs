//! Logging, set up the same way in every binary: `RUST_LOG` filters (default given by the
//! caller, usually `info`); `LOG_FORMAT=json` writes one JSON object per line (for log
//! shippers), anything else human-readable text. Always to stderr, so stdout stays free
//! for what admin commands print (a new API key, say).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; later calls do nothing (tests call it per test).
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.trim().eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
