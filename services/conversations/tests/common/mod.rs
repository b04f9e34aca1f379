//! The all-in-one as the binary starts it, on SQLite in a temporary directory, for the
//! integration tests of this crate (each `tests/*.rs` is its own crate and includes this
//! module with `mod common;`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;

use conversations::AllInOne;

/// A running all-in-one with one application.
pub struct Running {
    /// Holds the databases, the secrets and `mail`; removed when dropped.
    pub dir: tempfile::TempDir,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `MAIL_DIR`, where the notifications are written.
    pub mail_dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The application's API key.
    pub key: String,
}

/// Starts the all-in-one with `DATABASE_URL` and `MAIL_DIR` in a new temporary directory
/// plus `env`, and creates the application `app`.
pub async fn start(app: &'static str, env: &[(&'static str, &str)]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/conversations.db", dir.path().display());
    let mail_dir = dir.path().join("mail");
    let mut settings: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.clone()),
        ("MAIL_DIR", mail_dir.display().to_string()),
    ]);
    settings.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let server = AllInOne::start(
        |k| settings.get(k).cloned(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    let store = server.store();
    tokio::spawn(server.run_until_stopped());
    let key = tokio::task::spawn_blocking(move || {
        conversation_api::admin::create_application(&store, app)
    })
    .await
    .unwrap()
    .unwrap()
    .key;
    Running {
        dir,
        database_url,
        mail_dir,
        base,
        key,
    }
}
